/**
 * `npm run sim -- <command>`: the simulator from the command line.
 *
 *   demo                      two policies on one generated workload, side by side
 *   philly [--gpus N] [--limit N] [--seed S] [--path FILE] [--shared] [--time-limit-factor F]
 *                             replay ../shared/data/philly-jobs.csv through the full engine;
 *                             with F, every job declares timeLimit = duration × F (F ≥ 1),
 *                             which lets EASY backfill work (the trace has no time limits)
 *   mmc [--servers C] [--load R] [--jobs N] [--seed S]
 *                             an M/M/c queue against the Erlang-C formula
 */
import { defaultPolicy, type Policy, sharedPolicy } from "@gantry/core"
import { PHASES } from "@gantry/engine"
import { fileURLToPath } from "node:url"
import { dirname, resolve } from "node:path"
import { mmcMeanWaitMs } from "./ErlangC.js"
import { formatDurationMs, formatMetrics } from "./Metrics.js"
import { defaultPhillyPath, loadPhillyCsv } from "./Philly.js"
import { simulate, type SimReport } from "./Simulate.js"
import { generateWorkload, mmcWorkload } from "./Workload.js"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")

const flag = (args: ReadonlyArray<string>, name: string): string | undefined => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
const numberFlag = (args: ReadonlyArray<string>, name: string, fallback: number): number => {
  const raw = flag(args, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new UsageError(`--${name} takes a non-negative number, got "${raw}"`)
  return value
}

class UsageError extends Error {}

const measure = <A>(f: () => A): { result: A; wallMs: number; peakRssMiB: number } => {
  let peak = process.memoryUsage().rss
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
  const t0 = performance.now()
  try {
    const result = f()
    return { result, wallMs: performance.now() - t0, peakRssMiB: Math.max(peak, process.memoryUsage().rss) / 2 ** 20 }
  } finally {
    clearInterval(sampler)
  }
}

const summary = (r: SimReport): string =>
  `submitted ${r.submitted}, refused ${r.refused}, ${r.events} run events, ${r.cycles} cycles, simulated ${formatDurationMs(r.simulatedMs)}\n` +
  `cycle phases (total / max ms): ${PHASES.map((p) => `${p} ${r.phases[p].totalMs.toFixed(0)}/${r.phases[p].maxMs.toFixed(2)}`).join(", ")}`

const demo = () => {
  const workload = generateWorkload({
    seed: 42,
    jobs: 2_000,
    arrivalRatePerHour: 90,
    burstProbability: 0.05,
    users: 12,
    teams: 3,
    levels: [["researcher", 8], ["lead", 3], ["admin", 1]],
    gpuMix: [[0, 1], [1, 60], [2, 20], [4, 12], [8, 7]],
    durationMedianMs: 20 * 60_000,
    durationSigma: 1.3,
    timeLimitProbability: 0.6,
    failureProbability: 0.05
  })
  const policies: ReadonlyArray<readonly [string, Policy]> = [
    ["default (FIFO by priority, EASY backfill)", defaultPolicy],
    ["shared preset, backfill off", { ...sharedPolicy, backfill: false }]
  ]
  for (const [name, policy] of policies) {
    const report = simulate({ seed: 42, workload, gpus: 16, policy, eventLog: false, print: console.log })
    console.log(`\n== ${name}: ${summary(report)}`)
    console.log(formatMetrics(report.metrics, { maxRows: 5 }))
  }
}

const philly = (args: ReadonlyArray<string>) => {
  const path = flag(args, "path") ?? defaultPhillyPath(repoRoot)
  const limit = flag(args, "limit")
  const gpus = numberFlag(args, "gpus", 512)
  const seed = numberFlag(args, "seed", 1)
  const loaded = loadPhillyCsv(path, limit === undefined ? {} : { limit: numberFlag(args, "limit", 0) })
  const factor = flag(args, "time-limit-factor") === undefined ? null : numberFlag(args, "time-limit-factor", 1)
  if (factor !== null && factor < 1) throw new UsageError("--time-limit-factor must be at least 1")
  const workload =
    factor === null
      ? loaded
      : { ...loaded, jobs: loaded.jobs.map((job) => ({ ...job, timeLimitMs: Math.ceil(job.durationMs * factor) + 1 })) }
  const policy = args.includes("--shared") ? sharedPolicy : defaultPolicy
  const { result, wallMs, peakRssMiB } = measure(() => simulate({ seed, workload, gpus, policy, eventLog: false, print: console.log }))
  console.log(summary(result))
  console.log(formatMetrics(result.metrics, { maxRows: 8 }))
  console.log(`wall ${(wallMs / 1000).toFixed(2)} s, peak RSS ${peakRssMiB.toFixed(0)} MiB, ${(workload.jobs.length / (wallMs / 1000)).toFixed(0)} jobs/s`)
}

const mmc = (args: ReadonlyArray<string>) => {
  const servers = numberFlag(args, "servers", 8)
  const load = numberFlag(args, "load", 0.9)
  const jobs = numberFlag(args, "jobs", 100_000)
  const seed = numberFlag(args, "seed", 1)
  const meanServiceMs = 60_000
  const workload = mmcWorkload({ seed, jobs, servers, load, meanServiceMs })
  const { result, wallMs } = measure(() => simulate({ seed, workload, gpus: servers, eventLog: false, print: console.log }))
  const expected = mmcMeanWaitMs({ servers, arrivalRatePerMs: (load * servers) / meanServiceMs, meanServiceMs })
  console.log(summary(result))
  console.log(`mean wait ${result.metrics.overall.waitMeanMs.toFixed(0)} ms, Erlang C ${expected.toFixed(0)} ms; wall ${(wallMs / 1000).toFixed(2)} s`)
}

const main = (args: ReadonlyArray<string>) => {
  const [command, ...rest] = args
  switch (command) {
    case "demo":
      return demo()
    case "philly":
      return philly(rest)
    case "mmc":
      return mmc(rest)
    default:
      throw new UsageError(`unknown command "${command ?? ""}": use demo, philly or mmc`)
  }
}

try {
  main(process.argv.slice(2))
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`gantry sim: ${error.message}`)
    process.exit(64)
  }
  throw error
}
