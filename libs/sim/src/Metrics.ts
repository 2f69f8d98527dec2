/**
 * Pure metrics over job outcomes: wait, job completion time (JCT), utilisation, fairness.
 *
 * Definitions (all times in ms):
 * - wait of a job that started = startMs − arrivalMs (first start; jobs that never started have
 *   no wait).
 * - JCT of a job that finished = endMs − arrivalMs, over jobs whose status is `completed` or
 *   `failed` and that started (have both startMs and endMs). Failures before any start
 *   (queue-timeout, deadline while pending), cancels and rejects have no JCT.
 * - percentiles are nearest-rank (`percentile`); means are arithmetic; all are 0 over no jobs.
 * - makespan = max endMs − min arrivalMs over all outcomes (0 when no job ended).
 * - GPU utilisation = Σ(gpus × runMs) / (gpuCount × makespan) (0 when the denominator is 0).
 * - bounded slowdown of a finished job = max(1, JCT / max(runMs, 10 000)): the 10 s bound keeps
 *   very short jobs from dominating; the floor of 1 is the textbook convention (Feitelson) and
 *   keeps the index finite when a job's JCT is 0.
 * - Jain's fairness index J = (Σx)² / (n Σx²) over the n users with at least one finished job,
 *   where x_i = 1 / (user i's mean bounded slowdown). J is in [1/n, 1]; 1 = every user's jobs are
 *   slowed down equally. 1 by convention when no user finished a job.
 * - Jain's index over teams (`jainFairnessTeams`): the same, with x_i = 1 / (team i's mean
 *   bounded slowdown) over the teams with at least one finished job (jobs without a team left
 *   out); 1 when none.
 * - long waits (`longWaits`): the jobs that waited longer than `waitThresholdMs` (default 1 h)
 *   to start: those that started more than the threshold after arriving, and those that ended
 *   without ever starting (cancelled, rejected, timed out in the queue) more than the threshold
 *   after arriving. `share` = count / jobs (0 over no jobs).
 * - wait histogram (`waitHistogram`): the started jobs' waits counted in fixed, log-spaced bins
 *   (the same edges for every policy and workload, so histograms compare): edges
 *   `WAIT_HISTOGRAM_EDGES_MS` from 1 s to 10⁷ s, 8 per decade; `waitHistogram[0]` counts waits
 *   under 1 s, `waitHistogram[i]` waits in [edges[i−1], edges[i]), the last waits ≥ 10⁷ s.
 * - `byStatus`, `byUser`, `byTeam`, `byQueue` have their keys in sorted order; `byTeam` leaves
 *   out jobs without a team.
 */

export type OutcomeStatus =
  | "completed" | "failed" | "cancelled" | "rejected" | "pending" | "running" | "held" | "blocked" | "stopping"

export interface JobOutcome {
  readonly jobId: string
  readonly user: string
  readonly team?: string
  readonly queue: string
  readonly gpus: number
  readonly arrivalMs: number
  readonly startMs?: number // first start
  readonly endMs?: number
  readonly status: OutcomeStatus
  readonly runMs: number // total time spent running over all attempts
}

export interface Summary {
  /** Outcomes in the group. */
  readonly count: number
  /** Of them, jobs that started (the wait sample). */
  readonly started: number
  /** Of them, jobs that completed or failed after starting (the JCT sample). */
  readonly finished: number
  readonly waitP50Ms: number
  readonly waitP95Ms: number
  readonly waitP99Ms: number
  readonly waitMeanMs: number
  readonly maxWaitMs: number
  readonly jctP50Ms: number
  readonly jctP95Ms: number
  readonly jctP99Ms: number
  readonly jctMeanMs: number
}

export interface Metrics {
  readonly jobs: number
  readonly byStatus: Record<string, number>
  readonly overall: Summary
  readonly byUser: Record<string, Summary>
  readonly byTeam: Record<string, Summary>
  readonly byQueue: Record<string, Summary>
  readonly gpuUtilisation: number
  readonly jainFairness: number
  /** Jain's index over teams (the module comment). */
  readonly jainFairnessTeams: number
  readonly longWaits: LongWaits
  /** Started jobs' waits in the bins of `WAIT_HISTOGRAM_EDGES_MS` (one more count than edges). */
  readonly waitHistogram: ReadonlyArray<number>
  readonly makespanMs: number
}

export interface LongWaits {
  readonly thresholdMs: number
  /** Jobs that waited longer than the threshold to start, or ended unstarted after it. */
  readonly count: number
  /** count / jobs. */
  readonly share: number
}

export interface MetricsOptions {
  readonly gpuCount: number
  /** What counts as a long wait (default `DEFAULT_WAIT_THRESHOLD_MS`, 1 h). */
  readonly waitThresholdMs?: number
}

export const DEFAULT_WAIT_THRESHOLD_MS = 3_600_000

/** The wait histogram's edges: 1 s · 10^(k/8) for k = 0…56 (1 s to 10⁷ s), whole milliseconds. */
export const WAIT_HISTOGRAM_EDGES_MS: ReadonlyArray<number> = Array.from({ length: 57 }, (_, k) => Math.round(1_000 * 10 ** (k / 8)))

/** The bin of `WAIT_HISTOGRAM_EDGES_MS` a wait falls in (0: under the first edge). */
export const waitBinOf = (waitMs: number): number => {
  const edges = WAIT_HISTOGRAM_EDGES_MS
  let lo = 0
  let hi = edges.length
  // the first edge greater than waitMs
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (edges[mid]! <= waitMs) lo = mid + 1
    else hi = mid
  }
  return lo
}

export const SLOWDOWN_BOUND_MS = 10_000

/** Nearest-rank percentile (p in [0, 100]) of an ascending array; 0 for an empty one. */
export const percentile = (sortedAscending: ArrayLike<number>, p: number): number => {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be in [0, 100], got ${p}`)
  const n = sortedAscending.length
  if (n === 0) return 0
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)))
  return sortedAscending[rank - 1] as number
}

const waitOf = (o: JobOutcome): number | undefined => (o.startMs === undefined ? undefined : o.startMs - o.arrivalMs)

const jctOf = (o: JobOutcome): number | undefined =>
  (o.status === "completed" || o.status === "failed") && o.startMs !== undefined && o.endMs !== undefined
    ? o.endMs - o.arrivalMs
    : undefined

const mean = (xs: ArrayLike<number>): number => {
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += xs[i]!
  return xs.length === 0 ? 0 : sum / xs.length
}

const summarise = (outcomes: ReadonlyArray<JobOutcome>): Summary => {
  // typed arrays: their sort is numeric, without a comparator call per comparison (a
  // million-job replay's summaries took longer than its scheduling cycles with Array.sort)
  const allWaits = new Float64Array(outcomes.length)
  const allJcts = new Float64Array(outcomes.length)
  let nw = 0
  let nj = 0
  for (const o of outcomes) {
    const w = waitOf(o)
    if (w !== undefined) allWaits[nw++] = w
    const j = jctOf(o)
    if (j !== undefined) allJcts[nj++] = j
  }
  const waits = allWaits.subarray(0, nw).sort()
  const jcts = allJcts.subarray(0, nj).sort()
  return {
    count: outcomes.length,
    started: waits.length,
    finished: jcts.length,
    waitP50Ms: percentile(waits, 50),
    waitP95Ms: percentile(waits, 95),
    waitP99Ms: percentile(waits, 99),
    waitMeanMs: mean(waits),
    maxWaitMs: waits.length === 0 ? 0 : waits[waits.length - 1]!,
    jctP50Ms: percentile(jcts, 50),
    jctP95Ms: percentile(jcts, 95),
    jctP99Ms: percentile(jcts, 99),
    jctMeanMs: mean(jcts)
  }
}

const groupBy = <K extends string>(
  outcomes: ReadonlyArray<JobOutcome>, key: (o: JobOutcome) => K | undefined
): Map<K, Array<JobOutcome>> => {
  const groups = new Map<K, Array<JobOutcome>>()
  for (const o of outcomes) {
    const k = key(o)
    if (k === undefined) continue
    const g = groups.get(k)
    if (g === undefined) groups.set(k, [o])
    else g.push(o)
  }
  return groups
}

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const sortedRecord = <V>(entries: Iterable<readonly [string, V]>): Record<string, V> =>
  Object.fromEntries([...entries].sort(([a], [b]) => compareKeys(a, b)))

const summaries = (groups: Map<string, Array<JobOutcome>>): Record<string, Summary> =>
  sortedRecord([...groups].map(([k, g]) => [k, summarise(g)] as const))

/** Jain's index over groups of jobs, users or teams (see the module comment). */
const jain = (groups: Map<string, Array<JobOutcome>>): number => {
  const xs: Array<number> = []
  for (const g of groups.values()) {
    const slowdowns: Array<number> = []
    for (const o of g) {
      const j = jctOf(o)
      if (j !== undefined) slowdowns.push(Math.max(1, j / Math.max(o.runMs, SLOWDOWN_BOUND_MS)))
    }
    if (slowdowns.length > 0) xs.push(1 / mean(slowdowns))
  }
  if (xs.length === 0) return 1
  const sum = xs.reduce((s, x) => s + x, 0)
  const sumSq = xs.reduce((s, x) => s + x * x, 0)
  return (sum * sum) / (xs.length * sumSq)
}

export const computeMetrics = (outcomes: ReadonlyArray<JobOutcome>, o: MetricsOptions): Metrics => {
  if (!(Number.isFinite(o.gpuCount) && o.gpuCount >= 0)) {
    throw new RangeError(`computeMetrics: gpuCount must be a finite number >= 0, got ${o.gpuCount}`)
  }
  const thresholdMs = o.waitThresholdMs ?? DEFAULT_WAIT_THRESHOLD_MS
  if (!(Number.isFinite(thresholdMs) && thresholdMs >= 0)) {
    throw new RangeError(`computeMetrics: waitThresholdMs must be a finite number >= 0, got ${thresholdMs}`)
  }
  const histogram: Array<number> = new Array<number>(WAIT_HISTOGRAM_EDGES_MS.length + 1).fill(0)
  let longWaits = 0
  const statusCounts = new Map<string, number>()
  let minArrivalMs = Infinity
  let maxEndMs = -Infinity
  let gpuMs = 0
  for (const x of outcomes) {
    statusCounts.set(x.status, (statusCounts.get(x.status) ?? 0) + 1)
    minArrivalMs = Math.min(minArrivalMs, x.arrivalMs)
    if (x.endMs !== undefined) maxEndMs = Math.max(maxEndMs, x.endMs)
    gpuMs += x.gpus * x.runMs
    const w = waitOf(x)
    if (w !== undefined) histogram[waitBinOf(w)]!++
    const waited = w ?? (x.endMs === undefined ? undefined : x.endMs - x.arrivalMs)
    if (waited !== undefined && waited > thresholdMs) longWaits++
  }
  const makespanMs = maxEndMs === -Infinity ? 0 : Math.max(0, maxEndMs - minArrivalMs)
  const byUser = groupBy(outcomes, (x) => x.user)
  const byTeam = groupBy(outcomes, (x) => x.team)
  return {
    jobs: outcomes.length,
    byStatus: sortedRecord(statusCounts),
    overall: summarise(outcomes),
    byUser: summaries(byUser),
    byTeam: summaries(byTeam),
    byQueue: summaries(groupBy(outcomes, (x) => x.queue)),
    gpuUtilisation: o.gpuCount > 0 && makespanMs > 0 ? gpuMs / (o.gpuCount * makespanMs) : 0,
    jainFairness: jain(byUser),
    jainFairnessTeams: jain(byTeam),
    longWaits: { thresholdMs, count: longWaits, share: outcomes.length === 0 ? 0 : longWaits / outcomes.length },
    waitHistogram: histogram,
    makespanMs
  }
}

/** A duration for people: "850ms", "12.3s", "4.5m", "2.1h", "3.2d"; fixed rules, so deterministic. */
export const formatDurationMs = (ms: number): string => {
  const a = Math.abs(ms)
  if (a < 1_000) return `${Math.round(ms)}ms`
  if (a < 60_000) return `${(ms / 1_000).toFixed(1)}s`
  if (a < 3_600_000) return `${(ms / 60_000).toFixed(1)}m`
  if (a < 86_400_000) return `${(ms / 3_600_000).toFixed(1)}h`
  return `${(ms / 86_400_000).toFixed(1)}d`
}

const COLUMNS = ["count", "started", "done", "wait p50", "p95", "p99", "mean", "max", "jct p50", "p95", "p99", "mean"]

const rowCells = (s: Summary): Array<string> => [
  String(s.count), String(s.started), String(s.finished),
  ...[s.waitP50Ms, s.waitP95Ms, s.waitP99Ms, s.waitMeanMs, s.maxWaitMs].map(formatDurationMs),
  ...[s.jctP50Ms, s.jctP95Ms, s.jctP99Ms, s.jctMeanMs].map(formatDurationMs)
]

/** Rows of cells as aligned lines: the first column to the left, the others to the right. */
export const alignColumns = (cells: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = (cells[0] ?? []).map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)))
  return cells.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd())
}

const table = (title: string, rows: ReadonlyArray<readonly [string, Summary]>, hidden: number): Array<string> => {
  const lines = alignColumns([[title, ...COLUMNS], ...rows.map(([k, s]) => [k, ...rowCells(s)])])
  if (hidden > 0) lines.push(`… ${hidden} more`)
  return lines
}

/** The `maxRows` groups with the most jobs (ties by key), in that order. */
const topRows = (r: Record<string, Summary>, maxRows: number): [Array<readonly [string, Summary]>, number] => {
  const all = Object.entries(r).sort(([ka, a], [kb, b]) => b.count - a.count || compareKeys(ka, kb))
  return [all.slice(0, maxRows), Math.max(0, all.length - maxRows)]
}

/** A fixed-width text report: totals, the overall row, then the top rows per team, queue, user. */
export const formatMetrics = (m: Metrics, o: { readonly maxRows?: number } = {}): string => {
  const maxRows = o.maxRows ?? 10
  if (!(Number.isSafeInteger(maxRows) && maxRows >= 0)) {
    throw new RangeError(`formatMetrics: maxRows must be an integer >= 0, got ${maxRows}`)
  }
  const statuses = Object.entries(m.byStatus).map(([k, v]) => `${k}=${v}`).join(" ")
  const out = [
    `jobs ${m.jobs}  makespan ${formatDurationMs(m.makespanMs)}  gpu utilisation ${(m.gpuUtilisation * 100).toFixed(1)}%  jain ${m.jainFairness.toFixed(3)}`,
    `status ${statuses === "" ? "-" : statuses}`,
    "",
    ...table("overall", [["all", m.overall]], 0)
  ]
  for (const [title, r] of [["team", m.byTeam], ["queue", m.byQueue], ["user", m.byUser]] as const) {
    if (Object.keys(r).length === 0) continue
    const [rows, hidden] = topRows(r, maxRows)
    out.push("", ...table(title, rows, hidden))
  }
  return out.join("\n") + "\n"
}
