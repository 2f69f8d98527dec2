/**
 * What-if before a rollout (issue 12): one workload replayed through the full engine under
 * each policy, the same seed and machine for all, and their metrics side by side with the
 * difference against the first (the one in force, or the baseline).
 */
import type { Metrics } from "./Metrics.js"
import { alignColumns, DEFAULT_WAIT_THRESHOLD_MS, formatDurationMs, formatMetrics } from "./Metrics.js"
import type { NamedPolicy } from "./Policies.js"
import type { SeriesOverTime } from "./Series.js"
import { simulate } from "./Simulate.js"
import type { Workload } from "./Workload.js"

export interface WhatIfOptions {
  readonly workload: Workload
  readonly gpus: number
  readonly seed: number
  readonly policies: ReadonlyArray<NamedPolicy>
  /** What counts as a long wait (`Metrics.longWaits`; default 1 h). */
  readonly waitThresholdMs?: number
  /** Record busy GPUs and queue length over time for each policy (for the HTML report). */
  readonly series?: boolean
}

export interface WhatIfPolicy {
  readonly name: string
  /** The policy's version label when the caller knows one (a policy history's), else null. */
  readonly label: string | null
  readonly metrics: Metrics
  readonly refused: number
  /** Busy GPUs and queue length over time, when asked for (`series`). */
  readonly series?: SeriesOverTime
}

export interface WhatIfResult {
  readonly workload: { readonly name: string; readonly jobs: number; readonly description: string }
  readonly gpus: number
  readonly seed: number
  readonly waitThresholdMs: number
  readonly policies: ReadonlyArray<WhatIfPolicy>
}

/** Replays the workload under each policy, in the order given. */
export const whatIf = (o: WhatIfOptions): WhatIfResult => {
  const waitThresholdMs = o.waitThresholdMs ?? DEFAULT_WAIT_THRESHOLD_MS
  return {
    workload: { name: o.workload.name, jobs: o.workload.jobs.length, description: o.workload.description },
    gpus: o.gpus,
    seed: o.seed,
    waitThresholdMs,
    policies: o.policies.map(({ name, label, policy }) => {
      const report = simulate({ seed: o.seed, workload: o.workload, gpus: o.gpus, policy, eventLog: false, waitThresholdMs, series: o.series === true })
      return {
        name,
        label: label ?? null,
        metrics: report.metrics,
        refused: report.refused,
        ...(report.series === undefined ? {} : { series: report.series })
      }
    })
  }
}

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
const signed = (ms: number) => (ms === 0 ? "0" : `${ms > 0 ? "+" : "-"}${formatDurationMs(Math.abs(ms))}`)
const signedRatio = (x: number, digits: number) => (x === 0 ? "0" : `${x > 0 ? "+" : ""}${x.toFixed(digits)}`)

/** One compared metric: how to read it off a policy's metrics, which way is better, how to show it and its difference. */
export interface ComparedMetric {
  readonly key: string
  /** Column heading in the tables. */
  readonly title: string
  readonly better: "lower" | "higher"
  readonly value: (m: Metrics) => number
  readonly format: (x: number) => string
  readonly formatDiff: (d: number) => string
}

const wait = (key: string, title: string, value: (m: Metrics) => number): ComparedMetric => ({ key, title, better: "lower", value, format: formatDurationMs, formatDiff: signed })

/** The metrics the comparison shows for every policy, in its columns' order (HTML and text alike). */
export const COMPARED_METRICS: ReadonlyArray<ComparedMetric> = [
  wait("waitP50Ms", "wait p50", (m) => m.overall.waitP50Ms),
  wait("waitP95Ms", "wait p95", (m) => m.overall.waitP95Ms),
  wait("waitP99Ms", "wait p99", (m) => m.overall.waitP99Ms),
  wait("maxWaitMs", "wait max", (m) => m.overall.maxWaitMs),
  wait("waitMeanMs", "wait mean", (m) => m.overall.waitMeanMs),
  wait("jctP50Ms", "jct p50", (m) => m.overall.jctP50Ms),
  wait("jctMeanMs", "jct mean", (m) => m.overall.jctMeanMs),
  { key: "gpuUtilisation", title: "gpu util", better: "higher", value: (m) => m.gpuUtilisation, format: percent, formatDiff: (d) => `${signedRatio(d * 100, 1)} pt` },
  { key: "jainFairness", title: "jain users", better: "higher", value: (m) => m.jainFairness, format: (x) => x.toFixed(3), formatDiff: (d) => signedRatio(d, 3) },
  { key: "jainFairnessTeams", title: "jain teams", better: "higher", value: (m) => m.jainFairnessTeams, format: (x) => x.toFixed(3), formatDiff: (d) => signedRatio(d, 3) },
  { key: "longWaits", title: "long waits", better: "lower", value: (m) => m.longWaits.count, format: String, formatDiff: (d) => (d === 0 ? "0" : `${d > 0 ? "+" : ""}${d}`) }
]

export type Verdict = "better" | "worse" | "same"

/** Whether `value` is better or worse than `base` for this metric (equal: same). */
export const verdictOf = (metric: ComparedMetric, value: number, base: number): Verdict =>
  value === base ? "same" : (value < base) === (metric.better === "lower") ? "better" : "worse"

const MARK: Readonly<Record<Verdict, string>> = { better: " ✓", worse: " ✗", same: "" }

/**
 * The comparison for people: one row per policy (jobs, started, then `COMPARED_METRICS`:
 * wait percentiles, max and mean, JCT, GPU utilisation, Jain's index over users and over teams,
 * long waits), the differences against the first policy marked ✓ (better) or ✗ (worse),
 * then each policy's own report (per team, queue and user).
 */
export const formatWhatIf = (r: WhatIfResult, o: { readonly maxRows?: number } = {}): string => {
  const header = ["policy", "jobs", "started", ...COMPARED_METRICS.map((c) => c.title)]
  const rows = r.policies.map(({ name, metrics: m }) => [name, String(m.jobs), String(m.overall.started), ...COMPARED_METRICS.map((c) => c.format(c.value(m)))])
  const out = [
    `workload ${r.workload.name} (${r.workload.jobs} jobs), ${r.gpus} GPUs, seed ${r.seed}`,
    `long waits: jobs that waited over ${formatDurationMs(r.waitThresholdMs)} to start`,
    "",
    ...alignColumns([header, ...rows])
  ]
  const [first, ...rest] = r.policies
  if (first !== undefined && rest.length > 0) {
    const base = first.metrics
    const diffHeader = [`against ${first.name}`, ...COMPARED_METRICS.map((c) => c.title)]
    const diffs = rest.map(({ name, metrics: m }) => [
      name,
      ...COMPARED_METRICS.map((c) => {
        const [x, b] = [c.value(m), c.value(base)]
        return `${c.formatDiff(x - b)}${MARK[verdictOf(c, x, b)]}`
      })
    ])
    out.push("", ...alignColumns([diffHeader, ...diffs]), `(✓ better, ✗ worse than ${first.name})`)
  }
  for (const { name, metrics } of r.policies) out.push("", `== ${name}`, formatMetrics(metrics, { maxRows: o.maxRows ?? 8 }).trimEnd())
  return `${out.join("\n")}\n`
}
