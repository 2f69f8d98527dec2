/**
 * The simulator checked against queueing theory: an M/M/c queue (Poisson arrivals, exponential
 * service, c servers, FIFO) replayed through the full engine, its mean wait against the Erlang-C
 * formula, with a 95% confidence interval of the estimate so a reader can tell sampling noise
 * from a wrong simulator.
 *
 * The interval is by batch means (Law & Kelton, ch. 9): the waits of one run are strongly
 * correlated (a job waits because the one before it did), so the textbook σ/√n would be far too
 * narrow. The waits in arrival order, after a warm-up (the queue starts empty, below its steady
 * state), are cut into k equal batches; batches much longer than the correlation are nearly
 * independent, and their means give the interval mean ± t(0.975, k−1)·s/√k. k = 30 by default;
 * the warm-up is the first 10% of jobs.
 */
import { mmcMeanWaitMs } from "./ErlangC.js"
import { formatDurationMs } from "./Metrics.js"
import { simulate } from "./Simulate.js"
import { mmcWorkload } from "./Workload.js"

export interface Interval {
  readonly mean: number
  /** Half the interval's width: the interval is mean ± halfWidth. */
  readonly halfWidth: number
  readonly batches: number
  /** Values left out at the start (the warm-up). */
  readonly warmup: number
  /** Values in the batches. */
  readonly used: number
}

const Z975 = 1.959963984540054

/**
 * The 0.975 quantile of Student's t with `df` degrees of freedom, by the Cornish–Fisher
 * expansion around the normal quantile (Abramowitz & Stegun 26.7.5): within 1e-3 for df ≥ 5,
 * exact enough for an interval's width. df < 5 uses the table.
 */
export const studentT975 = (df: number): number => {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`studentT975: df must be an integer >= 1, got ${df}`)
  const table = [12.706, 4.303, 3.182, 2.776]
  if (df <= table.length) return table[df - 1]!
  const z = Z975
  const z3 = z ** 3
  const z5 = z ** 5
  const z7 = z ** 7
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3)
}

/**
 * The batch-means 95% interval of the mean of `values` (in their order), leaving out the first
 * `warmupFraction` of them and NaNs (jobs that never started). Needs at least 2 batches of at
 * least one value each.
 */
export const batchMeans = (values: ArrayLike<number>, o: { readonly batches?: number; readonly warmupFraction?: number } = {}): Interval => {
  const k = o.batches ?? 30
  const warmup = Math.floor(values.length * (o.warmupFraction ?? 0.1))
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`batchMeans: batches must be an integer >= 2, got ${k}`)
  const kept: Array<number> = []
  for (let i = warmup; i < values.length; i++) if (!Number.isNaN(values[i]!)) kept.push(values[i]!)
  const size = Math.floor(kept.length / k)
  if (size < 1) throw new RangeError(`batchMeans: ${kept.length} values after the warm-up cannot make ${k} batches`)
  const means: Array<number> = []
  for (let b = 0; b < k; b++) {
    let sum = 0
    for (let i = b * size; i < (b + 1) * size; i++) sum += kept[i]!
    means.push(sum / size)
  }
  const mean = means.reduce((a, x) => a + x, 0) / k
  const variance = means.reduce((a, x) => a + (x - mean) ** 2, 0) / (k - 1)
  return { mean, halfWidth: studentT975(k - 1) * Math.sqrt(variance / k), batches: k, warmup, used: size * k }
}

export interface MmcCheckOptions {
  readonly servers: number
  /** ρ, the utilisation per server, in (0, 1). */
  readonly load: number
  readonly jobs: number
  readonly seed: number
  /** Mean service time (default 60 s). */
  readonly meanServiceMs?: number
  readonly batches?: number
}

export interface MmcCheck {
  readonly servers: number
  readonly load: number
  readonly jobs: number
  readonly seed: number
  readonly meanServiceMs: number
  /** The Erlang-C mean wait (ms). */
  readonly erlangCMs: number
  /** The mean wait of every job of the run (ms), warm-up included. */
  readonly simulatedMeanMs: number
  /** The batch-means estimate of the steady-state mean wait and its 95% interval (ms). */
  readonly estimate: Interval
  /** The Erlang-C value lies inside the interval. */
  readonly inside: boolean
  /** Wall-clock time of the replay itself (ms). */
  readonly wallMs: number
}

/** An M/M/c replay through the full engine, against Erlang C. */
export const runMmc = (o: MmcCheckOptions): MmcCheck => {
  const meanServiceMs = o.meanServiceMs ?? 60_000
  const erlangCMs = mmcMeanWaitMs({ servers: o.servers, arrivalRatePerMs: (o.load * o.servers) / meanServiceMs, meanServiceMs })
  const workload = mmcWorkload({ seed: o.seed, jobs: o.jobs, servers: o.servers, load: o.load, meanServiceMs })
  const t0 = performance.now()
  const report = simulate({ seed: o.seed, workload, gpus: o.servers, eventLog: false, waits: true })
  const wallMs = performance.now() - t0
  const estimate = batchMeans(report.waits!, o.batches === undefined ? {} : { batches: o.batches })
  return {
    servers: o.servers,
    load: o.load,
    jobs: o.jobs,
    seed: o.seed,
    meanServiceMs,
    erlangCMs,
    simulatedMeanMs: report.metrics.overall.waitMeanMs,
    estimate,
    inside: Math.abs(estimate.mean - erlangCMs) <= estimate.halfWidth,
    wallMs
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** The check for people: the estimate with its interval, Erlang C, and whether it lies inside. */
export const formatMmc = (c: MmcCheck): string => {
  const e = c.estimate
  const off = (e.mean - c.erlangCMs) / c.erlangCMs
  return [
    `M/M/${c.servers} at load ${c.load}, mean service ${formatDurationMs(c.meanServiceMs)}, ${c.jobs} jobs, seed ${c.seed}`,
    `Erlang C       mean wait ${seconds(c.erlangCMs)}`,
    `simulated      mean wait ${seconds(e.mean)}, 95% CI ${seconds(e.mean - e.halfWidth)} … ${seconds(e.mean + e.halfWidth)} (±${((e.halfWidth / e.mean) * 100).toFixed(1)}%)`,
    `               batch means: ${e.batches} batches of ${e.used / e.batches} jobs after a warm-up of ${e.warmup}; all jobs: ${seconds(c.simulatedMeanMs)}`,
    `difference     ${off >= 0 ? "+" : ""}${(off * 100).toFixed(1)}%: Erlang C is ${c.inside ? "inside" : "OUTSIDE"} the interval${c.inside ? "" : " (expected for about 1 seed in 20; more jobs narrow it)"}`,
    `replayed in ${seconds(c.wallMs)} (${Math.round(c.jobs / (c.wallMs / 1000))} jobs/s)`
  ].join("\n") + "\n"
}
