/**
 * `decide(snapshot)`: one pure scheduling decision (SPEC §3–§5).
 *
 * Walks candidates in SPEC §3 order by merging the pending index's classes at `now`
 * (see PendingIndex.ts), asks `CycleAdmission` about the first run of each lane, and
 * skips whole lanes and classes whose answer is the same for all their runs.
 * Returns the starts with their GPUs, the reservation, and a wait reason for every
 * pending run left waiting. Cost: O(classes + k log k) for k lanes examined.
 *
 * The walk is written for a small fixed cost per cycle, because the simulator decides
 * on every event and most cycles start nothing or one run: no closures, generators or
 * Maps per cycle (wait reasons are kept in arrays and indexed only if `reasonOf` is
 * asked), and the walk ends as soon as nothing left in it can start (below).
 */
import type { Reservation, Start, WaitReason } from "./Admission.js"
import { isStopReason } from "./Admission.js"
import { CycleAdmission } from "./CycleAdmission.js"
import { HeapCursor } from "./Heap.js"
import { usageModeOn } from "./Order.js"
import type { Lane, PendingEntry, PendingIndex, RunClass } from "./PendingIndex.js"
import { agingBoost, type Aging, type QueueConfig } from "./Policy.js"
import type { RunId } from "./Run.js"
import type { Snapshot, UsageView } from "./Snapshot.js"

export interface LaneWait {
  /** The run examined: the lane's first still-waiting run. */
  readonly runId: RunId
  readonly reason: WaitReason
  /** Runs of the lane when examined, all waiting for the same reason. */
  readonly runs: number
}

export interface Decision {
  readonly now: number
  readonly starts: ReadonlyArray<Start>
  readonly reservation: Reservation | null
  /** Every lane examined and left waiting. */
  readonly waits: ReadonlyArray<LaneWait>
  /** The reason of waiting runs that no examined lane or class covers (the walk stopped). */
  readonly otherwise: WaitReason
  /** Candidates (lane heads) examined: the unit of work of a cycle. */
  readonly examined: number
  /**
   * Why a pending run is left waiting, or null if it starts or is not pending.
   * Valid until the pending index changes.
   */
  reasonOf(runId: RunId): WaitReason | null
}

/** A class as this cycle sees it: its queue, and the first reason that dropped it. */
interface ClassView {
  readonly runClass: RunClass
  readonly queue: QueueConfig | undefined
  readonly queuePriority: number
  reason: WaitReason | null
  /** The class check's answer once nothing can start any more (`dropRest`). */
  frozenReason: WaitReason | null
}

/** A candidate in the walk, keyed by SPEC §3 at `now` (Order.ts `precedes`, inlined). */
interface WalkItem {
  readonly view: ClassView
  readonly entry: PendingEntry
  readonly effectivePriority: number
  readonly userUsage: number
  readonly teamUsage: number
  /** Position in the class's lane heap for a class node; -1 for a lane continuation. */
  readonly node: number
  /** For a lane continuation: the rest of the lane, and how many of its runs started. */
  readonly cursor: HeapCursor<PendingEntry> | null
  readonly startedInLane: number
}

const precedes = (a: WalkItem, b: WalkItem): boolean => {
  if (a.view.queuePriority !== b.view.queuePriority) return a.view.queuePriority > b.view.queuePriority
  if (a.effectivePriority !== b.effectivePriority) return a.effectivePriority > b.effectivePriority
  if (a.userUsage !== b.userUsage) return a.userUsage < b.userUsage
  if (a.teamUsage !== b.teamUsage) return a.teamUsage < b.teamUsage
  const ra = a.entry.run
  const rb = b.entry.run
  if (ra.eligibleAt !== rb.eligibleAt) return ra.eligibleAt < rb.eligibleAt
  return ra.seq < rb.seq
}

export const decide = (snapshot: Snapshot): Decision => {
  const walk = new Walk(snapshot)
  walk.run()
  while (walk.admission.reservationLapsed()) {
    walk.admission.dropReservation()
    walk.run()
  }
  return new CycleDecision(snapshot, walk)
}

/** One cycle's walk in §3 order; `run()` again only when the reservation lapsed. */
class Walk {
  readonly admission: CycleAdmission
  readonly views: Array<ClassView> = []
  /** Lanes left waiting by this walk and why, in the order found (a lane appears once). */
  laneReasons: { lanes: Array<Lane>; reasons: Array<WaitReason> } = { lanes: [], reasons: [] }
  waits: Array<LaneWait> = []
  otherwise: WaitReason = "gpu-busy"
  examined = 0
  private heap: Array<WalkItem> = []
  /** Items in the heap whose class needs no GPU: while none is left and no GPU is free, nothing can start. */
  private noGpuItems = 0
  /** Walks so far: in the first, no item's run has started already. */
  private walks = 0
  private readonly now: number
  private readonly aging: Aging | null
  private readonly usage: UsageView | null

  constructor(snapshot: Snapshot) {
    this.admission = new CycleAdmission(snapshot)
    this.now = snapshot.now
    this.aging = snapshot.policy.aging
    this.usage = usageModeOn(snapshot) ? snapshot.usage : null
    for (const runClass of snapshot.pending.classes()) {
      const queue = snapshot.queues.get(runClass.queue)
      this.views.push({ runClass, queue, queuePriority: queue?.priority ?? 0, reason: null, frozenReason: null })
    }
  }

  run(): void {
    const admission = this.admission
    const repeat = ++this.walks > 1
    this.laneReasons = { lanes: [], reasons: [] }
    this.waits = []
    this.otherwise = "gpu-busy"
    this.heap = []
    this.noGpuItems = 0
    for (const view of this.views) {
      view.reason = null
      view.frozenReason = null
      // what `queueCheck(queue, false) === "queue-paused"` asks, without the counts
      if (view.queue === undefined || view.queue.paused) view.reason = "queue-paused"
      else this.push(this.nodeItem(view, 0))
    }
    while (this.heap.length > 0) {
      if (this.nothingCanStart(repeat)) {
        this.dropRest()
        return
      }
      const item = this.pop()
      const { view, entry } = item
      const runClass = view.runClass
      const lane = entry.lane
      const started = repeat && admission.hasStarted(entry.run.id)
      const classReason = started ? null : admission.queueCheck(view.queue, runClass.needsGpu)
      if (classReason !== null) {
        // holds for every run of the class: drop this node's whole subtree, or the lane's rest
        if (item.node >= 0) view.reason ??= classReason
        else this.laneWaits(lane, classReason)
        continue
      }
      if (item.node >= 0) {
        const left = 2 * item.node + 1
        if (left < runClass.lanes.size) this.push(this.nodeItem(view, left))
        if (left + 1 < runClass.lanes.size) this.push(this.nodeItem(view, left + 1))
      }
      if (!started) {
        this.examined++
        const reason = admission.consider(entry.run)
        if (reason !== null) {
          if (isStopReason(reason)) {
            this.otherwise = reason
            return
          }
          this.laneWaits(lane, reason)
          this.waits.push({ runId: entry.run.id, reason, runs: lane.runs.size - item.startedInLane })
          continue
        }
      }
      // started (now or in an earlier walk): the lane's next run competes from its own key
      if (lane.runs.size === item.startedInLane + 1) continue
      if (this.nothingCanStart(repeat) && runClass.needsGpu) {
        // it would only be dropped (dropRest): record that without finding the next run
        this.laneWaits(lane, this.frozenReason(view))
        continue
      }
      let cursor = item.cursor
      if (cursor === null) {
        cursor = new HeapCursor(lane.runs)
        cursor.next() // the run just handled
      }
      const next = cursor.next()
      if (next !== undefined) this.push(this.itemOf(view, next, -1, cursor, item.startedInLane + 1))
    }
  }

  /**
   * Every item left needs a GPU and none is free, so nothing can start any more and each
   * item's class check fails with an answer that no longer changes: record what popping
   * them all in order would record (a class keeps its first reason), without the pops.
   * Only in a first walk, where no item's run has started already. The dispatch benchmark's
   * cycle (64 GPUs, 16 classes) spent about a third of its time popping such items.
   */
  private dropRest(): void {
    for (const item of this.heap) {
      const view = item.view
      if (item.node >= 0) view.reason ??= this.frozenReason(view)
      else this.laneWaits(item.entry.lane, this.frozenReason(view))
    }
    this.heap = []
  }

  /** No GPU is free and every item left needs one (only asked in a first walk, see dropRest). */
  private nothingCanStart(repeat: boolean): boolean {
    return !repeat && this.noGpuItems === 0 && this.admission.freeGpus === 0
  }

  private frozenReason(view: ClassView): WaitReason {
    return (view.frozenReason ??= this.admission.queueCheck(view.queue, true)!)
  }

  private laneWaits(lane: Lane, reason: WaitReason): void {
    this.laneReasons.lanes.push(lane)
    this.laneReasons.reasons.push(reason)
  }

  private nodeItem(view: ClassView, node: number): WalkItem {
    return this.itemOf(view, view.runClass.lanes.at(node).head, node, null, 0)
  }

  private itemOf(view: ClassView, entry: PendingEntry, node: number, cursor: HeapCursor<PendingEntry> | null, startedInLane: number): WalkItem {
    const run = entry.run
    const usage = this.usage
    return {
      view,
      entry,
      effectivePriority: view.runClass.priority + (this.aging === null ? 0 : agingBoost(this.aging, this.now - run.eligibleAt)),
      userUsage: usage === null ? 0 : usage.user(run.user),
      teamUsage: usage === null || run.team === null ? 0 : usage.team(run.team),
      node,
      cursor,
      startedInLane
    }
  }

  private push(item: WalkItem): void {
    if (!item.view.runClass.needsGpu) this.noGpuItems++
    const heap = this.heap
    let i = heap.length
    heap.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!precedes(item, heap[parent]!)) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = item
  }

  private pop(): WalkItem {
    const heap = this.heap
    const top = heap[0]!
    const last = heap.pop()!
    const n = heap.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && precedes(heap[r]!, heap[l]!) ? r : l
        if (!precedes(heap[c]!, last)) break
        heap[i] = heap[c]!
        i = c
      }
      heap[i] = last
    }
    if (!top.view.runClass.needsGpu) this.noGpuItems--
    return top
  }
}

class CycleDecision implements Decision {
  readonly now: number
  readonly starts: ReadonlyArray<Start>
  readonly reservation: Reservation | null
  readonly waits: ReadonlyArray<LaneWait>
  readonly otherwise: WaitReason
  readonly examined: number
  private readonly pending: PendingIndex
  private readonly walk: Walk
  /** Built on the first `reasonOf`: most decisions are never asked. */
  private reasons: { lanes: Map<Lane, WaitReason>; classes: Map<RunClass, WaitReason> } | null = null

  constructor(snapshot: Snapshot, walk: Walk) {
    this.now = snapshot.now
    this.starts = walk.admission.starts
    this.reservation = walk.admission.reservation
    this.waits = walk.waits
    this.otherwise = walk.otherwise
    this.examined = walk.examined
    this.pending = snapshot.pending
    this.walk = walk
  }

  reasonOf(runId: RunId): WaitReason | null {
    const entry = this.pending.get(runId)
    if (entry === undefined || this.walk.admission.hasStarted(runId)) return null
    if (this.reasons === null) {
      const lanes = new Map<Lane, WaitReason>()
      const { lanes: waiting, reasons } = this.walk.laneReasons
      for (let i = 0; i < waiting.length; i++) lanes.set(waiting[i]!, reasons[i]!)
      const classes = new Map<RunClass, WaitReason>()
      for (const view of this.walk.views) if (view.reason !== null) classes.set(view.runClass, view.reason)
      this.reasons = { lanes, classes }
    }
    return this.reasons.lanes.get(entry.lane) ?? this.reasons.classes.get(entry.lane.runClass) ?? this.otherwise
  }
}
