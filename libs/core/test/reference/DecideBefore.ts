/**
 * A frozen copy of `decide()` as it was before its walk was tuned for a small per-cycle
 * cost (git 7bdf7f2), over the plain `Admission`: the oracle for what `decideByScan` does not
 * compute (wait reasons, `waits`, `otherwise`, `examined`). Do not optimize this file.
 *
 * The original doc:
 * `decide(snapshot)`: one pure scheduling decision (SPEC §3–§5).
 *
 * Walks candidates in SPEC §3 order by merging the pending index's classes at `now`
 * (see PendingIndex.ts), asks `Admission` about the first run of each lane, and
 * skips whole lanes and classes whose answer is the same for all their runs.
 * Returns the starts with their GPUs, the reservation, and a wait reason for every
 * pending run left waiting. Cost: O(classes + k log k) for k lanes examined.
 */
import { Admission, isStopReason, type Reservation, type Start, type WaitReason } from "../../src/Admission.js"
import { BinaryHeap } from "../../src/Heap.js"
import { type OrderKey, precedes, usageModeOn } from "../../src/Order.js"
import type { Lane, PendingEntry, RunClass } from "../../src/PendingIndex.js"
import { agingBoost } from "../../src/Policy.js"
import type { RunId } from "../../src/Run.js"
import type { Snapshot } from "../../src/Snapshot.js"

interface LaneWait {
  /** The run examined: the lane's first still-waiting run. */
  readonly runId: RunId
  readonly reason: WaitReason
  /** Runs of the lane when examined, all waiting for the same reason. */
  readonly runs: number
}

interface Decision {
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

interface WalkItem extends OrderKey {
  readonly entry: PendingEntry
  readonly runClass: RunClass
  /** Position in the class's lane heap for a class node; -1 for a lane continuation. */
  readonly node: number
  readonly cursor: Generator<PendingEntry> | null
}

const itemPrecedes = (a: WalkItem, b: WalkItem): boolean => precedes(a, b)

export const decideBefore = (snapshot: Snapshot): Decision => {
  const { now, pending } = snapshot
  const aging = snapshot.policy.aging
  const usage = usageModeOn(snapshot) ? snapshot.usage : null
  const admission = new Admission(snapshot)
  let laneReasons = new Map<Lane, WaitReason>()
  let classReasons = new Map<RunClass, WaitReason>()
  let waits: Array<LaneWait> = []
  let otherwise: WaitReason = "gpu-busy"
  let examined = 0

  const itemOf = (runClass: RunClass, entry: PendingEntry, node: number, cursor: Generator<PendingEntry> | null): WalkItem => {
    const run = entry.run
    return {
      queuePriority: snapshot.queues.get(runClass.queue)?.priority ?? 0,
      effectivePriority: runClass.priority + agingBoost(aging, now - run.eligibleAt),
      userUsage: usage === null ? 0 : usage.user(run.user),
      teamUsage: usage === null || run.team === null ? 0 : usage.team(run.team),
      eligibleAt: run.eligibleAt,
      seq: run.seq,
      entry,
      runClass,
      node,
      cursor
    }
  }
  const nodeItem = (runClass: RunClass, node: number): WalkItem =>
    itemOf(runClass, runClass.lanes.at(node).head, node, null)

  /** One walk in §3 order; a second one only follows when the reservation lapsed. */
  const walkOnce = () => {
    laneReasons = new Map()
    classReasons = new Map()
    waits = []
    otherwise = "gpu-busy"
    const startedInLane = new Map<Lane, number>()
    const walk = new BinaryHeap<WalkItem>(itemPrecedes)
    for (const runClass of pending.classes()) {
      const paused = admission.queueCheck(admission.queue(runClass.queue), false)
      if (paused === "queue-paused") classReasons.set(runClass, paused)
      else walk.push(nodeItem(runClass, 0))
    }
    while (walk.size > 0) {
      const item = walk.pop()!
      const { runClass, entry } = item
      const lane = entry.lane
      const classReason = admission.hasStarted(entry.run.id) ? null : admission.queueCheck(admission.queue(runClass.queue), runClass.needsGpu)
      if (classReason !== null) {
        // holds for every run of the class: drop this node's whole subtree, or the lane's rest
        if (item.node >= 0) {
          if (!classReasons.has(runClass)) classReasons.set(runClass, classReason)
        } else laneReasons.set(lane, classReason)
        continue
      }
      if (item.node >= 0) {
        const lanes = runClass.lanes
        const left = 2 * item.node + 1
        if (left < lanes.size) walk.push(nodeItem(runClass, left))
        if (left + 1 < lanes.size) walk.push(nodeItem(runClass, left + 1))
      }
      if (!admission.hasStarted(entry.run.id)) {
        examined++
        const reason = admission.consider(entry.run)
        if (reason !== null) {
          if (isStopReason(reason)) {
            otherwise = reason
            return
          }
          laneReasons.set(lane, reason)
          waits.push({ runId: entry.run.id, reason, runs: lane.runs.size - (startedInLane.get(lane) ?? 0) })
          continue
        }
      }
      // started (now or in an earlier walk): the lane's next run competes from its own key
      startedInLane.set(lane, (startedInLane.get(lane) ?? 0) + 1)
      const cursor = item.cursor ?? skipFirst(lane.runs.inOrder())
      const next = cursor.next()
      if (!next.done) walk.push(itemOf(runClass, next.value, -1, cursor))
    }
  }

  walkOnce()
  while (admission.reservationLapsed()) {
    admission.dropReservation()
    walkOnce()
  }

  const reservation = admission.reservation
  return {
    now,
    starts: admission.starts,
    reservation,
    waits,
    otherwise,
    examined,
    reasonOf: (runId) => {
      const entry = pending.get(runId)
      if (entry === undefined || admission.hasStarted(runId)) return null
      return laneReasons.get(entry.lane) ?? classReasons.get(entry.lane.runClass) ?? otherwise
    }
  }
}

const skipFirst = <T>(iterator: Generator<T>): Generator<T> => {
  iterator.next()
  return iterator
}
