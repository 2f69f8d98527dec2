/**
 * `npm run sim -- <command>`: the simulator from the command line, on @effect/cli like
 * `gantry` (apps/runner/src/Cli.ts): `--help` (on the whole tool or on a command) prints
 * help and runs nothing; an unknown command or flag, or a malformed value, prints what was
 * wrong and exits 64 without running anything.
 *
 *   demo                      two policies on one generated workload, side by side
 *   philly [--gpus N] [--limit N] [--seed S] [--path FILE] [--shared] [--time-limit-factor F]
 *                             replay ../shared/data/philly-jobs.csv through the full engine;
 *                             with F, every job declares timeLimit = duration × F (F ≥ 1),
 *                             which lets EASY backfill work (the trace has no time limits)
 *   mmc [--servers C] [--load R] [--jobs N] [--seed S]
 *                             an M/M/c queue against the Erlang-C formula
 */
import { wrongWordBeforeCommand } from "./CliArgs.js"
import { Command, HelpDoc, Options } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { defaultPolicy, type Policy, sharedPolicy } from "@gantry/core"
import { PHASES } from "@gantry/engine"
import { Cause, Data, Effect, Exit, Option } from "effect"
import { fileURLToPath } from "node:url"
import { dirname, resolve } from "node:path"
import { mmcMeanWaitMs } from "./ErlangC.js"
import { formatDurationMs, formatMetrics } from "./Metrics.js"
import { defaultPhillyPath, loadPhillyCsv } from "./Philly.js"
import { simulate, type SimReport } from "./Simulate.js"
import { generateWorkload, mmcWorkload } from "./Workload.js"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")

/** A refusal of the command line: printed as `gantry sim: message`, exit 64 (or `exit`). */
class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string; readonly exit?: number }> {}

/**
 * A number flag, checked while the command line is parsed (so a bad value runs nothing):
 * a whole number ≥ 0 (counts, sizes, seeds), or any number ≥ `min`.
 */
const numberOption = (name: string, pseudoName: string, description: string, kind: { readonly whole: true } | { readonly min: number }) =>
  Options.text(name).pipe(
    Options.withPseudoName(pseudoName),
    Options.withDescription(description),
    Options.mapTryCatch(
      (raw) => {
        const value = Number(raw)
        if ("whole" in kind) {
          if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) throw new Error(`--${name} takes a whole number ≥ 0, got "${raw}"`)
        } else if (raw.trim() === "" || !Number.isFinite(value) || value < kind.min) throw new Error(`--${name} takes a number ≥ ${kind.min}, got "${raw}"`)
        return value
      },
      (error) => HelpDoc.p(error instanceof Error ? error.message : String(error))
    )
  )

const whole = { whole: true } as const

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

const phillyCommand = Command.make(
  "philly",
  {
    gpus: numberOption("gpus", "N", "GPUs of the simulated machine (default 512)", whole).pipe(Options.withDefault(512)),
    limit: numberOption("limit", "N", "replay only the first N jobs of the trace (default: all 82,247)", whole).pipe(Options.optional),
    seed: numberOption("seed", "S", "the simulation's seed (default 1)", whole).pipe(Options.withDefault(1)),
    path: Options.text("path").pipe(Options.optional, Options.withDescription("the trace CSV (default: ../shared/data/philly-jobs.csv beside the repository)")),
    shared: Options.boolean("shared").pipe(Options.withDescription("the shared policy preset (global 5, per user 2, per team 10) instead of the default policy")),
    timeLimitFactor: numberOption(
      "time-limit-factor",
      "F",
      "every job declares timeLimit = duration × F (F ≥ 1), so EASY backfill can work (the trace has no time limits)",
      { min: 1 }
    ).pipe(Options.optional)
  },
  (a) =>
    Effect.gen(function* () {
      const { gpus, seed } = a
      const limit = Option.getOrUndefined(a.limit)
      const factor = Option.getOrNull(a.timeLimitFactor)
      const path = Option.getOrElse(a.path, () => defaultPhillyPath(repoRoot))
      const loaded = yield* Effect.try({
        try: () => loadPhillyCsv(path, limit === undefined ? {} : { limit }),
        catch: (error) => new UsageError({ message: error instanceof Error ? error.message : String(error), exit: 66 })
      })
      yield* Effect.sync(() => {
        const workload =
          factor === null
            ? loaded
            : { ...loaded, jobs: loaded.jobs.map((job) => ({ ...job, timeLimitMs: Math.ceil(job.durationMs * factor) + 1 })) }
        const policy = a.shared ? sharedPolicy : defaultPolicy
        const { result, wallMs, peakRssMiB } = measure(() => simulate({ seed, workload, gpus, policy, eventLog: false, print: console.log }))
        console.log(summary(result))
        console.log(formatMetrics(result.metrics, { maxRows: 8 }))
        console.log(`wall ${(wallMs / 1000).toFixed(2)} s, peak RSS ${peakRssMiB.toFixed(0)} MiB, ${(workload.jobs.length / (wallMs / 1000)).toFixed(0)} jobs/s`)
      })
    })
).pipe(Command.withDescription("replay the Philly trace (../shared/data/philly-jobs.csv, 82,247 jobs) through the full engine"))

const mmcCommand = Command.make(
  "mmc",
  {
    servers: numberOption("servers", "C", "servers (GPUs) c (default 8)", whole).pipe(Options.withDefault(8)),
    load: numberOption("load", "R", "offered load per server ρ, below 1 for a stable queue (default 0.9)", { min: 0 }).pipe(Options.withDefault(0.9)),
    jobs: numberOption("jobs", "N", "jobs to simulate (default 100,000)", whole).pipe(Options.withDefault(100_000)),
    seed: numberOption("seed", "S", "the simulation's seed (default 1)", whole).pipe(Options.withDefault(1))
  },
  (a) =>
    Effect.sync(() => {
        const { servers, load, jobs, seed } = a
        const meanServiceMs = 60_000
        const workload = mmcWorkload({ seed, jobs, servers, load, meanServiceMs })
        const { result, wallMs } = measure(() => simulate({ seed, workload, gpus: servers, eventLog: false, print: console.log }))
        const expected = mmcMeanWaitMs({ servers, arrivalRatePerMs: (load * servers) / meanServiceMs, meanServiceMs })
        console.log(summary(result))
        console.log(`mean wait ${result.metrics.overall.waitMeanMs.toFixed(0)} ms, Erlang C ${expected.toFixed(0)} ms; wall ${(wallMs / 1000).toFixed(2)} s`)
    })
).pipe(Command.withDescription("an M/M/c queue (exponential arrivals and service, mean 60 s) against the Erlang-C formula"))

const demoCommand = Command.make("demo", {}, () => Effect.sync(demo)).pipe(
  Command.withDescription("two policies on one generated workload (2,000 jobs, 16 GPUs), side by side")
)

const sim = Command.make("sim", {}, () => Effect.fail(new UsageError({ message: "a command is needed: demo, philly or mmc (--help says more)" }))).pipe(
  Command.withSubcommands([demoCommand, phillyCommand, mmcCommand]),
  Command.withDescription("the gantry simulator: the same engine on simulated time")
)

const cli = Command.run(sim, { name: "gantry sim", version: "0.1.0" })

const COMMANDS: ReadonlyArray<string> = ["demo", "philly", "mmc"]
const OWN_FLAGS: ReadonlyArray<string> = []


const program = Effect.suspend(() => {
  const unknown = wrongWordBeforeCommand(process.argv, { commands: COMMANDS, ownFlags: OWN_FLAGS, noun: "command" })
  return unknown === null ? cli(process.argv) : Effect.fail(new UsageError({ message: unknown }))
})

Effect.runPromiseExit(program.pipe(Effect.provide(NodeContext.layer))).then((exit) => {
  if (Exit.isSuccess(exit)) return
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (error instanceof UsageError) {
      process.stderr.write(`gantry sim: ${error.message}\n`)
      return process.exit(error.exit ?? 64)
    }
    // @effect/cli has already printed what was wrong with the command line
    return process.exit(64)
  }
  process.stderr.write(`gantry sim: internal error\n${Cause.pretty(exit.cause)}\n`)
  process.exit(70)
})
