/**
 * What-if before a rollout (issue 12): one workload replayed through the full engine under
 * each policy, the same seed and machine for all, and their metrics side by side with the
 * difference against the first (the one in force, or the baseline).
 */
import type { QueueConfig } from "@gantry/core"
import { type Fidelity, fidelity, type RealStart } from "./Fidelity.js"
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
  /** The queues to replay on (default: only `default`). */
  readonly queues?: ReadonlyArray<QueueConfig>
  /**
   * What really happened (a runner's history, FromHistory.ts): each policy's replay is then
   * compared with it (Fidelity.ts), and `source` heads the report.
   */
  readonly history?: {
    readonly real: ReadonlyArray<RealStart>
    readonly horizonMs: number
    readonly source: HistorySource
  }
  /** What counts as a long wait (`Metrics.longWaits`; default 1 h). */
  readonly waitThresholdMs?: number
  /** Record busy GPUs and queue length over time for each policy (for the HTML report). */
  readonly series?: boolean
  /** Stop each replay at this simulated instant (Simulate's `untilMs`). */
  readonly untilMs?: number
}

/** Where a replayed history came from, for the report's header. */
export interface HistorySource {
  readonly database: string
  /** ISO-8601 times: the snapshot instant and the workload's instant 0. */
  readonly snapshotAt: string
  readonly origin: string
  readonly schemaVersion: number
  /** The version of the policy in force (`current`). */
  readonly currentPolicyVersion: number
  readonly counts: Readonly<Record<string, number>>
  readonly notes: ReadonlyArray<string>
}

export interface WhatIfPolicy {
  readonly name: string
  /** The policy's version label when the caller knows one (a policy history's), else null. */
  readonly label: string | null
  readonly metrics: Metrics
  readonly refused: number
  /** Busy GPUs and queue length over time, when asked for (`series`). */
  readonly series?: SeriesOverTime
  /** How closely the replay reproduces a history (with `history`). */
  readonly fidelity?: Fidelity
}

export interface WhatIfResult {
  readonly workload: { readonly name: string; readonly jobs: number; readonly description: string }
  readonly gpus: number
  readonly seed: number
  readonly source?: HistorySource
  readonly waitThresholdMs: number
  readonly policies: ReadonlyArray<WhatIfPolicy>
}

/**
 * The workload replayed under `o.policies[index]`: one engine of its own, nothing shared with
 * the other policies' replays (so each can run in its own worker thread: WhatIfParallel.ts).
 */
export const replayPolicy = (o: WhatIfOptions, index: number, onProgress?: (arrived: number, total: number) => void): WhatIfPolicy => {
  const { name, label, policy } = o.policies[index]!
  const history = o.history
  const report = simulate({
    seed: o.seed,
    workload: o.workload,
    gpus: o.gpus,
    policy,
    eventLog: false,
    waitThresholdMs: o.waitThresholdMs ?? DEFAULT_WAIT_THRESHOLD_MS,
    series: o.series === true,
    ...(o.queues === undefined ? {} : { queues: o.queues }),
    ...(o.untilMs === undefined ? {} : { untilMs: o.untilMs }),
    ...(onProgress === undefined ? {} : { onProgress }),
    ...(history === undefined ? {} : { starts: true })
  })
  return {
    name,
    label: label ?? null,
    metrics: report.metrics,
    refused: report.refused,
    ...(report.series === undefined ? {} : { series: report.series }),
    ...(history === undefined ? {} : { fidelity: fidelity(history.real, report.starts!, { horizonMs: history.horizonMs }) })
  }
}

/** The comparison from each policy's replay (in the order of `o.policies`). */
export const whatIfOf = (o: WhatIfOptions, policies: ReadonlyArray<WhatIfPolicy>): WhatIfResult => ({
  workload: { name: o.workload.name, jobs: o.workload.jobs.length, description: o.workload.description },
  gpus: o.gpus,
  seed: o.seed,
  ...(o.history === undefined ? {} : { source: o.history.source }),
  waitThresholdMs: o.waitThresholdMs ?? DEFAULT_WAIT_THRESHOLD_MS,
  policies
})

/** Replays the workload under each policy, one after the other. */
export const whatIf = (o: WhatIfOptions): WhatIfResult => whatIfOf(o, o.policies.map((_, i) => replayPolicy(o, i)))

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
/** A share for the fidelity table: "100%" only when exact, else rounded down (99.96% is "99.9%"). */
const share = (x: number) => (x === 1 ? "100%" : `${(Math.floor(x * 1000) / 10).toFixed(1)}%`)
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
  const out = [`workload ${r.workload.name} (${r.workload.jobs} jobs), ${r.gpus} GPUs, seed ${r.seed}`]
  const source = r.source
  if (source !== undefined) {
    out.push(
      `database ${source.database} (schema ${source.schemaVersion}), read ${source.snapshotAt}, runs from ${source.origin}; policy in force: v${source.currentPolicyVersion}`,
      ...source.notes.map((note) => `  ${note}`)
    )
  }
  out.push(`long waits: jobs that waited over ${formatDurationMs(r.waitThresholdMs)} to start`, "", ...alignColumns([header, ...rows]))
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
  if (source !== undefined) {
    const fidelityHeader = ["against what happened", "compared", "start order", "same gpus", "wait error mean", "p95", "max", "only real", "only replay"]
    const fidelityRows = r.policies.flatMap(({ name, fidelity: f }) =>
      f === undefined
        ? []
        : [
            [
              name,
              String(f.compared),
              share(f.startOrder),
              share(f.sameGpus),
              formatDurationMs(f.waitErrorMeanMs),
              formatDurationMs(f.waitErrorP95Ms),
              formatDurationMs(f.waitErrorMaxMs),
              String(f.onlyReal),
              String(f.onlyReplay)
            ]
          ]
    )
    out.push("", ...alignColumns([fidelityHeader, ...fidelityRows]))
  }
  for (const { name, metrics } of r.policies) out.push("", `== ${name}`, formatMetrics(metrics, { maxRows: o.maxRows ?? 8 }).trimEnd())
  return `${out.join("\n")}\n`
}
