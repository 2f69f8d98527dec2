/**
 * The engine-independent workload model and seeded generators.
 *
 * A workload is a list of jobs in arrival order, each with everything the simulator needs to
 * play it: when it is submitted, how long it runs once started, how it exits, and the
 * operator actions that target it (approval decision, cancel). Times are integer milliseconds.
 *
 * Each attribute family is drawn from its own `fork` of the seed ("arrivals", "durations",
 * ...), so changing, say, `failureProbability` does not shift the arrival times or durations.
 */
import { makePrng, type Prng } from "./Prng.js"

export type Level = "admin" | "lead" | "researcher" | "viewer"

export interface WorkloadJob {
  readonly id: string // stable, "j000001"
  readonly arrivalMs: number // simulated submission time, ms from 0, non-decreasing over the array
  readonly durationMs: number // how long the run runs once started (>= 1)
  readonly exitCode: number // 0 = success
  readonly user: string
  readonly team?: string
  readonly project?: string
  readonly level: Level
  readonly queue?: string
  readonly gpus: number // >= 0
  readonly deviceIds?: ReadonlyArray<number> // these GPUs only (unless anyGpu)
  readonly anyGpu?: boolean
  readonly timeLimitMs?: number
  readonly maxQueuedTimeMs?: number
  readonly deadlineMs?: number // relative to arrival
  readonly requiresApproval?: boolean
  readonly decision?: { readonly atMs: number /* after arrival */; readonly approve: boolean }
  readonly cancelAfterMs?: number // a cancel sent this long after arrival
  readonly maxAttempts?: number
  /**
   * A replay that keeps a history's end instants: the run ends at this instant (ms from 0)
   * whenever it started before it (at least 1 ms after its start), instead of `durationMs`
   * after its start. Only for comparing a replay with what happened (Fidelity.ts).
   */
  readonly endAtMs?: number
}

export interface Workload {
  readonly name: string
  readonly jobs: ReadonlyArray<WorkloadJob>
  readonly description: string
}

export interface GenerateOptions {
  readonly seed: number
  readonly jobs: number
  /** Rate of arrival events (Poisson); a burst counts as one arrival event. */
  readonly arrivalRatePerHour: number
  readonly burstProbability?: number
  /** Inclusive range of a burst's size; default [2, 8]. */
  readonly burstSize?: readonly [number, number]
  readonly users: number
  /** 0 = jobs carry no team. User i belongs to team (i mod teams). */
  readonly teams: number
  /** Weights of the levels, sampled once per user; default all "researcher". */
  readonly levels?: ReadonlyArray<readonly [Level, number]>
  /** Queues, chosen uniformly per job; absent = jobs name no queue. */
  readonly queues?: ReadonlyArray<string>
  readonly gpuMix: ReadonlyArray<readonly [number, number]>
  readonly durationMedianMs: number
  readonly durationSigma: number
  readonly maxDurationMs?: number
  readonly timeLimitProbability?: number
  readonly overrunProbability?: number
  readonly failureProbability?: number
  readonly approvalProbability?: number
  readonly rejectProbability?: number
  /** Mean of the exponential delay between arrival and the approval decision; default 15 min. */
  readonly approvalDelayMeanMs?: number
  readonly cancelProbability?: number
  readonly maxQueuedTimeProbability?: number
  readonly deadlineProbability?: number
  readonly maxAttempts?: number
  /** Workload name; default "synthetic-s<seed>-n<jobs>". */
  readonly name?: string
}

const fail = (message: string): never => {
  throw new RangeError(`generateWorkload: ${message}`)
}

const checkInt = (name: string, x: number, min: number): void => {
  if (!Number.isSafeInteger(x) || x < min) fail(`${name} must be an integer >= ${min}, got ${x}`)
}

const checkProbability = (name: string, p: number | undefined): void => {
  if (p !== undefined && !(p >= 0 && p <= 1)) fail(`${name} must be a probability in [0, 1], got ${p}`)
}

const checkWeights = (name: string, items: ReadonlyArray<readonly [unknown, number]>): void => {
  if (items.length === 0) fail(`${name} must not be empty`)
  let total = 0
  for (const [, w] of items) {
    if (!Number.isFinite(w) || w < 0) fail(`${name} weights must be finite and >= 0, got ${w}`)
    total += w
  }
  if (total <= 0) fail(`${name} weights must not all be 0`)
}

const LEVELS: ReadonlyArray<Level> = ["admin", "lead", "researcher", "viewer"]

const validate = (o: GenerateOptions): void => {
  checkInt("seed", o.seed, Number.MIN_SAFE_INTEGER)
  checkInt("jobs", o.jobs, 0)
  if (!Number.isFinite(o.arrivalRatePerHour) || o.arrivalRatePerHour <= 0) {
    fail(`arrivalRatePerHour must be a finite number > 0, got ${o.arrivalRatePerHour}`)
  }
  checkProbability("burstProbability", o.burstProbability)
  if (o.burstSize !== undefined) {
    const [lo, hi] = o.burstSize
    checkInt("burstSize[0]", lo, 1)
    checkInt("burstSize[1]", hi, lo)
  }
  checkInt("users", o.users, 1)
  checkInt("teams", o.teams, 0)
  if (o.levels !== undefined) {
    checkWeights("levels", o.levels)
    for (const [l] of o.levels) if (!LEVELS.includes(l)) fail(`unknown level ${JSON.stringify(l)}`)
  }
  if (o.queues !== undefined) {
    if (o.queues.length === 0) fail("queues, when given, must not be empty")
    for (const q of o.queues) if (typeof q !== "string" || q === "") fail("queue names must be non-empty strings")
  }
  checkWeights("gpuMix", o.gpuMix)
  for (const [g] of o.gpuMix) checkInt("gpuMix gpus", g, 0)
  if (!Number.isFinite(o.durationMedianMs) || o.durationMedianMs <= 0) {
    fail(`durationMedianMs must be a finite number > 0, got ${o.durationMedianMs}`)
  }
  if (!Number.isFinite(o.durationSigma) || o.durationSigma < 0) {
    fail(`durationSigma must be a finite number >= 0, got ${o.durationSigma}`)
  }
  if (o.maxDurationMs !== undefined) checkInt("maxDurationMs", o.maxDurationMs, 1)
  for (const key of [
    "timeLimitProbability", "overrunProbability", "failureProbability", "approvalProbability",
    "rejectProbability", "cancelProbability", "maxQueuedTimeProbability", "deadlineProbability"
  ] as const) checkProbability(key, o[key])
  if (o.approvalDelayMeanMs !== undefined && !(Number.isFinite(o.approvalDelayMeanMs) && o.approvalDelayMeanMs > 0)) {
    fail(`approvalDelayMeanMs must be a finite number > 0, got ${o.approvalDelayMeanMs}`)
  }
  if (o.maxAttempts !== undefined) checkInt("maxAttempts", o.maxAttempts, 1)
}

const pad = (n: number, width: number): string => String(n).padStart(width, "0")
export const jobId = (index0: number): string => `j${pad(index0 + 1, 6)}`
export const userName = (index0: number): string => `u${pad(index0 + 1, 3)}`
export const teamName = (index0: number): string => `t${pad(index0 + 1, 2)}`

/**
 * Arrival times of `count` jobs: Poisson arrival events with mean gap `meanGapMs`; each event
 * is, with `burstProbability`, a burst of U{burstSize} jobs at the same instant. Cumulative
 * real time is rounded to whole ms, so arrivals are integers and never decrease.
 */
const poissonArrivals = (
  rng: Prng, count: number, meanGapMs: number, burstProbability: number, burstSize: readonly [number, number]
): Array<number> => {
  const out: Array<number> = []
  let t = 0
  while (out.length < count) {
    t += rng.exponential(meanGapMs)
    const size = burstProbability > 0 && rng.chance(burstProbability) ? rng.int(burstSize[0], burstSize[1]) : 1
    const at = Math.round(t)
    for (let k = 0; k < size && out.length < count; k++) out.push(at)
  }
  return out
}

/**
 * A synthetic workload. Per job:
 * - duration: lognormal with median `durationMedianMs` and `durationSigma`, capped at
 *   `maxDurationMs`, rounded, at least 1 ms;
 * - time limit (with `timeLimitProbability`): ceil(duration × U(1, 2)), at least duration + 1;
 *   or, with `overrunProbability`, floor(duration × U(0.5, 0.95)) so the limit kills it
 *   (only for durations >= 2 ms, so that the limit stays >= 1);
 * - maxQueuedTime (with its probability): ceil(durationMedianMs × U(0.5, 5));
 * - deadline (with its probability): ceil(duration × U(1.1, 3)) after arrival;
 * - approval (with `approvalProbability`): a decision exponential(approvalDelayMeanMs) after
 *   arrival (>= 1 ms), a reject with `rejectProbability`;
 * - cancel (with `cancelProbability`): ceil(U(0, 2 × duration)) ms (>= 1) after arrival, so it hits
 *   waiting and running jobs alike.
 */
export const generateWorkload = (options: GenerateOptions): Workload => {
  validate(options)
  const o = options
  const root = makePrng(o.seed)
  const rArrivals = root.fork("arrivals")
  const rLevels = root.fork("levels")
  const rUsers = root.fork("users")
  const rQueues = root.fork("queues")
  const rGpus = root.fork("gpus")
  const rDurations = root.fork("durations")
  const rExits = root.fork("exits")
  const rLimits = root.fork("time-limits")
  const rQueued = root.fork("max-queued-times")
  const rDeadlines = root.fork("deadlines")
  const rApprovals = root.fork("approvals")
  const rCancels = root.fork("cancels")

  const levels = o.levels ?? [["researcher", 1] as const]
  const userLevels = Array.from({ length: o.users }, () => rLevels.weighted(levels))
  const arrivals = poissonArrivals(
    rArrivals, o.jobs, 3_600_000 / o.arrivalRatePerHour, o.burstProbability ?? 0, o.burstSize ?? [2, 8]
  )
  const mu = Math.log(o.durationMedianMs)
  const maxDurationMs = o.maxDurationMs ?? Number.MAX_SAFE_INTEGER
  const approvalDelayMeanMs = o.approvalDelayMeanMs ?? 15 * 60_000

  const jobs: Array<WorkloadJob> = []
  for (let i = 0; i < o.jobs; i++) {
    const u = rUsers.int(0, o.users - 1)
    const durationMs = Math.max(1, Math.round(Math.min(maxDurationMs, rDurations.lognormal(mu, o.durationSigma))))
    const job: { -readonly [K in keyof WorkloadJob]: WorkloadJob[K] } = {
      id: jobId(i),
      arrivalMs: arrivals[i] as number,
      durationMs,
      exitCode: rExits.chance(o.failureProbability ?? 0) ? 1 : 0,
      user: userName(u),
      level: userLevels[u] as Level,
      gpus: rGpus.weighted(o.gpuMix)
    }
    if (o.teams > 0) job.team = teamName(u % o.teams)
    if (o.queues !== undefined) job.queue = rQueues.pick(o.queues)
    if (rLimits.chance(o.timeLimitProbability ?? 0)) {
      const overrun = rLimits.chance(o.overrunProbability ?? 0) && durationMs >= 2
      job.timeLimitMs = overrun
        ? Math.max(1, Math.min(durationMs - 1, Math.floor(durationMs * rLimits.uniform(0.5, 0.95))))
        : Math.max(durationMs + 1, Math.ceil(durationMs * rLimits.uniform(1, 2)))
    }
    if (rQueued.chance(o.maxQueuedTimeProbability ?? 0)) {
      job.maxQueuedTimeMs = Math.max(1, Math.ceil(o.durationMedianMs * rQueued.uniform(0.5, 5)))
    }
    if (rDeadlines.chance(o.deadlineProbability ?? 0)) {
      job.deadlineMs = Math.max(1, Math.ceil(durationMs * rDeadlines.uniform(1.1, 3)))
    }
    if (rApprovals.chance(o.approvalProbability ?? 0)) {
      job.requiresApproval = true
      const atMs = Math.max(1, Math.round(rApprovals.exponential(approvalDelayMeanMs)))
      job.decision = { atMs, approve: !rApprovals.chance(o.rejectProbability ?? 0) }
    }
    if (rCancels.chance(o.cancelProbability ?? 0)) {
      job.cancelAfterMs = Math.max(1, Math.ceil(rCancels.uniform(0, 2 * durationMs)))
    }
    if (o.maxAttempts !== undefined) job.maxAttempts = o.maxAttempts
    jobs.push(job)
  }

  const gpuMix = o.gpuMix.map(([g, w]) => `${g}:${w}`).join(",")
  const description = [
    `synthetic workload: seed=${o.seed} jobs=${o.jobs} arrivalRatePerHour=${o.arrivalRatePerHour}`,
    `burstProbability=${o.burstProbability ?? 0} burstSize=${(o.burstSize ?? [2, 8]).join("..")}`,
    `users=${o.users} teams=${o.teams} queues=${o.queues?.join(",") ?? "-"} gpuMix=${gpuMix}`,
    `duration lognormal median=${o.durationMedianMs}ms sigma=${o.durationSigma} max=${o.maxDurationMs ?? "-"}`,
    `timeLimit p=${o.timeLimitProbability ?? 0} overrun p=${o.overrunProbability ?? 0} failure p=${o.failureProbability ?? 0}`,
    `approval p=${o.approvalProbability ?? 0} reject p=${o.rejectProbability ?? 0} cancel p=${o.cancelProbability ?? 0}`,
    `maxQueuedTime p=${o.maxQueuedTimeProbability ?? 0} deadline p=${o.deadlineProbability ?? 0} maxAttempts=${o.maxAttempts ?? "-"}`
  ].join("; ")
  return { name: o.name ?? `synthetic-s${o.seed}-n${o.jobs}`, jobs, description }
}

export interface MmcOptions {
  readonly seed: number
  readonly jobs: number
  readonly servers: number
  /** rho = lambda / (c mu), in (0, 1). */
  readonly load: number
  readonly meanServiceMs: number
}

/**
 * An M/M/c workload for validating the simulator against queueing theory: Poisson arrivals
 * at lambda = load × c / meanServiceMs, exponential service with mean meanServiceMs (rounded
 * to whole ms, at least 1), one GPU each, one user, no limits, timeouts or actions. Pair it with
 * a cluster of `servers` GPUs, and compare the mean wait with `mmcMeanWaitMs`.
 */
export const mmcWorkload = (o: MmcOptions): Workload => {
  const bad = (m: string): never => {
    throw new RangeError(`mmcWorkload: ${m}`)
  }
  if (!Number.isSafeInteger(o.seed)) bad(`seed must be a safe integer, got ${o.seed}`)
  if (!Number.isSafeInteger(o.jobs) || o.jobs < 0) bad(`jobs must be an integer >= 0, got ${o.jobs}`)
  if (!Number.isSafeInteger(o.servers) || o.servers < 1) bad(`servers must be an integer >= 1, got ${o.servers}`)
  if (!(o.load > 0 && o.load < 1)) bad(`load (rho) must be in (0, 1), got ${o.load}`)
  if (!(Number.isFinite(o.meanServiceMs) && o.meanServiceMs > 0)) {
    bad(`meanServiceMs must be a finite number > 0, got ${o.meanServiceMs}`)
  }
  const root = makePrng(o.seed)
  const rArrivals = root.fork("arrivals")
  const rService = root.fork("service")
  const lambdaPerMs = (o.load * o.servers) / o.meanServiceMs
  const arrivals = poissonArrivals(rArrivals, o.jobs, 1 / lambdaPerMs, 0, [1, 1])
  const jobs: Array<WorkloadJob> = arrivals.map((arrivalMs, i) => ({
    id: jobId(i),
    arrivalMs,
    durationMs: Math.max(1, Math.round(rService.exponential(o.meanServiceMs))),
    exitCode: 0,
    user: userName(0),
    level: "researcher",
    gpus: 1
  }))
  const description =
    `M/M/${o.servers}: lambda=${lambdaPerMs * 3_600_000} jobs/h (${lambdaPerMs} /ms), ` +
    `mu=${3_600_000 / o.meanServiceMs} jobs/h per server (mean service ${o.meanServiceMs} ms), ` +
    `c=${o.servers}, rho=${o.load}, seed=${o.seed}, jobs=${o.jobs}`
  return { name: `mmc-c${o.servers}-rho${o.load}-s${o.seed}`, jobs, description }
}
