/**
 * The immutable view `decide()` reads: time, policy, queues, GPUs, the running set
 * with a counter for every limit of SPEC §4, and the pending index.
 *
 * The engine owns `RunningSet` and `PendingIndex` and changes them only between
 * cycles; decide() never writes to them.
 */
import { ChurnMap } from "./ChurnMap.js"
import type { GpuListsView } from "./GpuLists.js"
import type { PendingIndex } from "./PendingIndex.js"
import type { Policy, QueueConfig } from "./Policy.js"
import type { QueueName, Run, RunId, TeamName, UserName } from "./Run.js"

/** A run that holds resources (status running or stopping). */
export interface ActiveRun {
  readonly id: RunId
  readonly user: UserName
  readonly team: TeamName | null
  readonly queue: QueueName
  readonly gpus: ReadonlyArray<number>
  readonly isChild: boolean
  readonly startedAt: number
  /**
   * The latest time it can still be running, from its timeLimit and, once stopping, the
   * kill grace; null when nothing bounds it. Reservations use it. Deadlines are left out
   * on purpose: SPEC §4 computes a reservation from time limits, and backfill eligibility
   * uses the same bound, so a cycle's answer does not change in the next one.
   */
  readonly endBy: number | null
}

export const activeRunOf = (run: Run, startedAt: number, gpus: ReadonlyArray<number>): ActiveRun => ({
  id: run.id,
  user: run.user,
  team: run.team,
  queue: run.queue,
  gpus,
  isChild: run.parentId !== null,
  startedAt,
  endBy: run.timeLimitMs === null ? null : startedAt + run.timeLimitMs
})

export const minOrNull = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.min(a, b)

const bump = <K>(map: Map<K, number>, key: K, delta: number): void => {
  const next = (map.get(key) ?? 0) + delta
  if (next === 0) map.delete(key)
  else map.set(key, next)
}

/** A queue's counters; one record per queue, so a start or an end looks the queue up once. */
interface QueueCounts {
  runs: number
  topLevel: number
  gpus: number
}

/** Active runs with the counters every limit needs, kept up to date incrementally. */
export class RunningSet {
  /** A ChurnMap: active runs come and go by the million (ChurnMap.ts). */
  private readonly byId = new ChurnMap<RunId, ActiveRun>()
  private readonly perUser = new Map<UserName, number>()
  private readonly perTeam = new Map<TeamName, number>()
  private readonly perQueue = new Map<QueueName, QueueCounts>()
  private gpusHeldCount = 0
  /**
   * The runs with an end bound, ascending by it (equal bounds in the order added): the
   * reservation's shadow time walks them from the earliest until enough GPUs are free,
   * instead of copying and sorting every active run (CycleGpus.shadow).
   */
  private readonly boundedList: Array<ActiveRun> = []

  get count(): number {
    return this.byId.size
  }
  get gpusHeld(): number {
    return this.gpusHeldCount
  }
  /** Every run is on the local worker until remote workers exist (SPEC §9). */
  get localJobs(): number {
    return this.byId.size
  }
  get localGpus(): number {
    return this.gpusHeldCount
  }
  userCount(user: UserName): number {
    return this.perUser.get(user) ?? 0
  }
  teamCount(team: TeamName): number {
    return this.perTeam.get(team) ?? 0
  }
  queueCount(queue: QueueName): number {
    return this.perQueue.get(queue)?.runs ?? 0
  }
  queueTopLevelCount(queue: QueueName): number {
    return this.perQueue.get(queue)?.topLevel ?? 0
  }
  queueGpus(queue: QueueName): number {
    return this.perQueue.get(queue)?.gpus ?? 0
  }
  get(id: RunId): ActiveRun | undefined {
    return this.byId.get(id)
  }
  values(): IterableIterator<ActiveRun> {
    return this.byId.values()
  }
  /** The runs whose `endBy` is not null, ascending by it. */
  bounded(): ReadonlyArray<ActiveRun> {
    return this.boundedList
  }

  add(run: ActiveRun): void {
    if (this.byId.has(run.id)) throw new Error(`RunningSet.add: run ${run.id} is already active`)
    this.byId.set(run.id, run)
    this.apply(run, 1)
    this.addBounded(run)
  }

  /** Replaces a run's record (e.g. a tighter endBy once it is stopping); counters unchanged. */
  replace(run: ActiveRun): void {
    const old = this.byId.get(run.id)
    if (old === undefined) throw new Error(`RunningSet.replace: run ${run.id} is not active`)
    this.byId.set(run.id, run)
    this.removeBounded(old)
    this.addBounded(run)
  }

  remove(id: RunId): ActiveRun | undefined {
    const run = this.byId.get(id)
    if (run === undefined) return undefined
    this.byId.delete(id)
    this.apply(run, -1)
    this.removeBounded(run)
    return run
  }

  /** The first position in `boundedList` whose endBy is above `endBy` (`after`) or not below it. */
  private boundOf(endBy: number, after: boolean): number {
    const list = this.boundedList
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const e = list[mid]!.endBy!
      if (e < endBy || (after && e === endBy)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private addBounded(run: ActiveRun): void {
    if (run.endBy !== null) this.boundedList.splice(this.boundOf(run.endBy, true), 0, run)
  }

  private removeBounded(run: ActiveRun): void {
    if (run.endBy === null) return
    const list = this.boundedList
    for (let i = this.boundOf(run.endBy, false); i < list.length && list[i]!.endBy === run.endBy; i++) {
      if (list[i] === run) {
        list.splice(i, 1)
        return
      }
    }
  }

  private apply(run: ActiveRun, sign: 1 | -1): void {
    bump(this.perUser, run.user, sign)
    if (run.team !== null) bump(this.perTeam, run.team, sign)
    let queue = this.perQueue.get(run.queue)
    if (queue === undefined) {
      queue = { runs: 0, topLevel: 0, gpus: 0 }
      this.perQueue.set(run.queue, queue)
    }
    queue.runs += sign
    if (!run.isChild) queue.topLevel += sign
    queue.gpus += sign * run.gpus.length
    if (queue.runs === 0) this.perQueue.delete(run.queue)
    this.gpusHeldCount += sign * run.gpus.length
  }
}

export interface GpuView {
  readonly index: number
  readonly drained: boolean
  /** The run holding it, or null when free. */
  readonly heldBy: RunId | null
}

/** Decayed GPU-seconds per user and team, for fair-share `usage` mode (SPEC §3). */
export interface UsageView {
  user(user: UserName): number
  team(team: TeamName): number
}

export interface Snapshot {
  readonly now: number
  readonly policy: Policy
  readonly queues: ReadonlyMap<QueueName, QueueConfig>
  /** Every GPU of the machine, ascending by index. */
  readonly gpus: ReadonlyArray<GpuView>
  /**
   * Optional: the free and undrained GPUs of `gpus` as ascending index lists, kept by the
   * caller as the views change (the engine's kernel, `GpuLists`). When present they must
   * equal what `gpuListsOf(gpus)` derives; when absent decide() derives them from `gpus`.
   * Why: deriving them from every view on every cycle was most of decide()'s time in the
   * Philly replay (512 GPUs).
   */
  readonly gpuLists?: GpuListsView | undefined
  readonly running: RunningSet
  readonly pending: PendingIndex
  readonly usage: UsageView | null
}
