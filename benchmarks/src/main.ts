/**
 * `npm run bench [-- NAME] [-- --smoke]`: benchmarks with their baselines measured in the same run.
 *
 * On @effect/cli like `gantry` (apps/runner/src/Cli.ts): `bench` runs them all, `bench NAME`
 * one (dispatch, sim, runner, latency), `--smoke` (before or after NAME) small sizes;
 * `--help` prints help and runs nothing; an unknown benchmark or flag exits 64 and runs nothing.
 */
import { wrongWordBeforeCommand } from "@gantry/sim"
import { type CliApp, Command, Options, type ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Cause, Data, Effect, Exit, Option } from "effect"
import { runDispatch } from "./Dispatch.js"
import { runnerLatency } from "./RunnerLatency.js"
import { runnerThroughput } from "./RunnerThroughput.js"
import { engineMmc, jsHeapMmc, kernelMmc, simpyAvailable, simpyMmc } from "./Sim.js"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** A sibling entry of this bundle (benchmarks/bin/bench builds main and PendingRss together). */
const bundled = (name: string): string => {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), `${name}.mjs`)
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run the benchmarks with benchmarks/bin/bench (npm run bench)`)
  return file
}

/** What the command line asks: small sizes or not. Set before any benchmark runs. */
let smoke = false

const benches = {
  dispatch: () => {
    const sizes = smoke ? [1_000, 10_000] : [10_000, 100_000, 1_000_000]
    const rows = runDispatch(sizes, { repeats: smoke ? 20 : 200, scanUpTo: smoke ? 10_000 : 100_000 })
    console.log("dispatch: one decide() cycle (1,000 users, 50 teams, 8 queues, 64 GPUs, all limits on), median")
    console.log("pending    decide µs  starts  examined  µs/start  full-scan µs  speed-up")
    for (const r of rows)
      console.log(
        [
          String(r.pending).padStart(7),
          r.decideUs.toFixed(1).padStart(12),
          String(r.starts).padStart(7),
          String(r.examined).padStart(9),
          (r.decideUs / Math.max(1, r.starts)).toFixed(1).padStart(9),
          (r.scanUs === null ? "-" : r.scanUs.toFixed(0)).padStart(13),
          (r.scanUs === null ? "-" : `${(r.scanUs / r.decideUs).toFixed(0)}×`).padStart(9)
        ].join(" ")
      )
    const first = rows[0]!
    const last = rows[rows.length - 1]!
    console.log(`growth ${first.pending} → ${last.pending} pending: ${(last.decideUs / first.decideUs).toFixed(2)}×`)
  },

  sim: () => {
    const jobs = smoke ? 20_000 : 1_000_000
    const engineJobs = smoke ? 5_000 : 1_000_000
    const repeats = smoke ? 1 : 3
    const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const simpy = simpyAvailable()
    const baselineName = simpy ? "SimPy" : "JS event heap"
    const baseline = simpy ? simpyMmc : jsHeapMmc
    const runsPerSecond = (f: typeof kernelMmc, n: number, times = repeats) => {
      const results = Array.from({ length: times }, (_, r) => f(8, 0.9, n, r + 1))
      return { perSecond: n / median(results.map((x) => x.seconds)), wait: median(results.map((x) => x.meanWaitMs)) }
    }
    console.log(`sim: M/M/8 at load 0.9 (mean service 60 s), median of ${repeats} (the full engine: once); baseline ${baselineName}${simpy ? "" : " (python3-simpy3 not installed)"}`)
    console.log("model               jobs     jobs/s   mean wait s   vs baseline")
    const base = runsPerSecond(baseline, jobs)
    const rows: Array<[string, number, { perSecond: number; wait: number }]> = [
      [`${baselineName}`, jobs, base],
      ["gantry kernel", jobs, runsPerSecond(kernelMmc, jobs)],
      ["gantry engine", engineJobs, runsPerSecond(engineMmc, engineJobs, 1)]
    ]
    for (const [name, n, r] of rows)
      console.log(
        [name.padEnd(16), String(n).padStart(8), r.perSecond.toFixed(0).padStart(10), (r.wait / 1000).toFixed(1).padStart(13), `${(r.perSecond / base.perSecond).toFixed(2)}×`.padStart(13)].join(" ")
      )
    const repo = new URL("../..", import.meta.url).pathname
    // the gantry CLI's own bundle, as users run `gantry sim`; it reports its time and peak RSS on stderr
    const gantry = (...args: ReadonlyArray<string>) => {
      const out = spawnSync(`${repo}apps/runner/bin/gantry`, args, { cwd: repo, encoding: "utf8", maxBuffer: 64 << 20 })
      if (out.status !== 0) throw new Error(`gantry ${args.join(" ")}: exit ${out.status}\n${out.stderr}`)
      return /replayed .*/.exec(out.stderr)?.[0] ?? "?"
    }
    const trace = `${repo}../shared/data/philly-jobs.csv`
    if (fs.existsSync(trace)) {
      const policies = ["fifo", "priority", "fair-share", "backfill"].flatMap((p) => ["--policy", p])
      const line = gantry("sim", "--csv", trace, "--gpus", "512", ...policies, "--format", "json", ...(smoke ? ["--limit", "2000"] : []))
      console.log(`philly, four policies side by side (gantry sim, worker threads), 512 GPUs${smoke ? ", first 2,000 jobs" : ""}: ${line}`)
    } else console.log("philly replay: ../shared/data/philly-jobs.csv not here, skipped")
    const mmcJobs = smoke ? 20_000 : 1_000_000
    console.log(`M/M/8 through the full engine (gantry sim mmc --jobs ${mmcJobs}): ${gantry("sim", "mmc", "--jobs", String(mmcJobs), "--format", "json")}`)
    const held = smoke ? 10_000 : 1_000_000
    const pending = JSON.parse(execFileSync(process.execPath, [bundled("PendingRss"), String(held)], { cwd: repo, encoding: "utf8" })) as { pending: number; maxRssMiB: number; seconds: number }
    console.log(`${pending.pending} pending runs held by the full engine: peak RSS ${pending.maxRssMiB.toFixed(0)} MiB (submitted in ${pending.seconds.toFixed(1)} s)`)
  },
  runner: async () => {
    const runs = smoke ? 50 : 2_000
    const rows = await runnerThroughput(runs, smoke ? 1 : 3)
    console.log(`runner: ${runs} \`true\` runs end to end, submitted one at a time (tsp: its client; gantry: HTTP API, synchronous=FULL), median of ${smoke ? 1 : 3}`)
    console.log("slots  gantry runs/s  tsp runs/s  gantry/tsp")
    for (const r of rows)
      console.log(
        [
          String(r.slots).padStart(5),
          r.gantryRunsPerSecond.toFixed(1).padStart(14),
          (r.tspRunsPerSecond === null ? "no tsp" : r.tspRunsPerSecond.toFixed(1)).padStart(11),
          (r.tspRunsPerSecond === null ? "-" : `${(r.gantryRunsPerSecond / r.tspRunsPerSecond).toFixed(2)}×`).padStart(11)
        ].join(" ")
      )
    if (rows.some((r) => r.tspRunsPerSecond === null)) console.log("task-spooler is not installed (apt-get install task-spooler): no baseline")
  },
  latency: async () => {
    const r = await runnerLatency(smoke ? 20 : 200)
    console.log(`latency: a run's exit → the next pending run's first instruction, gantry serve, 1 slot, synchronous=FULL, ${r.runs} runs`)
    console.log(`p50 ${r.p50Ms.toFixed(2)} ms   p99 ${r.p99Ms.toFixed(2)} ms   max ${r.maxMs.toFixed(2)} ms   mean ${r.meanMs.toFixed(2)} ms`)
    console.log("a 5 s poll loop waits 2,500 ms on average (5,000 ms worst); a 10 s one 5,000 ms (10,000 ms worst)")
  }
}

type Name = keyof typeof benches

const DESCRIPTIONS: Record<Name, string> = {
  dispatch: "one decide() cycle at 10k / 100k / 1M pending runs, against the full-scan decision",
  sim: "M/M/8 at load 0.9: the simulator kernel and the full engine against SimPy; the Philly replay; 1M pending runs held",
  runner: "2,000 `true` runs end to end through gantry serve (synchronous=FULL), 1 and 2 slots, against task-spooler",
  latency: "a run's exit → the next pending run's first instruction, 200 runs, one slot"
}

/** A refusal of the command line: printed as `bench: message`, exit 64. */
class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const smokeOption = Options.boolean("smoke").pipe(Options.withDescription("small sizes (what npm test runs): checks that the benchmarks work, measures nothing worth reading"))

const runBenches = (names: ReadonlyArray<Name>, small: boolean) =>
  Effect.promise(async () => {
    smoke = small
    for (const name of names) await benches[name]()
  })

const bench = Command.make("bench", { smoke: smokeOption }, ({ smoke: small }) => runBenches(Object.keys(benches) as Array<Name>, small)).pipe(
  Command.withDescription("gantry's benchmarks, each with its baseline measured in the same run (benchmarks/README.md); with no NAME, all of them")
)

const one = (name: Name) =>
  Command.make(name, { smoke: smokeOption }, ({ smoke: small }) =>
    // `bench --smoke NAME` and `bench NAME --smoke` both mean small sizes
    Effect.flatMap(bench, (parent) => runBenches([name], small || parent.smoke))
  ).pipe(Command.withDescription(DESCRIPTIONS[name]))

const cli = Command.run(bench.pipe(Command.withSubcommands([one("dispatch"), one("sim"), one("runner"), one("latency")])), { name: "bench", version: "0.1.0" })

const COMMANDS: ReadonlyArray<string> = Object.keys(benches)
const OWN_FLAGS: ReadonlyArray<string> = ["--smoke"]


const program = Effect.suspend((): Effect.Effect<void, ValidationError.ValidationError | UsageError, CliApp.CliApp.Environment> => {
  const unknown = wrongWordBeforeCommand(process.argv, { commands: COMMANDS, ownFlags: OWN_FLAGS, noun: "benchmark" })
  return unknown === null ? cli(process.argv) : Effect.fail(new UsageError({ message: unknown }))
})

const exit = await Effect.runPromiseExit(program.pipe(Effect.provide(NodeContext.layer)))
if (Exit.isFailure(exit)) {
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    // a UsageError is ours; anything else @effect/cli has already printed
    if (failure.value instanceof UsageError) process.stderr.write(`bench: ${failure.value.message}\n`)
    process.exit(64)
  }
  process.stderr.write(`bench: ${Cause.pretty(exit.cause)}\n`)
  process.exit(70)
}
