/**
 * What-if before a rollout (issue 12): one workload replayed through the full engine under
 * each policy, the same seed and machine for all, and their metrics side by side with the
 * difference against the first (the one in force, or the baseline).
 */
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
}

export interface WhatIfResult {
  readonly workload: { readonly name: string; readonly jobs: number; readonly description: string }
  readonly gpus: number
  readonly seed: number
  readonly policies: ReadonlyArray<{ readonly name: string; readonly metrics: Metrics; readonly refused: number }>
}

/** Replays the workload under each policy, in the order given. */
export const whatIf = (o: WhatIfOptions): WhatIfResult => ({
  workload: { name: o.workload.name, jobs: o.workload.jobs.length, description: o.workload.description },
  gpus: o.gpus,
  seed: o.seed,
  policies: o.policies.map(({ name, policy }) => {
    const report = simulate({ seed: o.seed, workload: o.workload, gpus: o.gpus, policy, eventLog: false })
    return { name, metrics: report.metrics, refused: report.refused }
  })
})

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
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
  const out = [`workload ${r.workload.name} (${r.workload.jobs} jobs), ${r.gpus} GPUs, seed ${r.seed}`, "", ...alignColumns([header, ...rows])]
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
  for (const { name, metrics } of r.policies) out.push("", `== ${name}`, formatMetrics(metrics, { maxRows: o.maxRows ?? 8 }).trimEnd())
  return `${out.join("\n")}\n`
}
