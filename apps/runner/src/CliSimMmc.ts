/**
 * `gantry sim mmc`: the simulator checked against queueing theory. An M/M/c queue replayed
 * through the full engine; its mean wait with a 95% confidence interval (batch means) beside
 * the Erlang-C value (libs/sim Mmc.ts).
 */
import { Command, Options } from "@effect/cli"
import { formatMmc, runMmc } from "@gantry/sim"
import { Effect } from "effect"
import { print } from "./CliCommon.js"
import { peakRssMiB } from "./CliSim.js"
import * as F from "./Format.js"
import { usage } from "./Input.js"

export const simMmcOptions = {
  servers: Options.integer("servers").pipe(Options.withDefault(8), Options.withDescription("servers (GPUs) c")),
  load: Options.float("load").pipe(Options.withDefault(0.9), Options.withDescription("utilisation per server ρ, in (0, 1)")),
  jobs: Options.integer("jobs").pipe(Options.withDefault(100_000), Options.withDescription("jobs to simulate (more narrow the interval)")),
  seed: Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("the simulation's seed")),
  batches: Options.integer("batches").pipe(Options.withDefault(30), Options.withDescription("batches of the batch-means interval (at least 2)")),
  format: Options.choice("format", ["table", "json"]).pipe(Options.withDefault("table" as const), Options.withDescription("table (for people) or json"))
}

export const simMmcCommand = Command.make("mmc", simMmcOptions, (a) =>
  Effect.gen(function* () {
    if (a.servers < 1) return yield* usage(`--servers must be at least 1, not ${a.servers}`)
    if (!(a.load > 0 && a.load < 1)) return yield* usage(`--load must be in (0, 1) for a stable queue, not ${a.load}`)
    if (a.batches < 2) return yield* usage(`--batches must be at least 2, not ${a.batches}`)
    if (a.jobs < a.batches * 2) return yield* usage(`--jobs must be at least twice --batches (${a.batches * 2}), not ${a.jobs}`)
    const check = runMmc({ servers: a.servers, load: a.load, jobs: a.jobs, seed: a.seed, batches: a.batches })
    process.stderr.write(`replayed ${a.jobs} jobs in ${(check.wallMs / 1000).toFixed(2)} s, peak RSS ${peakRssMiB()} MiB\n`)
    yield* print(a.format === "json" ? F.json(check) : formatMmc(check))
  })
).pipe(Command.withDescription("an M/M/c queue through the full engine: its mean wait with a 95% confidence interval, against the Erlang-C formula"))
