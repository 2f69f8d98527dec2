/**
 * The index of pending runs that `decide()` reads. Never a scanned array.
 *
 * Runs are grouped in two levels:
 *
 * - a **lane** holds runs of one *shape*: same queue, user, team, base priority,
 *   GPU count, device ids, time limit and top-level/child flag. Every admission check
 *   of SPEC §4 gives the same answer for every run of a lane, so when a lane's first
 *   run cannot start, none of the lane can: decide() looks at one run per lane.
 *   Inside a lane runs are ordered by (eligibleAt, seq).
 * - a **class** holds the lanes of one queue and one base priority (and, in fair-share
 *   `usage` mode, one user). Within a class the SPEC §3 order equals (eligibleAt, seq):
 *   queue priority and base priority are equal by construction, the aging boost only
 *   grows with waiting time, and usage is per user. So a class keeps its lanes in a
 *   heap with a *static* key, and decide() merges the few class heads at `now`.
 *
 * Adding or removing a run is O(log n); decide() pays O(classes + k log k) for the
 * k lanes it examines.
 */
import { ChurnMap } from "./ChurnMap.js"
import { type HeapSlot, IndexedHeap } from "./Heap.js"
import type { QueueName, Run, RunId, TeamName, UserName } from "./Run.js"

export interface PendingEntry extends HeapSlot {
  readonly run: Run
  readonly lane: Lane
}

const byEligibility = (a: PendingEntry, b: PendingEntry): boolean =>
  a.run.eligibleAt < b.run.eligibleAt || (a.run.eligibleAt === b.run.eligibleAt && a.run.seq < b.run.seq)

export class Lane implements HeapSlot {
  heapIndex = -1
  readonly runs = new IndexedHeap<PendingEntry>(byEligibility)
  readonly queue: QueueName
  readonly user: UserName
  readonly team: TeamName | null
  readonly gpus: number
  readonly deviceIds: ReadonlyArray<number> | null
  readonly anyGpu: boolean
  readonly timeLimitMs: number | null
  readonly isChild: boolean

  constructor(
    readonly key: string,
    readonly runClass: RunClass,
    run: Run
  ) {
    this.queue = run.queue
    this.user = run.user
    this.team = run.team
    this.gpus = run.gpus
    this.deviceIds = run.deviceIds
    this.anyGpu = run.anyGpu
    this.timeLimitMs = run.timeLimitMs
    this.isChild = run.parentId !== null
  }

  /** The lane's first run. A lane in the index is never empty. */
  get head(): PendingEntry {
    return this.runs.peek()!
  }
}

const byHead = (a: Lane, b: Lane): boolean => byEligibility(a.head, b.head)

export class RunClass implements HeapSlot {
  heapIndex = -1
  readonly lanes = new IndexedHeap<Lane>(byHead)
  constructor(
    readonly key: string,
    readonly queue: QueueName,
    /** `override ?? base`: the effective priority before aging. */
    readonly priority: number,
    readonly needsGpu: boolean,
    /** The user of every run in this class in fair-share usage mode (one team too), else null. */
    readonly user: UserName | null
  ) {}
}

export const classPriorityOf = (run: Run): number => run.priorityOverride ?? run.basePriority

const SEP = "\u0000"

/**
 * The lane's key: its shape's fields joined by SEP. A template literal, not an array's
 * join: it is computed for every add, and the array was ~5% of the simulator kernel.
 */
const laneKeyOf = (run: Run): string =>
  `${run.queue}${SEP}${run.user}${SEP}${run.team ?? ""}${SEP}${classPriorityOf(run)}${SEP}${run.gpus}${SEP}${
    run.deviceIds === null ? "*" : `[${run.deviceIds.join(",")}]`
  }${SEP}${run.anyGpu ? 1 : 0}${SEP}${run.timeLimitMs ?? ""}${SEP}${run.parentId === null ? 0 : 1}`

export class PendingIndex {
  // ChurnMaps: runs, and with them lanes and classes, come and go by the million (ChurnMap.ts)
  private readonly entries = new ChurnMap<RunId, PendingEntry>()
  private readonly laneByKey = new ChurnMap<string, Lane>()
  private readonly classByKey = new ChurnMap<string, RunClass>()
  /** The classes in the order made, for decide()'s walk every cycle (a plain array walks fastest). */
  private readonly classList: Array<RunClass> = []
  private perUserClasses: boolean

  /** @param perUserClasses true in fair-share `usage` mode (a class per user). */
  constructor(perUserClasses = false) {
    this.perUserClasses = perUserClasses
  }

  get size(): number {
    return this.entries.size
  }

  get usesPerUserClasses(): boolean {
    return this.perUserClasses
  }

  has(id: RunId): boolean {
    return this.entries.has(id)
  }

  get(id: RunId): PendingEntry | undefined {
    return this.entries.get(id)
  }

  /** The classes with at least one pending run. */
  classes(): IterableIterator<RunClass> {
    return this.classList.values()
  }

  /** Every pending run, in no particular order. */
  *runs(): Generator<Run> {
    for (const entry of this.entries.values()) yield entry.run
  }

  add(run: Run): void {
    if (this.entries.has(run.id)) throw new Error(`PendingIndex.add: run ${run.id} is already pending`)
    const laneKey = laneKeyOf(run)
    let lane = this.laneByKey.get(laneKey)
    if (lane === undefined) {
      const runClass = this.classFor(run)
      lane = new Lane(laneKey, runClass, run)
      this.laneByKey.set(laneKey, lane)
      const entry: PendingEntry = { heapIndex: -1, run, lane }
      lane.runs.push(entry)
      runClass.lanes.push(lane)
      this.entries.set(run.id, entry)
      return
    }
    const entry: PendingEntry = { heapIndex: -1, run, lane }
    const headBefore = lane.head
    lane.runs.push(entry)
    if (lane.head !== headBefore) lane.runClass.lanes.update(lane)
    this.entries.set(run.id, entry)
  }

  /** Removes a run; returns it, or undefined if it was not pending. */
  remove(id: RunId): Run | undefined {
    const entry = this.entries.get(id)
    if (entry === undefined) return undefined
    this.entries.delete(id)
    const lane = entry.lane
    const wasHead = lane.head === entry
    lane.runs.remove(entry)
    const runClass = lane.runClass
    if (lane.runs.size === 0) {
      runClass.lanes.remove(lane)
      this.laneByKey.delete(lane.key)
      if (runClass.lanes.size === 0) {
        this.classByKey.delete(runClass.key)
        this.classList.splice(this.classList.indexOf(runClass), 1)
      }
    } else if (wasHead) {
      runClass.lanes.update(lane)
    }
    return entry.run
  }

  /** Switches between shared and per-user classes (fair-share mode change): O(n), rare. */
  regroup(perUserClasses: boolean): void {
    if (perUserClasses === this.perUserClasses) return
    const all = [...this.runs()]
    this.entries.clear()
    this.laneByKey.clear()
    this.classByKey.clear()
    this.classList.length = 0
    this.perUserClasses = perUserClasses
    for (const run of all) this.add(run)
  }

  private classFor(run: Run): RunClass {
    const priority = classPriorityOf(run)
    const needsGpu = run.gpus > 0
    const user = this.perUserClasses ? run.user : null
    // in usage mode a class is one user of one team, so its usage keys are constant
    const key = `${run.queue}${SEP}${priority}${SEP}${needsGpu ? 1 : 0}${SEP}${user ?? ""}${SEP}${user === null ? "" : (run.team ?? "")}`
    let runClass = this.classByKey.get(key)
    if (runClass === undefined) {
      runClass = new RunClass(key, run.queue, priority, needsGpu, user)
      this.classByKey.set(key, runClass)
      this.classList.push(runClass)
    }
    return runClass
  }
}
