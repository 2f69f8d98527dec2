/**
 * The admission checks of SPEC §4 for one cycle: limit counters (the snapshot's plus
 * this cycle's starts), the free GPUs, and the reservation with EASY backfill.
 *
 * Both `decide()` and the full-scan reference use it; they differ only in which
 * candidates they ask about, and in what order.
 */
import { Schema } from "effect"
import { allowedGpus, pickGpus, shadowOf } from "./GpuFit.js"
import { effectiveMaxConcurrent, type QueueConfig } from "./Policy.js"
import type { QueueName, Run, RunId, TeamName, UserName } from "./Run.js"
import { type ActiveRun, activeRunOf, type Snapshot } from "./Snapshot.js"

/**
 * Why a pending run waits (docs/ARCHITECTURE.md "Wait reasons"): the first failing check of
 * SPEC §4, in this order. The one definition: the API's wire type is this schema.
 */
export const WaitReason = Schema.Literal(
  "queue-paused",
  "global-limit",
  "local-job-limit",
  "user-limit",
  "team-limit",
  "queue-limit",
  "queue-run-limit",
  "gpu-limit",
  "gpu-quota",
  "gpu-unavailable",
  "gpu-busy",
  "gpu-reserved"
)
export type WaitReason = typeof WaitReason.Type

/** Reasons that hold back every later candidate too: the cycle stops there. */
export const isStopReason = (reason: WaitReason): boolean => reason === "global-limit" || reason === "local-job-limit"

export interface Start {
  readonly runId: RunId
  readonly gpus: ReadonlyArray<number>
  /** Started ahead of the reservation without delaying it. */
  readonly backfill: boolean
}

export interface Reservation {
  readonly runId: RunId
  readonly gpus: number
  /** The GPUs it may use; later candidates take these only by backfill. */
  readonly allowed: ReadonlyArray<number>
  /** When it is guaranteed its GPUs (from running runs' time limits); null = unknown. */
  readonly shadowAt: number | null
}

const inc = <K>(map: Map<K, number>, key: K, by: number) => map.set(key, (map.get(key) ?? 0) + by)

interface GpuFit {
  readonly gpus: ReadonlyArray<number>
  /** Takes reserved GPUs without delaying the reservation. */
  readonly backfill: boolean
  /** Its time limit ends it by the reservation's shadow time (it frees everything it holds by then). */
  readonly endsByShadow: boolean
}

export class Admission {
  readonly starts: Array<Start> = []
  reservation: Reservation | null = null
  private readonly started: Array<ActiveRun> = []
  private readonly startedIds = new Set<RunId>()
  private readonly userStarts = new Map<UserName, number>()
  private readonly teamStarts = new Map<TeamName, number>()
  private readonly queueStarts = new Map<QueueName, number>()
  private readonly queueTopLevelStarts = new Map<QueueName, number>()
  private readonly queueGpuStarts = new Map<QueueName, number>()
  private gpuStarts = 0
  private startCount = 0
  private readonly usable: ReadonlyArray<number>
  private readonly free: Set<number>
  private readonly isFree = (index: number) => this.free.has(index)
  private readonly globalMax: number
  private readonly teamCapsOn: boolean
  private protect: ReadonlySet<number> | null = null
  private extra = 0

  constructor(private readonly snapshot: Snapshot) {
    this.usable = snapshot.gpus.filter((g) => !g.drained).map((g) => g.index)
    this.free = new Set(snapshot.gpus.filter((g) => !g.drained && g.heldBy === null).map((g) => g.index))
    this.globalMax = effectiveMaxConcurrent(snapshot.policy, snapshot.gpus.length)
    this.teamCapsOn = snapshot.policy.fairShare.mode !== "off" && snapshot.policy.limits.teamMaxConcurrent !== null
  }

  get freeGpus(): number {
    return this.free.size
  }

  hasStarted(id: RunId): boolean {
    return this.startedIds.has(id)
  }

  queue(name: QueueName): QueueConfig | undefined {
    return this.snapshot.queues.get(name)
  }

  /**
   * A check that holds for every run of a queue with GPU needs `needsGpu`: lets decide()
   * skip a whole class at once. null when some run of it might still pass.
   */
  queueCheck(queue: QueueConfig | undefined, needsGpu: boolean): WaitReason | null {
    if (queue === undefined || queue.paused) return "queue-paused"
    const running = this.snapshot.running
    if (queue.maxConcurrent !== null && running.queueCount(queue.name) + (this.queueStarts.get(queue.name) ?? 0) >= queue.maxConcurrent)
      return "queue-limit"
    if (!needsGpu) return null
    if (this.free.size === 0) return this.reservation === null ? "gpu-busy" : "gpu-reserved"
    const limits = this.snapshot.policy.limits
    if (limits.localGpuMaxConcurrent !== null && running.localGpus + this.gpuStarts >= limits.localGpuMaxConcurrent)
      return "gpu-limit"
    if (queue.gpuQuota !== null && running.queueGpus(queue.name) + (this.queueGpuStarts.get(queue.name) ?? 0) >= queue.gpuQuota)
      return "gpu-quota"
    return null
  }

  /** Every count limit of SPEC §4 for one candidate, in a fixed order. */
  countCheck(run: Run): WaitReason | null {
    const running = this.snapshot.running
    const limits = this.snapshot.policy.limits
    const queue = this.snapshot.queues.get(run.queue)
    if (queue === undefined || queue.paused) return "queue-paused"
    if (running.count + this.startCount >= this.globalMax) return "global-limit"
    if (limits.localJobMaxConcurrent !== null && running.localJobs + this.startCount >= limits.localJobMaxConcurrent)
      return "local-job-limit"
    if (limits.userMaxConcurrent !== null && running.userCount(run.user) + (this.userStarts.get(run.user) ?? 0) >= limits.userMaxConcurrent)
      return "user-limit"
    if (
      this.teamCapsOn &&
      run.team !== null &&
      running.teamCount(run.team) + (this.teamStarts.get(run.team) ?? 0) >= limits.teamMaxConcurrent!
    )
      return "team-limit"
    if (queue.maxConcurrent !== null && running.queueCount(run.queue) + (this.queueStarts.get(run.queue) ?? 0) >= queue.maxConcurrent)
      return "queue-limit"
    if (
      run.parentId === null &&
      queue.runConcurrency !== null &&
      running.queueTopLevelCount(run.queue) + (this.queueTopLevelStarts.get(run.queue) ?? 0) >= queue.runConcurrency
    )
      return "queue-run-limit"
    if (run.gpus > 0) {
      if (limits.localGpuMaxConcurrent !== null && running.localGpus + this.gpuStarts + run.gpus > limits.localGpuMaxConcurrent)
        return "gpu-limit"
      if (queue.gpuQuota !== null && running.queueGpus(run.queue) + (this.queueGpuStarts.get(run.queue) ?? 0) + run.gpus > queue.gpuQuota)
        return "gpu-quota"
    }
    return null
  }

  /**
   * GPU fit for a candidate that passed its count checks: the GPUs it would get, or why
   * not. The first candidate that fails only here takes the reservation.
   */
  gpuCheck(run: Run): GpuFit | WaitReason {
    if (run.gpus === 0 && (run.deviceIds === null || run.anyGpu)) return { gpus: [], backfill: false, endsByShadow: false }
    const queue = this.snapshot.queues.get(run.queue)!
    const fit = allowedGpus(run, this.usable, queue.gpuPool)
    if (fit === null) return "gpu-unavailable"
    const pick = pickGpus(run, fit, this.isFree, this.protect)
    if (pick === null) {
      // with no GPU free nothing can start this cycle, so nothing needs protecting
      if (this.reservation === null && this.free.size > 0) {
        const holders = [...this.snapshot.running.values(), ...this.started]
        const shadow = shadowOf(run, fit, this.isFree, holders, this.snapshot.now)
        this.reservation = { runId: run.id, gpus: run.gpus, allowed: fit.allowed, shadowAt: shadow.at }
        this.protect = new Set(fit.allowed)
        this.extra = shadow.extra
      }
      return "gpu-busy"
    }
    if (this.protect === null) return { gpus: pick, backfill: false, endsByShadow: false }
    const shadowAt = this.reservation!.shadowAt
    // SPEC §4: backfill is for runs whose declared (and enforced) time limit ends them in time
    const endsByShadow =
      this.snapshot.policy.backfill && shadowAt !== null && run.timeLimitMs !== null && this.snapshot.now + run.timeLimitMs <= shadowAt
    let taken = 0
    for (const g of pick) if (this.protect.has(g)) taken++
    if (taken === 0) return { gpus: pick, backfill: false, endsByShadow }
    if (!this.snapshot.policy.backfill || shadowAt === null) return "gpu-reserved"
    if (endsByShadow) return { gpus: pick, backfill: true, endsByShadow }
    if (taken <= this.extra) {
      this.extra -= taken
      return { gpus: pick, backfill: true, endsByShadow }
    }
    return "gpu-reserved"
  }

  /**
   * True when the reservation's holder can no longer pass its count checks (a later start
   * took its user's, team's or queue's last slot): the reservation protects nobody this
   * cycle, and the runs it held back must be asked again.
   */
  reservationLapsed(): boolean {
    const holder = this.reservation === null ? undefined : this.snapshot.pending.get(this.reservation.runId)
    return holder !== undefined && this.countCheck(holder.run) !== null
  }

  dropReservation(): void {
    this.reservation = null
    this.protect = null
    this.extra = 0
  }

  /** Full check of one candidate: starts it (in this cycle's books) or returns why not. */
  consider(run: Run): WaitReason | null {
    const reason = this.countCheck(run)
    if (reason !== null) return reason
    const extraBefore = this.extra
    const fit = this.gpuCheck(run)
    if (typeof fit === "string") return fit
    // A reservation protects the holder's count limits too: a later GPU run that takes a slot
    // the holder needs would delay it, even one that ends by the shadow time (the holder cannot
    // start while the slot is taken). 0-GPU runs are exempt (SPEC §4).
    if (run.gpus > 0 && this.reservation !== null && this.wouldBlockHolder(run, fit.gpus)) {
      this.extra = extraBefore
      return "gpu-reserved"
    }
    this.start(run, fit.gpus, fit.backfill)
    return null
  }

  private wouldBlockHolder(run: Run, gpus: ReadonlyArray<number>): boolean {
    const holder = this.snapshot.pending.get(this.reservation!.runId)
    if (holder === undefined) return false
    this.count(run, gpus.length, 1)
    try {
      return this.countCheck(holder.run) !== null
    } finally {
      this.count(run, gpus.length, -1)
    }
  }

  private start(run: Run, gpus: ReadonlyArray<number>, backfill: boolean): void {
    this.starts.push({ runId: run.id, gpus, backfill })
    this.startedIds.add(run.id)
    this.started.push(activeRunOf(run, this.snapshot.now, gpus))
    this.count(run, gpus.length, 1)
    for (const g of gpus) this.free.delete(g)
  }

  /** This cycle's counters for a start (sign 1) or its tentative undo (sign -1). */
  private count(run: Run, gpuCount: number, sign: 1 | -1): void {
    this.startCount += sign
    inc(this.userStarts, run.user, sign)
    if (run.team !== null) inc(this.teamStarts, run.team, sign)
    inc(this.queueStarts, run.queue, sign)
    if (run.parentId === null) inc(this.queueTopLevelStarts, run.queue, sign)
    inc(this.queueGpuStarts, run.queue, sign * gpuCount)
    this.gpuStarts += sign * gpuCount
  }
}
