/**
 * `gantry sim` (issue 12): what-if before a rollout. A workload (`--csv PATH`: the Philly
 * trace's format or gantry's own, `.jsonl` for gantry's JSONL; `--from-db PATH`: a runner
 * database's own history; or `--generate`) replayed through the full engine on simulated time
 * under each `--policy` (a preset, a policy file as the runner loads them, or, with --from-db,
 * `current`: the database's policy in force), side by side. A history is also compared with
 * what really happened (the shadow fidelity, libs/sim Fidelity.ts). Bad input (a row, a column,
 * a policy key, a database that is not gantry's) is exit 65 naming it; a file that cannot be
 * read, 66; a wrong combination of options, 64.
 * `--report PATH` also writes the self-contained HTML report (libs/sim HtmlReport.ts; a file
 * that cannot be written is exit 73, like other outputs), saying where on stderr.
 */
import { Command, Options } from "@effect/cli"
import { defaultPolicy } from "@gantry/core"
import {
  currentPolicyName,
  formatWhatIf,
  generateWorkload,
  renderHtmlReport,
  parseGantryWorkload,
  parsePhillyCsv,
  PHILLY_HEADER,
  PolicyInputError,
  type NamedPolicy,
  PRESETS,
  replayOfHistory,
  resolvePolicy,
  type Workload,
  type WhatIfOptions
} from "@gantry/sim"
import { HistoryError, readHistory } from "@gantry/store-sqlite"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { print } from "./CliCommon.js"
import { runWhatIf } from "./SimWorkers.js"
import * as F from "./Format.js"
import { CliError, duration, usage } from "./Input.js"

/** An optional text option and what it is for. */
const optionalText = (name: string, description: string) => Options.text(name).pipe(Options.optional, Options.withDescription(description))

export const simOptions = {
  format: Options.choice("format", ["table", "json"]).pipe(Options.withDefault("table" as const), Options.withDescription("table (for people) or json")),
  csv: optionalText("csv", "the workload: a CSV in the Philly trace's format or gantry's (a header naming user, gpus, submit, duration, …: docs/SIM.md); a .jsonl file in gantry's JSONL"),
  fromDb: Options.text("from-db").pipe(
    Options.optional,
    Options.withDescription(
      "the workload: a runner database's own history (read-only, one consistent snapshot; a live daemon is not disturbed), compared with what really happened; --policy current is its policy in force"
    )
  ),
  generate: Options.boolean("generate").pipe(Options.withDescription("a generated workload instead (seeded; --jobs, --users, --teams, --load)")),
  policy: Options.text("policy").pipe(
    Options.repeated,
    Options.withDescription(
      `a policy to replay: ${PRESETS.join(", ")}, a policy file (gantry limits --format json > p.json), or current (with --from-db: the database's policy in force); repeat to compare, the first is the baseline (default: fifo, backfill; with --from-db: current, backfill)`
    )
  ),
  gpus: Options.integer("gpus").pipe(
    Options.optional,
    Options.withDescription("GPUs of the simulated machine (default 16 with --generate, the database's GPU inventory with --from-db; required with --csv)")
  ),
  seed: Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("the simulation's seed (the same seed and workload give the same result)")),
  limit: Options.integer("limit").pipe(Options.optional, Options.withDescription("replay only the first N jobs of the CSV, by submission")),
  jobs: Options.integer("jobs").pipe(Options.withDefault(2_000), Options.withDescription("--generate: how many jobs")),
  users: Options.integer("users").pipe(Options.withDefault(12), Options.withDescription("--generate: how many users")),
  teams: Options.integer("teams").pipe(Options.withDefault(3), Options.withDescription("--generate: how many teams (users are spread over them)")),
  report: optionalText("report", "also write the report as one self-contained HTML file at PATH (charts and tables; opens without a network)"),
  threads: Options.integer("threads").pipe(
    Options.optional,
    Options.withDescription("replay at most N policies at once, each in a worker thread (default: one per core; 1: one after the other, the same results)")
  ),
  until: optionalText("until", "stop each replay this long after the workload's first instant, e.g. 7d or 36h (later arrivals are not submitted; runs waiting or running then count as such)"),
  waitThreshold: optionalText("wait-threshold", "what counts as a long wait in the report, e.g. 30m, 2h (default 1h)"),
  load: Options.float("load").pipe(
    Options.withDefault(0.9),
    Options.withDescription("--generate: the offered load, GPU-hours asked per GPU-hour of the machine (about; 0.9 keeps a queue without drowning it)")
  )
}

// the generated workload's shape: mostly 1-GPU runs, some of 2, 4 and 8; a lognormal duration
const GPU_MIX: ReadonlyArray<readonly [number, number]> = [
  [1, 60],
  [2, 20],
  [4, 12],
  [8, 8]
]
const MEDIAN_MS = 20 * 60_000
const SIGMA = 1.3
const BURST_PROBABILITY = 0.05
const BURST_SIZE: readonly [number, number] = [2, 8]

/** Arrival events per hour that offer `load` of `gpus` (mean GPUs × mean duration × jobs per event). */
export const arrivalRateFor = (load: number, gpus: number, mix: ReadonlyArray<readonly [number, number]>): number => {
  const meanGpus = mix.reduce((s, [g, w]) => s + g * w, 0) / mix.reduce((s, [, w]) => s + w, 0)
  const meanHours = (MEDIAN_MS * Math.exp((SIGMA * SIGMA) / 2)) / 3_600_000
  const jobsPerEvent = 1 + BURST_PROBABILITY * ((BURST_SIZE[0] + BURST_SIZE[1]) / 2 - 1)
  return (load * gpus) / (meanGpus * meanHours * jobsPerEvent)
}

type SimArgs = { readonly [K in keyof typeof simOptions]: (typeof simOptions)[K] extends Options.Options<infer A> ? A : never }

const bad = (message: string, exit: number) => new CliError({ message, exit })

const loadCsv = (path: string, limit: number | undefined): Effect.Effect<Workload, CliError> =>
  Effect.gen(function* () {
    const text = yield* Effect.try({ try: () => fs.readFileSync(path, "utf8"), catch: () => bad(`--csv ${path}: cannot read it`, 66) })
    const workload = yield* Effect.try({
      try: () => {
        if (text.split(/\r?\n/, 1)[0]?.trim() === PHILLY_HEADER) return parsePhillyCsv(text, limit === undefined ? {} : { limit })
        return parseGantryWorkload(text, { file: path, jsonl: path.endsWith(".jsonl") })
      },
      catch: (e) => bad(e instanceof Error ? e.message.replace(/^philly csv/, path) : String(e), 65)
    })
    return limit === undefined ? workload : { ...workload, jobs: workload.jobs.slice(0, limit) }
  })

/** `--from-db PATH`: the history, read in one snapshot; an unreadable file is 66, one that is not gantry's (or too new) 65. */
const loadHistory = (path: string) =>
  Effect.try({
    try: () => readHistory(path),
    catch: (e) => (e instanceof HistoryError ? bad(`--from-db ${e.message}`, e.kind === "unreadable" ? 66 : 65) : bad(`--from-db ${path}: ${String(e)}`, 66))
  })

/** The policy in force in a history: its stored policy, else the runner's default (what a runner with no stored policy uses). */
const CURRENT = "current"

/** The HTML report at `path` (0644, replaced whole: written beside it, then renamed); where it is, on stderr. */
const writeReport = (path: string, html: string): Effect.Effect<void, CliError> =>
  Effect.try({
    try: () => {
      const tmp = `${path}.${process.pid}.tmp`
      try {
        fs.writeFileSync(tmp, html, { mode: 0o644 })
        fs.chmodSync(tmp, 0o644)
        fs.renameSync(tmp, path)
      } catch (e) {
        fs.rmSync(tmp, { force: true })
        throw e
      }
      process.stderr.write(`report: ${nodePath.resolve(path)} (${Math.round(html.length / 1024)} KiB)\n`)
    },
    catch: (e) => bad(`--report ${path}: cannot write it${typeof (e as NodeJS.ErrnoException).code === "string" ? ` (${(e as NodeJS.ErrnoException).code})` : ""}`, 73)
  })

/** The process's peak resident memory so far, worker threads included (MiB). */
export const peakRssMiB = (): number => Math.round(process.resourceUsage().maxRSS / 1024)

export const simCommand = Command.make("sim", simOptions, (a: SimArgs) =>
  Effect.gen(function* () {
    const sources = [Option.isSome(a.csv), Option.isSome(a.fromDb), a.generate].filter(Boolean).length
    if (sources !== 1) return yield* usage("give the workload: --csv PATH, --from-db PATH or --generate (one of them)")
    if (Option.isNone(a.fromDb) && a.policy.includes(CURRENT))
      return yield* usage("--policy current is a runner database's policy in force: it needs --from-db PATH")
    const limit = Option.getOrUndefined(a.limit)
    if (limit !== undefined && limit < 1) return yield* usage(`--limit must be at least 1, not ${limit}`)
    if (Option.isSome(a.fromDb) && limit !== undefined) return yield* usage("--limit is for --csv; --from-db replays the whole history")
    const givenGpus = Option.getOrUndefined(a.gpus)
    if (givenGpus !== undefined && givenGpus < 1) return yield* usage(`--gpus must be at least 1, not ${givenGpus}`)
    if (Option.isSome(a.csv) && givenGpus === undefined) return yield* usage("--csv needs --gpus N: the machine to replay it on")
    if (a.generate && (a.jobs < 1 || a.users < 1 || a.teams < 0 || !(a.load > 0)))
      return yield* usage("--jobs and --users must be at least 1, --teams at least 0, --load more than 0")
    const history = Option.isSome(a.fromDb) ? yield* loadHistory(a.fromDb.value) : null
    const gpus = givenGpus ?? (a.generate ? 16 : history !== null && history.gpuCount !== null && history.gpuCount > 0 ? history.gpuCount : undefined)
    if (gpus === undefined) return yield* usage(`--from-db ${history?.source}: no GPU inventory stored (a machine without GPUs?): give --gpus N, the machine to replay it on`)
    const waitThresholdMs = yield* duration("wait-threshold", a.waitThreshold)
    const reportPath = Option.getOrUndefined(a.report)
    if (reportPath === "") return yield* usage("--report needs a file path")
    const policies = yield* Effect.try({
      try: () =>
        (a.policy.length === 0 ? (history === null ? ["fifo", "backfill"] : [CURRENT, "backfill"]) : a.policy).map(
          (spec): NamedPolicy =>
            spec === CURRENT && history !== null ? { name: currentPolicyName(history.policy, defaultPolicy), policy: history.policy ?? defaultPolicy } : resolvePolicy(spec)
        ),
      catch: (e) => bad(e instanceof PolicyInputError ? e.message : String(e), 65)
    })
    const untilMs = yield* duration("until", a.until)
    const shared = { gpus, seed: a.seed, policies, waitThresholdMs, series: reportPath !== undefined, ...(untilMs === undefined ? {} : { untilMs }) }
    let options: WhatIfOptions
    if (history !== null) {
      const replay = replayOfHistory(history)
      const tooBig = replay.workload.jobs.find((j) => j.gpus > gpus)
      if (tooBig !== undefined) return yield* bad(`run ${tooBig.id} asks for ${tooBig.gpus} GPUs; the machine has ${gpus} (--gpus)`, 65)
      options = {
        ...shared,
        workload: replay.workload,
        queues: replay.queues,
        history: {
          real: replay.real,
          horizonMs: replay.horizonMs,
          source: {
            database: history.source,
            snapshotAt: new Date(history.snapshotAt).toISOString(),
            origin: new Date(replay.originMs).toISOString(),
            schemaVersion: history.schemaVersion,
            currentPolicyVersion: (history.policy ?? defaultPolicy).version,
            counts: replay.counts,
            notes: replay.notes
          }
        }
      }
    } else {
      const mix = GPU_MIX.filter(([g]) => g <= gpus)
      const workload = Option.isSome(a.csv)
        ? yield* loadCsv(a.csv.value, limit)
        : generateWorkload({
            seed: a.seed,
            jobs: a.jobs,
            arrivalRatePerHour: arrivalRateFor(a.load, gpus, mix),
            burstProbability: BURST_PROBABILITY,
            burstSize: BURST_SIZE,
            users: a.users,
            teams: a.teams,
            levels: [
              ["researcher", 8],
              ["lead", 3],
              ["admin", 1]
            ],
            gpuMix: mix,
            durationMedianMs: MEDIAN_MS,
            durationSigma: SIGMA,
            timeLimitProbability: 0.6,
            failureProbability: 0.05,
            name: `generated-s${a.seed}-n${a.jobs}-load${a.load}`
          })
      const tooBig = workload.jobs.find((j) => j.gpus > gpus)
      if (tooBig !== undefined) return yield* bad(`job ${tooBig.id} asks for ${tooBig.gpus} GPUs; the machine has ${gpus} (--gpus)`, 65)
      options = { ...shared, workload }
    }
    const t0 = performance.now()
    const threads = Option.getOrUndefined(a.threads)
    if (threads !== undefined && threads < 1) return yield* usage(`--threads must be at least 1, not ${threads}`)
    const result = yield* Effect.promise(() => runWhatIf(options, threads))
    process.stderr.write(
      `replayed ${options.workload.jobs.length} jobs under ${policies.length} ${policies.length === 1 ? "policy" : "policies"} in ${((performance.now() - t0) / 1000).toFixed(2)} s, peak RSS ${peakRssMiB()} MiB\n`
    )
    if (reportPath !== undefined) yield* writeReport(reportPath, renderHtmlReport(result))
    yield* print(a.format === "json" ? F.json(result) : formatWhatIf(result))
  })
).pipe(Command.withDescription("what-if: replay a workload under one or more policies on simulated time, side by side"))
