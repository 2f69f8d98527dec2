/**
 * The `gantry` command line (SPEC §8), on @effect/cli. Every command takes `--format
 * table|json`, `--db PATH` or `--url URL` (`--token`), and reaches the runner through
 * `Connect.withControl`. Bad input fails with a `CliError` (message + exit code) before
 * anything is sent; the runner's own refusals arrive as API errors with their exit codes.
 *
 * Exit codes: 0 ok; 64 bad usage or input; 65 not allowed now (illegal transition, queue
 * exists/not empty) or over a size limit; 66 no such run/queue/GPU, or no database to read;
 * 69 no runner available; 74 database error; 75 queue full, `--no-wait` refused, or another
 * `serve` holds the database; 77 permission denied or a wrong token; 141 the reader of the
 * output went away (main.ts). `gantry run` exits with the
 * run's own exit code (128+N for signal N, 1 for other failures, 130 when cancelled).
 */
import { Args, Command, Options } from "@effect/cli"
import { type ApiError, GpuJson, type QueueChange, QueueInfoJson, RunDetail, RunJson, StatsJson } from "@gantry/api"
import { isTerminal, makeQueue, Policy, QueueConfig, type RunId } from "@gantry/core"
import { Effect, Option, Schema } from "effect"
import type { Control } from "./Control.js"
import * as Daemon from "./Daemon.js"
import { follow, printLogs } from "./Follow.js"
import * as F from "./Format.js"
import {
  applySetting,
  CliError,
  type CommandSpec,
  common,
  decodeWith,
  flagsOf,
  queueChange,
  queueName,
  queueOptions,
  readJsonFile,
  runId,
  submitOptions,
  usage
} from "./Input.js"
import { resolvePaths } from "./Paths.js"
import { print, printJson, printPlain, VERSION, withControl } from "./CliCommon.js"
import { runCommand, submitCommand } from "./CliSubmit.js"
import { configCommand, configSpecs } from "./CliConfig.js"
import { simCommand, simOptions } from "./CliSim.js"
import { simMmcCommand, simMmcOptions } from "./CliSimMmc.js"
import { policyCommand, policySpecs } from "./CliPolicy.js"
import { directorySpecs, loginCommand, logoutCommand, projectCommand, projectsCommand, tokenCommand, userCommand, whoamiCommand } from "./CliDirectory.js"

export { checkArgv, CliError, normalizeArgv } from "./Input.js"

export { outcome, VERSION } from "./CliCommon.js"
export { exitCodeOf } from "./CliSubmit.js"

// ------------------------------------------------------------------ runs


const runsOptions = {
  ...common,
  status: Options.text("status").pipe(Options.optional, Options.withDescription("comma-separated statuses: held, blocked, pending (or queued), running, stopping, completed, failed, cancelled, rejected")),
  queue: Options.text("queue").pipe(Options.optional, Options.withDescription("only this queue's runs")),
  user: Options.text("user").pipe(Options.optional, Options.withDescription("only this user's runs")),
  output: Options.text("output").pipe(Options.withAlias("o"), Options.optional, Options.withDescription("fields, e.g. id,status,metadata.run_name")),
  limit: Options.integer("limit").pipe(Options.withAlias("l"), Options.withDefault(50), Options.withDescription("newest N runs (0: all)")),
  watch: Options.boolean("watch").pipe(Options.withDescription("redraw whenever a run changes"))
}

const runsCommand = Command.make("runs", runsOptions, (a) =>
  Effect.gen(function* () {
    if (a.limit < 0) return yield* usage(`-l must be ≥ 0, not ${a.limit}`)
    const fields = Option.isSome(a.output) ? F.parseFields(a.output.value) : null
    if (fields !== null && "error" in fields) return yield* usage(fields.error)
    const queue = Option.isSome(a.queue) ? yield* queueName(a.queue.value) : undefined
    const params = {
      ...(Option.isSome(a.status) ? { status: a.status.value } : {}),
      ...(queue !== undefined ? { queue } : {}),
      ...(Option.isSome(a.user) ? { user: a.user.value } : {}),
      ...(a.limit > 0 ? { limit: a.limit } : {})
    }
    const render = (runs: ReadonlyArray<RunJson>) => {
      if (a.format === "json") {
        // as the HTTP API sends them (times as ISO text), then the fields asked for
        const encoded = Schema.encodeSync(Schema.Array(RunJson))(runs)
        return F.json(fields === null ? encoded : F.project(encoded, fields))
      }
      if (fields !== null) return F.fieldsTable(runs, fields, Date.now())
      return F.runsTable(runs, Date.now())
    }
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        if (!a.watch) return yield* print(render(yield* control.list(params)))
        if (control.mode === "offline") return yield* new CliError({ message: "runs --watch needs a serving runner (start `gantry serve`)", exit: 69 })
        let version = 0
        for (;;) {
          const screen = render(yield* control.list(params))
          process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${screen}\n` : `${screen}\n\n`)
          version = yield* control.changes(version, 25_000)
        }
      })
    )
  })
).pipe(Command.withDescription("list runs, newest first"))

const runIdArg = Args.text({ name: "id" }).pipe(Args.withDescription("the run's id (gantry runs)"))
const showOptions = { ...common, id: runIdArg }
const runsShowOptions = {
  ...common,
  watch: Options.boolean("watch").pipe(Options.withDescription("redraw whenever the run changes, until it has ended (needs a serving runner)")),
  id: runIdArg
}
const showCommand = Command.make("show", runsShowOptions, (a) =>
  Effect.gen(function* () {
    const id = yield* runId(a.id)
    const render = (detail: RunDetail) => (a.format === "json" ? F.json(Schema.encodeSync(RunDetail)(detail)) : F.runDetailText(detail, Date.now()))
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        if (!a.watch) return yield* print(render(yield* control.show(id)))
        if (control.mode === "offline") return yield* new CliError({ message: "runs show --watch needs a serving runner (start `gantry serve`)", exit: 69 })
        // a redraw when the run (its status, times, place in the queue) changed, and on a TTY
        // also when only the clock did (its "3m ago"); the last one shows the run ended
        let version = 0
        let shown: string | null = null
        for (;;) {
          const detail = yield* control.show(id)
          const state = JSON.stringify(detail)
          if (state !== shown || process.stdout.isTTY) {
            const screen = render(detail)
            process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${screen}\n` : `${shown === null ? "" : "\n"}${screen}\n`)
            shown = state
          }
          if (isTerminal(detail.run.status)) return
          version = yield* control.changes(version, 25_000)
        }
      })
    )
  })
).pipe(Command.withDescription("a run's details, timeline and why it waits (--watch: until it ends)"))

// ------------------------------------------------------------------ logs

const logsOptions = { ...common, follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("go on printing until the run ends")), id: runIdArg }
const logsCommand = Command.make("logs", logsOptions, (a) =>
  Effect.gen(function* () {
    const id = yield* runId(a.id)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const { run } = yield* control.show(id)
        const { dataDir } = yield* control.status
        if (a.follow && !isTerminal(run.status)) {
          if (control.mode === "offline") {
            if (run.startedAt !== null) printLogs(dataDir, run, run.attempt)
            return yield* new CliError({ message: "logs -f needs a serving runner to follow a live run (start `gantry serve`)", exit: 69 })
          }
          yield* follow(control, dataDir, id)
          return
        }
        if (run.startedAt === null && run.exitCode === null && run.signal === null)
          return yield* Effect.sync(() => process.stderr.write(`gantry: run ${id} has no output: it never started (${F.statusText(run)})\n`))
        printLogs(dataDir, run, run.attempt)
      })
    )
  })
).pipe(Command.withDescription("print a run's output (-f: follow it until the run ends)"))

// ------------------------------------------------------------------ run actions

const idsArg = Args.text({ name: "id" }).pipe(Args.repeated, Args.withDescription("the runs' ids"))

const cancelOptions = { ...common, all: Options.boolean("all").pipe(Options.withDescription("every unfinished run: yours, or everyone's for a lead or an admin")), ids: idsArg }
const cancelCommand = Command.make("cancel", cancelOptions, (a) =>
  Effect.gen(function* () {
    if (!a.all && a.ids.length === 0) return yield* usage("gantry cancel ID... | --all")
    const ids = yield* Effect.forEach(a.ids, runId)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const cancelled = yield* control.cancel(ids, a.all)
        yield* a.format === "json" ? printPlain({ cancelled }) : print(cancelled.length === 0 ? "nothing to cancel" : `cancelling ${cancelled.join(" ")}`)
      })
    )
  })
).pipe(Command.withDescription("cancel runs (running ones are stopped: SIGTERM, grace, SIGKILL)"))

const runAction = (name: string, description: string, act: (control: Control, id: RunId) => Effect.Effect<RunJson, ApiError>) =>
  Command.make(name, showOptions, (a) =>
    Effect.gen(function* () {
      const id = yield* runId(a.id)
      yield* withControl(a, (control) =>
        Effect.gen(function* () {
          const run = yield* act(control, id)
          yield* a.format === "json" ? printJson(RunJson, run) : print(`${run.id} ${F.statusText(run)}`)
        })
      )
    })
  ).pipe(Command.withDescription(description))

const releaseCommand = runAction("release", "release a held run", (c, id) => c.release(id))
const approveCommand = runAction("approve", "approve a blocked run", (c, id) => c.approve(id))

const rejectOptions = { ...common, reason: Options.text("reason").pipe(Options.withDescription("why (required; the submitter sees it)")), id: runIdArg }
const rejectCommand = Command.make("reject", rejectOptions, (a) =>
  Effect.gen(function* () {
    const id = yield* runId(a.id)
    if (a.reason.trim() === "") return yield* usage("--reason must not be empty")
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const run = yield* control.reject(id, a.reason)
        yield* a.format === "json" ? printJson(RunJson, run) : print(`${run.id} ${F.statusText(run)}`)
      })
    )
  })
).pipe(Command.withDescription("reject a blocked run"))

const priorityOptions = { ...common, id: runIdArg, priority: Args.text({ name: "priority" }).pipe(Args.withDescription('the override, a whole number (the levels\' bases are 0-30), or "none" to clear it')) }
const priorityCommand = Command.make("priority", priorityOptions, (a) =>
  Effect.gen(function* () {
    const id = yield* runId(a.id)
    const p = a.priority === "none" ? null : /^-?\d+$/.test(a.priority) ? Number(a.priority) : undefined
    if (p === undefined) return yield* usage(`priority must be a whole number or "none", not "${a.priority}"`)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const run = yield* control.priority(id, p)
        yield* a.format === "json" ? printJson(RunJson, run) : print(`${run.id} priority ${run.priorityOverride ?? `${run.basePriority} (base)`}`)
      })
    )
  })
).pipe(Command.withDescription('set a run\'s priority override ("none" clears it)'))

// ------------------------------------------------------------------ queues

const queueCreate = Command.make("create", queueOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* queueName(a.name)
    const change = yield* queueChange(a)
    const config = yield* decodeWith(QueueConfig, "queue config")({ ...makeQueue(name), ...change, name })
    yield* withControl(a, (control) => Effect.flatMap(control.createQueue(config), (q) => (a.format === "json" ? printJson(QueueConfig, q) : print(`queue ${q.name} created`))), {
      create: true
    })
  })
).pipe(Command.withDescription("create a queue"))

const queueUpdate = Command.make("update", queueOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* queueName(a.name)
    const raw = yield* queueChange(a)
    if (Object.keys(raw).length === 0) return yield* usage("nothing to change: give at least one option")
    const change: QueueChange = yield* decodeWith(Schema.partial(QueueConfig.omit("name")), "queue change")(raw)
    yield* withControl(a, (control) => Effect.flatMap(control.updateQueue(name, change), (q) => (a.format === "json" ? printJson(QueueConfig, q) : print(`queue ${q.name} updated`))), {
      create: true
    })
  })
).pipe(Command.withDescription("change a queue's knobs (--pause / --resume)"))

const queueDeleteOptions = {
  ...common,
  drain: Options.boolean("drain").pipe(Options.withDescription("stop taking submissions now and delete the queue once its runs have ended")),
  name: Args.text({ name: "name" }).pipe(Args.withDescription("the queue's name"))
}
const queueDelete = Command.make("delete", queueDeleteOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* queueName(a.name)
    yield* withControl(a, (control) =>
      Effect.flatMap(control.deleteQueue(name, a.drain), () => (a.format === "json" ? printPlain({ deleted: name, drain: a.drain }) : print(a.drain ? `queue ${name} draining` : `queue ${name} deleted`)))
    )
  })
).pipe(Command.withDescription("delete a queue (--drain: once its runs end)"))

const queueCommand = Command.make("queue").pipe(Command.withSubcommands([queueCreate, queueUpdate, queueDelete]), Command.withDescription("create, update or delete queues"))

const queuesCommand = Command.make("queues", common, (a) =>
  withControl(a, (control) =>
    Effect.gen(function* () {
      const queues = yield* control.queues
      if (a.format === "json") return yield* printJson(Schema.Array(QueueInfoJson), queues)
      yield* print(F.queuesTable(queues))
    })
  )
).pipe(Command.withDescription("list queues"))

// ------------------------------------------------------------------ limits

/** The policy, with the GPU count the global limit defaults to. */
const printPolicy = (format: "table" | "json", policy: Policy, control: Control) =>
  format === "json" ? printJson(Policy, policy) : Effect.flatMap(control.status, (status) => print(F.policyTable(policy, status.gpus.length)))

const limitsSetOptions = {
  ...common,
  file: Options.text("file").pipe(Options.optional, Options.withDescription("a whole policy as JSON; unknown fields are an error")),
  settings: Args.text({ name: "key=value" }).pipe(Args.repeated, Args.withDescription("a policy field and its value, e.g. max-concurrent=3 user-max-concurrent=none fair-share=limits"))
}
const limitsSet = Command.make(
  "set",
  limitsSetOptions,
  (a) =>
    Effect.gen(function* () {
      if (Option.isNone(a.file) && a.settings.length === 0) return yield* usage("gantry limits set KEY=VALUE... | --file policy.json")
      const pairs = yield* Effect.forEach(a.settings, (s) => {
        const eq = s.indexOf("=")
        return eq <= 0 ? Effect.fail(usage(`expected KEY=VALUE, not "${s}"`)) : Effect.succeed([s.slice(0, eq), s.slice(eq + 1)] as const)
      })
      const fromFile = Option.isSome(a.file) ? yield* Effect.flatMap(readJsonFile(a.file.value), decodeWith(Policy, a.file.value)) : null
      yield* withControl(a, (control) =>
        Effect.gen(function* () {
          const current = yield* control.limits
          let next: Policy = fromFile ?? current
          for (const [k, v] of pairs) next = yield* applySetting(next, k, v)
          const saved = yield* control.setLimits({ ...next, version: current.version + 1 }, { source: "limits set" })
          yield* printPolicy(a.format, saved, control)
        }),
        { create: true }
      )
    })
).pipe(Command.withDescription("change limits and policy: preset=shared max-concurrent=3 user-max-concurrent=none fair-share=limits priority-lead=20 ..."))

const limitsCommand = Command.make("limits", common, (a) => withControl(a, (control) => Effect.flatMap(control.limits, (p) => printPolicy(a.format, p, control)))).pipe(
  Command.withSubcommands([limitsSet]),
  Command.withDescription("show limits and policy")
)

// ------------------------------------------------------------------ GPUs, stats, cleanup, process

const gpusCommand = Command.make("gpus", common, (a) =>
  withControl(a, (control) =>
    Effect.gen(function* () {
      const { gpus } = yield* control.status
      if (a.format === "json") return yield* printJson(Schema.Array(GpuJson), gpus)
      yield* print(
        gpus.length === 0
          ? "no GPUs (runs get CUDA_VISIBLE_DEVICES=\"\")"
          : F.table(["index", "name", "memory", "uuid", "state", "run"], gpus.map((g) => [g.index, g.name, `${g.memoryMiB} MiB`, g.uuid, g.drained ? "drained" : g.heldBy === null ? "free" : "allocated", g.heldBy]))
      )
    })
  )
).pipe(Command.withDescription("list GPUs and who holds them"))

const gpuOptions = { ...common, index: Args.integer({ name: "index" }).pipe(Args.withDescription("the GPU's index (gantry gpus)")) }
const gpuAction = (name: "drain" | "undrain") =>
  Command.make(name, gpuOptions, (a) =>
    Effect.gen(function* () {
      if (a.index < 0) return yield* usage(`GPU index must be ≥ 0, not ${a.index}`)
      yield* withControl(
        a,
        (control) =>
          Effect.flatMap(control.drain(a.index, name === "drain"), () => (a.format === "json" ? printPlain({ index: a.index, drained: name === "drain" }) : print(`GPU ${a.index} ${name === "drain" ? "drained" : "undrained"}`))),
        { create: true }
      )
    })
  ).pipe(Command.withDescription(name === "drain" ? "stop allocating a GPU (its run keeps it until it ends)" : "allocate a drained GPU again"))

const gpuCommand = Command.make("gpu").pipe(Command.withSubcommands([gpuAction("drain"), gpuAction("undrain")]), Command.withDescription("drain or undrain a GPU"))

const statsCommand = Command.make("stats", common, (a) =>
  withControl(a, (control) =>
    Effect.gen(function* () {
      const s = yield* control.stats
      if (a.format === "json") return yield* printJson(StatsJson, s)
      yield* print(F.statsTable(s))
    })
  )
).pipe(Command.withDescription("counts, GPUs and time spent per cycle phase"))

const cleanupOptions = { ...common, days: Options.integer("days").pipe(Options.withDescription("delete finished runs (and their logs) that ended more than this many days ago: 1-365")) }
const cleanupCommand = Command.make("cleanup", cleanupOptions, (a) =>
  Effect.gen(function* () {
    if (a.days < 1 || a.days > 365) return yield* usage(`--days must be from 1 to 365, not ${a.days}`)
    yield* withControl(a, (control) => Effect.flatMap(control.cleanup(a.days), (removed) => (a.format === "json" ? printPlain({ removed }) : print(`removed ${removed} finished runs older than ${a.days} days`))))
  })
).pipe(Command.withDescription("delete finished runs older than N days"))

const processCommand = Command.make("process", common, (a) =>
  withControl(a, (control) =>
    Effect.flatMap(control.process, (started) =>
      a.format === "json" ? printPlain({ started }) : print(started.length === 0 ? "cycle run: started nothing" : `cycle run: started ${started.join(" ")}`)
    )
  )
).pipe(Command.withDescription("run a scheduling cycle now (never needed; harmless)"))

// ------------------------------------------------------------------ serve

const serveOptions = {
  db: common.db,
  host: Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("address to listen on (one other than loopback gets a warning: the API is plain HTTP)")),
  port: Options.integer("port").pipe(Options.withDefault(0), Options.withDescription("0 picks a free port")),
  gpus: Options.text("gpus").pipe(Options.optional, Options.withDescription('none, a count (2 = the first two), or indices 0,2,3 ("2," = GPU 2 alone); default: all'))
}
const serveCommand = Command.make(
  "serve",
  serveOptions,
  (a) =>
    Effect.gen(function* () {
      if (a.port < 0 || a.port > 65535) return yield* usage(`--port must be 0-65535, not ${a.port}`)
      const paths = resolvePaths(Option.getOrUndefined(a.db))
      yield* Daemon.serve({
        paths,
        host: a.host,
        port: a.port,
        gpus: Option.getOrUndefined(a.gpus),
        version: VERSION,
        onReady: ({ url, gpus, owner, runsAs }) =>
          process.stdout.write(
            [
              `gantry ${VERSION} serving ${url} (pid ${process.pid})`,
              `  database  ${paths.db}`,
              `  run logs  ${paths.dataDir}/runs/<run-id>/<attempt>/{stdout,stderr}.log`,
              `  GPUs      ${gpus === 0 ? "none: one run at a time (GANTRY_FAKE_GPUS=N to pretend)" : `${gpus} (gantry gpus)`}`,
              `  runs as   ${runsAs === null ? "each run's owner's Unix account (gantry user list; an admin maps one with gantry user set NAME --unix-user ACCOUNT)" : `${runsAs}, this daemon's account, whoever submits (serve as root to start each user's runs under their own account)`}`,
              `  admin     ${owner} owns this database; commands on this machine act as ${owner} with no token.`,
              `            a token for other clients: gantry token create --user ${owner}   (or --user NAME --level researcher for a user)`,
              `  API docs  ${url}/docs`,
              `  submit a first run:  gantry submit -- ${gpus === 0 ? "echo hello" : "nvidia-smi"}     then: gantry runs, gantry logs <id>`,
              ""
            ].join("\n")
          )
      }).pipe(
        Effect.catchTags({
          ServeRefused: (e) => Effect.fail(new CliError({ message: e.message, exit: 75 })),
          LeaseBusy: (e) => Effect.fail(new CliError({ message: e.message, exit: 75 })),
          StoreError: (e) => Effect.fail(new CliError({ message: `database ${paths.db}: ${e.message}`, exit: 74 })),
          GpuInventoryError: (e) => Effect.fail(new CliError({ message: e.message, exit: 69 }))
        })
      )
    })
).pipe(Command.withDescription("run the daemon: schedule, start and watch runs; serve the HTTP API"))

// ------------------------------------------------------------------ the tree

const runsWithShow = runsCommand.pipe(Command.withSubcommands([showCommand]))

export const gantry = Command.make("gantry").pipe(
  Command.withSubcommands([
    serveCommand,
    submitCommand,
    runCommand,
    runsWithShow,
    logsCommand,
    cancelCommand,
    releaseCommand,
    approveCommand,
    rejectCommand,
    priorityCommand,
    queuesCommand,
    queueCommand,
    limitsCommand,
    policyCommand,
    gpusCommand,
    gpuCommand,
    statsCommand,
    cleanupCommand,
    processCommand,
    tokenCommand,
    userCommand,
    whoamiCommand,
    loginCommand,
    logoutCommand,
    projectsCommand,
    projectCommand,
    configCommand,
    simCommand.pipe(Command.withSubcommands([simMmcCommand]))
  ]),
  Command.withDescription("gantry: a scheduler for ML runs on a shared GPU server")
)

export const cli = Command.run(gantry, { name: "gantry", version: VERSION })

/** Every command's flags, for `checkArgv` (keep in step with the tree above). */
export const commandSpecs: ReadonlyMap<string, CommandSpec> = new Map(
  (
    [
      ["serve", serveOptions],
      ["submit", submitOptions],
      ["run", submitOptions],
      ["runs", runsOptions],
      ["runs show", runsShowOptions],
      ["logs", logsOptions],
      ["cancel", cancelOptions],
      ["release", showOptions],
      ["approve", showOptions],
      ["reject", rejectOptions],
      ["priority", priorityOptions],
      ["queues", common],
      ["queue create", queueOptions],
      ["queue update", queueOptions],
      ["queue delete", queueDeleteOptions],
      ["limits", common],
      ["limits set", limitsSetOptions],
      ...policySpecs,
      ["gpus", common],
      ["gpu drain", gpuOptions],
      ["gpu undrain", gpuOptions],
      ["stats", common],
      ["cleanup", cleanupOptions],
      ["process", common],
      ...directorySpecs,
      ...configSpecs,
      ["sim", simOptions],
      ["sim mmc", simMmcOptions]
    ] as const
  ).map(([name, options]) => [name, { flags: flagsOf(options), takesCommand: name === "submit" || name === "run" }])
)
