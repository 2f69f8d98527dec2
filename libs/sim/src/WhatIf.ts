/**
 * What-if before a rollout (issue 12): one workload replayed through the full engine under
 * each policy, the same seed and machine for all, and their metrics side by side with the
 * difference against the first (the one in force, or the baseline).
 */
import type { QueueConfig } from "@gantry/core"
import { type Fidelity, fidelity, type RealStart } from "./Fidelity.js"
import type { Metrics } from "./Metrics.js"
import { alignColumns, formatDurationMs, formatMetrics } from "./Metrics.js"
import type { NamedPolicy } from "./Policies.js"
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

export interface WhatIfResult {
  readonly workload: { readonly name: string; readonly jobs: number; readonly description: string }
  readonly gpus: number
  readonly seed: number
  readonly source?: HistorySource
  readonly policies: ReadonlyArray<{ readonly name: string; readonly metrics: Metrics; readonly refused: number; readonly fidelity?: Fidelity }>
}

/** Replays the workload under each policy, in the order given. */
export const whatIf = (o: WhatIfOptions): WhatIfResult => ({
  workload: { name: o.workload.name, jobs: o.workload.jobs.length, description: o.workload.description },
  gpus: o.gpus,
  seed: o.seed,
  ...(o.history === undefined ? {} : { source: o.history.source }),
  policies: o.policies.map(({ name, policy }) => {
    const history = o.history
    const report = simulate({
      seed: o.seed,
      workload: o.workload,
      gpus: o.gpus,
      policy,
      eventLog: false,
      ...(o.queues === undefined ? {} : { queues: o.queues }),
      ...(history === undefined ? {} : { starts: true })
    })
    return {
      name,
      metrics: report.metrics,
      refused: report.refused,
      ...(history === undefined ? {} : { fidelity: fidelity(history.real, report.starts!, { horizonMs: history.horizonMs }) })
    }
  })
})

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
/** A share for the fidelity table: "100%" only when exact, else rounded down (99.96% is "99.9%"). */
const share = (x: number) => (x === 1 ? "100%" : `${(Math.floor(x * 1000) / 10).toFixed(1)}%`)
const signed = (ms: number) => (ms === 0 ? "0" : `${ms > 0 ? "+" : "-"}${formatDurationMs(Math.abs(ms))}`)
const signedRatio = (x: number, digits: number) => (x === 0 ? "0" : `${x > 0 ? "+" : ""}${x.toFixed(digits)}`)

/**
 * The comparison for people: one row per policy (wait percentiles and mean, JCT, GPU
 * utilisation, Jain's index over users), the differences against the first policy, then each
 * policy's own report (per team, queue and user).
 */
export const formatWhatIf = (r: WhatIfResult, o: { readonly maxRows?: number } = {}): string => {
  const header = ["policy", "jobs", "started", "wait p50", "p95", "p99", "max", "mean", "jct p50", "mean", "gpu util", "jain"]
  const rows = r.policies.map(({ name, metrics: m }) => [
    name,
    String(m.jobs),
    String(m.overall.started),
    ...[m.overall.waitP50Ms, m.overall.waitP95Ms, m.overall.waitP99Ms, m.overall.maxWaitMs, m.overall.waitMeanMs, m.overall.jctP50Ms, m.overall.jctMeanMs].map(formatDurationMs),
    percent(m.gpuUtilisation),
    m.jainFairness.toFixed(3)
  ])
  const out = [`workload ${r.workload.name} (${r.workload.jobs} jobs), ${r.gpus} GPUs, seed ${r.seed}`]
  const source = r.source
  if (source !== undefined) {
    out.push(
      `database ${source.database} (schema ${source.schemaVersion}), read ${source.snapshotAt}, runs from ${source.origin}; policy in force: v${source.currentPolicyVersion}`,
      ...source.notes.map((note) => `  ${note}`)
    )
  }
  out.push("", ...alignColumns([header, ...rows]))
  const [first, ...rest] = r.policies
  if (first !== undefined && rest.length > 0) {
    const base = first.metrics
    const diffHeader = [`against ${first.name}`, "wait p50", "p95", "p99", "mean", "jct mean", "gpu util", "jain"]
    const diffs = rest.map(({ name, metrics: m }) => [
      name,
      signed(m.overall.waitP50Ms - base.overall.waitP50Ms),
      signed(m.overall.waitP95Ms - base.overall.waitP95Ms),
      signed(m.overall.waitP99Ms - base.overall.waitP99Ms),
      signed(m.overall.waitMeanMs - base.overall.waitMeanMs),
      signed(m.overall.jctMeanMs - base.overall.jctMeanMs),
      `${signedRatio((m.gpuUtilisation - base.gpuUtilisation) * 100, 1)} pt`,
      signedRatio(m.jainFairness - base.jainFairness, 3)
    ])
    out.push("", ...alignColumns([diffHeader, ...diffs]))
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
