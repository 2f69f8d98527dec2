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

/**
 * Outcomes as columns, one row per job: what a replay records as it goes (Simulate.ts) and what
 * the metrics read. A million-job replay held a 13-field object and a map entry per job (~0.3
 * GB); these are ~60 bytes a row in typed arrays, and the metrics sort and group row numbers.
 * Rows `0 … size − 1` count; names are codes into `users`, `teams` (−1: no team), `queues`.
 */
export interface OutcomeColumns {
  readonly size: number
  /** An index into `OUTCOME_STATUSES`. */
  readonly status: Uint8Array
  readonly arrivalMs: Float64Array
  /** First start; NaN when the job never started. */
  readonly startMs: Float64Array
  /** NaN while it has not ended. */
  readonly endMs: Float64Array
  readonly runMs: Float64Array
  readonly gpus: Float64Array
  readonly user: Int32Array
  readonly users: ReadonlyArray<string>
  readonly team: Int32Array
  readonly teams: ReadonlyArray<string>
  readonly queue: Int32Array
  readonly queues: ReadonlyArray<string>
}

export const OUTCOME_STATUSES: ReadonlyArray<OutcomeStatus> = ["completed", "failed", "cancelled", "rejected", "pending", "running", "held", "blocked", "stopping"]
const STATUS_CODE = new Map(OUTCOME_STATUSES.map((s, i) => [s, i]))
/** A status's code in `OutcomeColumns.status`. */
export const outcomeStatusCode = (status: OutcomeStatus): number => STATUS_CODE.get(status)!
const COMPLETED = 0
const FAILED = 1

/** Names as small codes, in order of first appearance. */
export class Names {
  readonly names: Array<string> = []
  private readonly codes = new Map<string, number>()
  codeOf(name: string): number {
    let code = this.codes.get(name)
    if (code === undefined) {
      code = this.names.length
      this.codes.set(name, code)
      this.names.push(name)
    }
    return code
  }
}

/** Growable outcome columns (`capacity` rows at first), filled a row at a time. */
export class OutcomeTable implements OutcomeColumns {
  size = 0
  status: Uint8Array
  arrivalMs: Float64Array
  startMs: Float64Array
  endMs: Float64Array
  runMs: Float64Array
  gpus: Float64Array
  user: Int32Array
  team: Int32Array
  queue: Int32Array
  private readonly userNames = new Names()
  private readonly teamNames = new Names()
  private readonly queueNames = new Names()

  constructor(capacity = 1024) {
    const n = Math.max(1, capacity)
    this.status = new Uint8Array(n)
    this.arrivalMs = new Float64Array(n)
    this.startMs = new Float64Array(n)
    this.endMs = new Float64Array(n)
    this.runMs = new Float64Array(n)
    this.gpus = new Float64Array(n)
    this.user = new Int32Array(n)
    this.team = new Int32Array(n)
    this.queue = new Int32Array(n)
  }

  get users(): ReadonlyArray<string> {
    return this.userNames.names
  }
  get teams(): ReadonlyArray<string> {
    return this.teamNames.names
  }
  get queues(): ReadonlyArray<string> {
    return this.queueNames.names
  }

  /** A new row (not started, not ended, no run time); returns its number. */
  add(row: { readonly user: string; readonly team?: string | undefined; readonly queue: string; readonly gpus: number; readonly arrivalMs: number; readonly status: OutcomeStatus }): number {
    if (this.size === this.status.length) this.grow()
    const r = this.size++
    this.status[r] = outcomeStatusCode(row.status)
    this.arrivalMs[r] = row.arrivalMs
    this.startMs[r] = NaN
    this.endMs[r] = NaN
    this.runMs[r] = 0
    this.gpus[r] = row.gpus
    this.user[r] = this.userNames.codeOf(row.user)
    this.team[r] = row.team === undefined ? -1 : this.teamNames.codeOf(row.team)
    this.queue[r] = this.queueNames.codeOf(row.queue)
    return r
  }

  private grow(): void {
    const n = this.status.length * 2
    const grown = <T extends Uint8Array | Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n)
      b.set(a)
      return b
    }
    this.status = grown(this.status)
    this.arrivalMs = grown(this.arrivalMs)
    this.startMs = grown(this.startMs)
    this.endMs = grown(this.endMs)
    this.runMs = grown(this.runMs)
    this.gpus = grown(this.gpus)
    this.user = grown(this.user)
    this.team = grown(this.team)
    this.queue = grown(this.queue)
  }
}

/** Outcome objects as columns (rows in their order). */
export const outcomeColumnsOf = (outcomes: ReadonlyArray<JobOutcome>): OutcomeColumns => {
  const table = new OutcomeTable(outcomes.length)
  for (const o of outcomes) {
    const r = table.add(o)
    if (o.startMs !== undefined) table.startMs[r] = o.startMs
    if (o.endMs !== undefined) table.endMs[r] = o.endMs
    table.runMs[r] = o.runMs
  }
  return table
}

/** A job's JCT (the module comment), NaN when it has none. */
const jctAt = (c: OutcomeColumns, r: number): number => {
  const s = c.status[r]!
  return (s === COMPLETED || s === FAILED) && !Number.isNaN(c.startMs[r]!) && !Number.isNaN(c.endMs[r]!) ? c.endMs[r]! - c.arrivalMs[r]! : NaN
}

const mean = (xs: ArrayLike<number>): number => {
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += xs[i]!
  return xs.length === 0 ? 0 : sum / xs.length
}

/** The summary of rows `rows` (every row when null). */
const summarise = (c: OutcomeColumns, rows: Int32Array | null): Summary => {
  const n = rows === null ? c.size : rows.length
  // typed arrays: their sort is numeric, without a comparator call per comparison (a
  // million-job replay's summaries took longer than its scheduling cycles with Array.sort)
  const allWaits = new Float64Array(n)
  const allJcts = new Float64Array(n)
  let nw = 0
  let nj = 0
  for (let i = 0; i < n; i++) {
    const r = rows === null ? i : rows[i]!
    const start = c.startMs[r]!
    if (!Number.isNaN(start)) allWaits[nw++] = start - c.arrivalMs[r]!
    const j = jctAt(c, r)
    if (!Number.isNaN(j)) allJcts[nj++] = j
  }
  const waits = allWaits.subarray(0, nw).sort()
  const jcts = allJcts.subarray(0, nj).sort()
  return {
    count: n,
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

/**
 * Rows grouped by a code column (−1: in no group), rows in order. Codes are given in order of
 * first appearance (`Names`), so the groups come in that order too.
 */
const groupBy = (c: OutcomeColumns, codes: Int32Array, names: ReadonlyArray<string>): Array<readonly [string, Int32Array]> => {
  const counts = new Int32Array(names.length)
  for (let r = 0; r < c.size; r++) if (codes[r]! >= 0) counts[codes[r]!]!++
  const groups = names.map((_, k) => new Int32Array(counts[k]!))
  const filled = new Int32Array(names.length)
  for (let r = 0; r < c.size; r++) {
    const k = codes[r]!
    if (k >= 0) groups[k]![filled[k]!++] = r
  }
  return names.map((name, k) => [name, groups[k]!] as const).filter(([, rows]) => rows.length > 0)
}

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const sortedRecord = <V>(entries: Iterable<readonly [string, V]>): Record<string, V> =>
  Object.fromEntries([...entries].sort(([a], [b]) => compareKeys(a, b)))

/** Each group's summary; a group of every row (one user, one queue: an M/M/c replay) has the overall one, not sorted again. */
const summaries = (c: OutcomeColumns, groups: ReadonlyArray<readonly [string, Int32Array]>, overall: Summary): Record<string, Summary> =>
  sortedRecord(groups.map(([k, rows]) => [k, rows.length === c.size ? overall : summarise(c, rows)] as const))

/** Jain's index over groups of jobs, users or teams (see the module comment). */
const jain = (c: OutcomeColumns, groups: ReadonlyArray<readonly [string, Int32Array]>): number => {
  const xs: Array<number> = []
  for (const [, rows] of groups) {
    let sum = 0
    let n = 0
    for (const r of rows) {
      const j = jctAt(c, r)
      if (Number.isNaN(j)) continue
      sum += Math.max(1, j / Math.max(c.runMs[r]!, SLOWDOWN_BOUND_MS))
      n++
    }
    if (n > 0) xs.push(1 / (sum / n))
  }
  if (xs.length === 0) return 1
  const sum = xs.reduce((s, x) => s + x, 0)
  const sumSq = xs.reduce((s, x) => s + x * x, 0)
  return (sum * sum) / (xs.length * sumSq)
}

export const computeMetrics = (outcomes: ReadonlyArray<JobOutcome>, o: MetricsOptions): Metrics => metricsOfColumns(outcomeColumnsOf(outcomes), o)

/** The metrics of outcome columns (`computeMetrics` of the same outcomes as objects gives the same). */
export const metricsOfColumns = (c: OutcomeColumns, o: MetricsOptions): Metrics => {
  if (!(Number.isFinite(o.gpuCount) && o.gpuCount >= 0)) {
    throw new RangeError(`computeMetrics: gpuCount must be a finite number >= 0, got ${o.gpuCount}`)
  }
  const thresholdMs = o.waitThresholdMs ?? DEFAULT_WAIT_THRESHOLD_MS
  if (!(Number.isFinite(thresholdMs) && thresholdMs >= 0)) {
    throw new RangeError(`computeMetrics: waitThresholdMs must be a finite number >= 0, got ${thresholdMs}`)
  }
  const histogram: Array<number> = new Array<number>(WAIT_HISTOGRAM_EDGES_MS.length + 1).fill(0)
  let longWaits = 0
  const statusCounts = new Float64Array(OUTCOME_STATUSES.length)
  let minArrivalMs = Infinity
  let maxEndMs = -Infinity
  let gpuMs = 0
  for (let r = 0; r < c.size; r++) {
    statusCounts[c.status[r]!]!++
    const arrival = c.arrivalMs[r]!
    const end = c.endMs[r]!
    minArrivalMs = Math.min(minArrivalMs, arrival)
    if (!Number.isNaN(end)) maxEndMs = Math.max(maxEndMs, end)
    gpuMs += c.gpus[r]! * c.runMs[r]!
    const start = c.startMs[r]!
    const w = start - arrival
    if (!Number.isNaN(w)) histogram[waitBinOf(w)]!++
    // a job that never started waited until it ended (cancelled, rejected, timed out)
    const waited = Number.isNaN(w) ? end - arrival : w
    if (waited > thresholdMs) longWaits++
  }
  const makespanMs = maxEndMs === -Infinity ? 0 : Math.max(0, maxEndMs - minArrivalMs)
  const byUser = groupBy(c, c.user, c.users)
  const byTeam = groupBy(c, c.team, c.teams)
  const overall = summarise(c, null)
  return {
    jobs: c.size,
    byStatus: sortedRecord(OUTCOME_STATUSES.map((s, i) => [s, statusCounts[i]!] as const).filter(([, n]) => n > 0)),
    overall,
    byUser: summaries(c, byUser, overall),
    byTeam: summaries(c, byTeam, overall),
    byQueue: summaries(c, groupBy(c, c.queue, c.queues), overall),
    gpuUtilisation: o.gpuCount > 0 && makespanMs > 0 ? gpuMs / (o.gpuCount * makespanMs) : 0,
    jainFairness: jain(c, byUser),
    jainFairnessTeams: jain(c, byTeam),
    longWaits: { thresholdMs, count: longWaits, share: c.size === 0 ? 0 : longWaits / c.size },
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
