/**
 * The admission checks of SPEC §4 as `decide()` runs them: the same rules, asked in the
 * same order and giving the same answers as `Admission`, with books shaped for one cycle.
 *
 * `Admission` stays the rules written as plainly as possible, for `decideByScan`; the
 * property tests compare `decide()` with `decideByScan()`, so the two implementations
 * check each other. What this one changes, and why (simulator kernel: most cycles start
 * nothing or one run, so a cycle's fixed cost is what counts):
 * - nothing is allocated per cycle that the cycle may not need: this cycle's counts per
 *   user, team and queue are found by scanning the few starts, and kept in Maps only once
 *   there are more than `SCAN_STARTS` of them; the set of started ids exists only for a
 *   second walk;
 * - the GPUs are `CycleGpus`: a free list, O(1) "enough free GPUs?", and no per-GPU Sets.
 */
import type { Reservation, Start, WaitReason } from "./Admission.js"
import { CycleGpus } from "./CycleGpus.js"
import { type AllowedGpus, allowedGpus } from "./GpuFit.js"
import { effectiveMaxConcurrent, type Limits, type QueueConfig } from "./Policy.js"
import type { QueueName, Run, RunId, TeamName, UserName } from "./Run.js"
import { type ActiveRun, activeRunOf, type RunningSet, type Snapshot } from "./Snapshot.js"

interface GpuFit {
  readonly gpus: ReadonlyArray<number>
  /** Takes reserved GPUs without delaying the reservation. */
  readonly backfill: boolean
}

/**
 * Up to this many starts (tentative ones included) the per-name counts are found by
 * scanning them; beyond it, by Maps built then. A cycle rarely starts more, and five Maps
 * per cycle cost more than scanning a handful of runs.
 */
const SCAN_STARTS = 8

const inc = <K>(map: Map<K, number>, key: K, by: number) => map.set(key, (map.get(key) ?? 0) + by)

/** This cycle's counts per name, once there are many starts. */
class NameCounts {
  readonly users = new Map<UserName, number>()
  readonly teams = new Map<TeamName, number>()
  readonly queues = new Map<QueueName, number>()
  readonly queueTopLevel = new Map<QueueName, number>()
  readonly queueGpus = new Map<QueueName, number>()

  add(run: Run, gpuCount: number, sign: 1 | -1): void {
    inc(this.users, run.user, sign)
    if (run.team !== null) inc(this.teams, run.team, sign)
    inc(this.queues, run.queue, sign)
    if (run.parentId === null) inc(this.queueTopLevel, run.queue, sign)
    inc(this.queueGpus, run.queue, sign * gpuCount)
  }
}

export class CycleAdmission {
  readonly starts: Array<Start> = []
  reservation: Reservation | null = null
  /** The run holding the reservation. */
  private reservedRun: Run | null = null
  /** Started runs, in the order of `starts`. */
  private readonly startedRuns: Array<Run> = []
  /** Ids of started runs: built only when a walk repeats (or reasonOf asks), the one time they are looked up. */
  private startedIds: Set<RunId> | null = null
  /** What this cycle's counts hold: the starts, plus one tentative run while a holder is checked. */
  private readonly countedRuns: Array<Run> = []
  private readonly countedGpus: Array<number> = []
  private names: NameCounts | null = null
  private startCount = 0
  private gpuStarts = 0
  private readonly gpus: CycleGpus
  private readonly running: RunningSet
  private readonly limits: Limits
  private readonly queues: ReadonlyMap<QueueName, QueueConfig>
  private readonly globalMax: number
  private readonly teamCapsOn: boolean
  private extra = 0

  constructor(private readonly snapshot: Snapshot) {
    this.gpus = new CycleGpus(snapshot.gpus, snapshot.gpuLists)
    this.running = snapshot.running
    this.limits = snapshot.policy.limits
    this.queues = snapshot.queues
    this.globalMax = effectiveMaxConcurrent(snapshot.policy, snapshot.gpus.length)
    this.teamCapsOn = snapshot.policy.fairShare.mode !== "off" && snapshot.policy.limits.teamMaxConcurrent !== null
  }

  get freeGpus(): number {
    return this.gpus.free.length
  }

  hasStarted(id: RunId): boolean {
    if (this.starts.length === 0) return false
    if (this.startedIds === null) this.startedIds = new Set(this.starts.map((s) => s.runId))
    return this.startedIds.has(id)
  }

  queue(name: QueueName): QueueConfig | undefined {
    return this.queues.get(name)
  }

  /** `Admission.queueCheck`: a check that holds for every run of a queue with GPU needs `needsGpu`. */
  queueCheck(queue: QueueConfig | undefined, needsGpu: boolean): WaitReason | null {
    if (queue === undefined || queue.paused) return "queue-paused"
    const running = this.running
    if (queue.maxConcurrent !== null && running.queueCount(queue.name) + this.queueStarts(queue.name) >= queue.maxConcurrent)
      return "queue-limit"
    if (!needsGpu) return null
    if (this.gpus.free.length === 0) return this.reservation === null ? "gpu-busy" : "gpu-reserved"
    const limits = this.limits
    if (limits.localGpuMaxConcurrent !== null && running.localGpus + this.gpuStarts >= limits.localGpuMaxConcurrent)
      return "gpu-limit"
    if (queue.gpuQuota !== null && running.queueGpus(queue.name) + this.queueGpuStarts(queue.name) >= queue.gpuQuota)
      return "gpu-quota"
    return null
  }

  /** `Admission.countCheck`: every count limit of SPEC §4 for one candidate, in a fixed order. */
  countCheck(run: Run): WaitReason | null {
    const running = this.running
    const limits = this.limits
    const queue = this.queues.get(run.queue)
    if (queue === undefined || queue.paused) return "queue-paused"
    if (running.count + this.startCount >= this.globalMax) return "global-limit"
    if (limits.localJobMaxConcurrent !== null && running.localJobs + this.startCount >= limits.localJobMaxConcurrent)
      return "local-job-limit"
    if (limits.userMaxConcurrent !== null && running.userCount(run.user) + this.userStarts(run.user) >= limits.userMaxConcurrent)
      return "user-limit"
    if (this.teamCapsOn && run.team !== null && running.teamCount(run.team) + this.teamStarts(run.team) >= limits.teamMaxConcurrent!)
      return "team-limit"
    if (queue.maxConcurrent !== null && running.queueCount(run.queue) + this.queueStarts(run.queue) >= queue.maxConcurrent)
      return "queue-limit"
    if (
      run.parentId === null &&
      queue.runConcurrency !== null &&
      running.queueTopLevelCount(run.queue) + this.queueTopLevelStarts(run.queue) >= queue.runConcurrency
    )
      return "queue-run-limit"
    if (run.gpus > 0) {
      if (limits.localGpuMaxConcurrent !== null && running.localGpus + this.gpuStarts + run.gpus > limits.localGpuMaxConcurrent)
        return "gpu-limit"
      if (queue.gpuQuota !== null && running.queueGpus(run.queue) + this.queueGpuStarts(run.queue) + run.gpus > queue.gpuQuota)
        return "gpu-quota"
    }
    return null
  }

  /** `Admission.gpuCheck`: the GPUs a candidate that passed its count checks would get, or why not. */
  gpuCheck(run: Run): GpuFit | WaitReason {
    if (run.gpus === 0 && (run.deviceIds === null || run.anyGpu)) return { gpus: [], backfill: false }
    const queue = this.queues.get(run.queue)!
    const gpus = this.gpus
    // null: every usable GPU (no pool, no device ids), what allowedGpus would list
    let fit: AllowedGpus | null = null
    if (queue.gpuPool === null && run.deviceIds === null) {
      if (gpus.usableCount < run.gpus) return "gpu-unavailable"
    } else {
      fit = allowedGpus(run, gpus.usable(), queue.gpuPool)
      if (fit === null) return "gpu-unavailable"
    }
    const pick = gpus.pick(run, fit)
    if (pick === null) {
      // with no GPU free nothing can start this cycle, so nothing needs protecting
      if (this.reservation === null && gpus.free.length > 0) {
        const shadow = gpus.shadow(run, fit, this.running, this.startedHolders(), this.snapshot.now)
        this.reservation = { runId: run.id, gpus: run.gpus, allowed: gpus.allowedOf(fit), shadowAt: shadow.at }
        this.reservedRun = run
        gpus.protectFor(fit)
        this.extra = shadow.extra
      }
      return "gpu-busy"
    }
    if (this.reservation === null) return { gpus: pick, backfill: false }
    const shadowAt = this.reservation!.shadowAt
    const backfillOn = this.snapshot.policy.backfill
    // SPEC §4: backfill is for runs whose declared (and enforced) time limit ends them in time
    const endsByShadow = backfillOn && shadowAt !== null && run.timeLimitMs !== null && this.snapshot.now + run.timeLimitMs <= shadowAt
    let taken = 0
    for (const g of pick) if (gpus.isProtected(g)) taken++
    if (taken === 0) return { gpus: pick, backfill: false }
    if (!backfillOn || shadowAt === null) return "gpu-reserved"
    if (endsByShadow) return { gpus: pick, backfill: true }
    if (taken <= this.extra) {
      this.extra -= taken
      return { gpus: pick, backfill: true }
    }
    return "gpu-reserved"
  }

  /** `Admission.reservationLapsed`: the holder can no longer pass its count checks. */
  reservationLapsed(): boolean {
    return this.reservedRun !== null && this.countCheck(this.reservedRun) !== null
  }

  dropReservation(): void {
    this.reservation = null
    this.reservedRun = null
    this.gpus.unprotect()
    this.extra = 0
  }

  /** `Admission.consider`: starts one candidate (in this cycle's books) or returns why not. */
  consider(run: Run): WaitReason | null {
    const reason = this.countCheck(run)
    if (reason !== null) return reason
    const extraBefore = this.extra
    const fit = this.gpuCheck(run)
    if (typeof fit === "string") return fit
    // A reservation protects the holder's count limits too (see Admission.consider).
    if (run.gpus > 0 && this.reservedRun !== null && this.wouldBlockHolder(run, fit.gpus.length)) {
      this.extra = extraBefore
      return "gpu-reserved"
    }
    this.start(run, fit.gpus, fit.backfill)
    return null
  }

  private wouldBlockHolder(run: Run, gpuCount: number): boolean {
    this.count(run, gpuCount, 1)
    try {
      return this.countCheck(this.reservedRun!) !== null
    } finally {
      this.count(run, gpuCount, -1)
    }
  }

  private start(run: Run, gpus: ReadonlyArray<number>, backfill: boolean): void {
    this.starts.push({ runId: run.id, gpus, backfill })
    this.startedRuns.push(run)
    this.startedIds?.add(run.id)
    this.count(run, gpus.length, 1)
    this.gpus.take(gpus)
  }

  /** This cycle's counters for a start (sign 1) or the undo (sign -1) of the last one. */
  private count(run: Run, gpuCount: number, sign: 1 | -1): void {
    this.startCount += sign
    this.gpuStarts += sign * gpuCount
    if (sign === 1) {
      this.countedRuns.push(run)
      this.countedGpus.push(gpuCount)
    } else {
      this.countedRuns.pop()
      this.countedGpus.pop()
    }
    if (this.names !== null) this.names.add(run, gpuCount, sign)
    else if (this.countedRuns.length > SCAN_STARTS) {
      this.names = new NameCounts()
      for (let i = 0; i < this.countedRuns.length; i++) this.names.add(this.countedRuns[i]!, this.countedGpus[i]!, 1)
    }
  }

  private userStarts(user: UserName): number {
    if (this.names !== null) return this.names.users.get(user) ?? 0
    let n = 0
    for (const r of this.countedRuns) if (r.user === user) n++
    return n
  }

  private teamStarts(team: TeamName): number {
    if (this.names !== null) return this.names.teams.get(team) ?? 0
    let n = 0
    for (const r of this.countedRuns) if (r.team === team) n++
    return n
  }

  private queueStarts(queue: QueueName): number {
    if (this.names !== null) return this.names.queues.get(queue) ?? 0
    let n = 0
    for (const r of this.countedRuns) if (r.queue === queue) n++
    return n
  }

  private queueTopLevelStarts(queue: QueueName): number {
    if (this.names !== null) return this.names.queueTopLevel.get(queue) ?? 0
    let n = 0
    for (const r of this.countedRuns) if (r.queue === queue && r.parentId === null) n++
    return n
  }

  private queueGpuStarts(queue: QueueName): number {
    if (this.names !== null) return this.names.queueGpus.get(queue) ?? 0
    let n = 0
    for (let i = 0; i < this.countedRuns.length; i++) if (this.countedRuns[i]!.queue === queue) n += this.countedGpus[i]!
    return n
  }

  /** This cycle's starts as GPU holders, for the shadow time (with the running runs). */
  private startedHolders(): Array<ActiveRun> {
    const now = this.snapshot.now
    const holders: Array<ActiveRun> = []
    for (let i = 0; i < this.startedRuns.length; i++) holders.push(activeRunOf(this.startedRuns[i]!, now, this.starts[i]!.gpus))
    return holders
  }
}
