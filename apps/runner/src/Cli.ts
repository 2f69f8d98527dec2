/**
 * The `gantry` command line (SPEC §8), on @effect/cli. Every command takes `--format
 * table|json`, `--db PATH` or `--url URL` (`--token`), and reaches the runner through
 * `Connect.withControl`. Bad input fails with a `CliError` (message + exit code) before
 * anything is sent; the runner's own refusals arrive as API errors with their exit codes.
 *
 * Exit codes: 0 ok; 64 bad usage or input; 65 not allowed now (illegal transition, queue
 * exists/not empty); 66 no such run/queue/GPU; 69 no runner available; 74 database error;
 * 75 queue full, `--no-wait` refused, or another `serve` holds the database; 77 permission
 * denied or a wrong token. `gantry run` exits with the
 * run's own exit code (128+N for signal N, 1 for other failures, 130 when cancelled).
 */
import { Args, Command, Options } from "@effect/cli"
import type { ApiError, QueueChange, RunJson } from "@gantry/api"
import { isTerminal, makeQueue, Policy, QueueConfig, QueueName, RunId, Submission } from "@gantry/core"
import { Data, Effect, Option, ParseResult, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as Connect from "./Connect.js"
import type { Control } from "./Control.js"
import * as Daemon from "./Daemon.js"
import { follow, printLogs } from "./Follow.js"
import * as F from "./Format.js"
import { resolvePaths } from "./Paths.js"

export const VERSION = "0.1.0"

/** A refusal of the CLI itself: printed as `gantry: message`, exits with `exit`. */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string; readonly exit: number }> {}

const usage = (message: string) => new CliError({ message, exit: 64 })

/** What the command asks the process to exit with (0 unless `run` says otherwise). */
export const outcome = { exitCode: 0 }

// ------------------------------------------------------------------ common options

const common = {
  format: Options.choice("format", ["table", "json"]).pipe(Options.withDefault("table" as const), Options.withDescription("output format")),
  db: Options.text("db").pipe(Options.optional, Options.withDescription("database file (default: $GANTRY_HOME/gantry.db)")),
  url: Options.text("url").pipe(Options.optional, Options.withDescription("a daemon's URL (default: the one serving the database)")),
  token: Options.text("token").pipe(Options.optional, Options.withDescription("bearer token for --url (default: $GANTRY_TOKEN)"))
}
type Common = { readonly format: "table" | "json"; readonly db: Option.Option<string>; readonly url: Option.Option<string>; readonly token: Option.Option<string> }

const targetOf = (c: Common): Connect.Target => ({
  paths: resolvePaths(Option.getOrUndefined(c.db)),
  url: Option.getOrUndefined(c.url),
  token: Option.getOrUndefined(c.token),
  version: VERSION
})

const withControl = <A>(c: Common, use: (control: Control) => Effect.Effect<A, ApiError | CliError>) =>
  Effect.suspend(() => {
    let inner: CliError | undefined
    return Connect.withControl(targetOf(c), (control) =>
      use(control).pipe(
        Effect.catchTag("CliError", (e) => {
          inner = e
          return Effect.void as Effect.Effect<never>
        })
      )
    ).pipe(Effect.flatMap((a) => (inner === undefined ? Effect.succeed(a) : Effect.fail(inner))))
  })

const print = (text: string) => Effect.sync(() => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`))
const printJson = (value: unknown) => print(F.json(value))

// ------------------------------------------------------------------ parsing helpers

const decodeWith =
  <A, I>(schema: Schema.Schema<A, I>, what: string) =>
  (value: unknown): Effect.Effect<A, CliError> =>
    Schema.decodeUnknown(schema, { onExcessProperty: "error", errors: "all" })(value).pipe(
      Effect.mapError((e) => usage(`${what}: ${ParseResult.TreeFormatter.formatErrorSync(e)}`))
    )

const runId = (text: string) => decodeWith(RunId, "run id")(text)
const queueName = (text: string) => decodeWith(QueueName, "queue name")(text)

const duration = (flag: string, value: Option.Option<string>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) => {
      const parsed = F.parseDuration(text)
      return "error" in parsed ? Effect.fail(usage(`--${flag}: ${parsed.error}`)) : Effect.succeed(parsed.ms)
    }
  })

const nonNegative = (flag: string, value: Option.Option<number>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (n) => (Number.isInteger(n) && n >= 0 ? Effect.succeed(n) : Effect.fail(usage(`--${flag} must be a whole number ≥ 0, not ${n}`)))
  })

const indexList = (flag: string, text: string) => {
  const parts = text.split(",").map((s) => s.trim())
  if (parts.some((p) => !/^\d+$/.test(p))) return Effect.fail(usage(`--${flag}: expected GPU indices like 0,2,3, not "${text}"`))
  return Effect.succeed(parts.map(Number))
}

/** `none` or a whole number ≥ 1: a limit (null = no limit). */
const limitValue = (flag: string, text: string): Effect.Effect<number | null, CliError> => {
  if (text === "none" || text === "null") return Effect.succeed(null)
  if (/^\d+$/.test(text) && Number(text) >= 1) return Effect.succeed(Number(text))
  return Effect.fail(usage(`${flag}: expected a whole number ≥ 1 or "none", not "${text}"`))
}

const keyValues = (flag: string, pairs: ReadonlyArray<string>, parseValue: (v: string) => unknown) =>
  Effect.forEach(pairs, (pair) => {
    const eq = pair.indexOf("=")
    return eq <= 0 ? Effect.fail(usage(`--${flag}: expected KEY=VALUE, not "${pair}"`)) : Effect.succeed([pair.slice(0, eq), parseValue(pair.slice(eq + 1))] as const)
  }).pipe(Effect.map((entries) => Object.fromEntries(entries)))

const jsonOrString = (v: string): unknown => {
  try {
    return JSON.parse(v)
  } catch {
    return v
  }
}

const readJsonFile = (file: string): Effect.Effect<unknown, CliError> =>
  Effect.try({
    try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
    catch: (e) => usage(`${file}: ${e instanceof Error ? e.message : String(e)}`)
  })

// ------------------------------------------------------------------ submit / run

const submitOptions = {
  ...common,
  queue: Options.text("queue").pipe(Options.optional),
  gpus: Options.integer("gpus").pipe(Options.optional, Options.withDescription("GPUs needed (default 1 on a machine with GPUs, else 0)")),
  deviceIds: Options.text("device-ids").pipe(Options.optional, Options.withDescription("exact GPU indices, e.g. 0,2")),
  anyGpu: Options.boolean("any-gpu"),
  priority: Options.integer("priority").pipe(Options.optional),
  user: Options.text("user").pipe(Options.optional),
  level: Options.choice("level", ["admin", "lead", "researcher", "viewer"]).pipe(Options.optional),
  team: Options.text("team").pipe(Options.optional),
  project: Options.text("project").pipe(Options.optional),
  hold: Options.boolean("hold"),
  requiresApproval: Options.boolean("requires-approval"),
  noWait: Options.boolean("no-wait"),
  dryRun: Options.boolean("dry-run"),
  maxAttempts: Options.integer("max-attempts").pipe(Options.optional),
  maxQueuedTime: Options.text("max-queued-time").pipe(Options.optional),
  deadline: Options.text("deadline").pipe(Options.optional),
  timeLimit: Options.text("time-limit").pipe(Options.optional),
  name: Options.text("name").pipe(Options.optional),
  env: Options.text("env").pipe(Options.repeated, Options.withDescription("K=V, repeatable")),
  metadata: Options.text("metadata").pipe(Options.repeated, Options.withDescription("K=V (V parsed as JSON when it is), repeatable")),
  cwd: Options.text("cwd").pipe(Options.optional),
  idempotencyKey: Options.text("idempotency-key").pipe(Options.optional),
  file: Options.text("file").pipe(Options.optional, Options.withDescription("a JSON submission; flags override its fields")),
  command: Args.text({ name: "command" }).pipe(Args.repeated)
}
type SubmitArgs = { readonly [K in keyof typeof submitOptions]: (typeof submitOptions)[K] extends Options.Options<infer A> ? A : (typeof submitOptions)[K] extends Args.Args<infer B> ? B : never }

const defaultUser = () => process.env.USER ?? os.userInfo().username

const buildSubmission = (a: SubmitArgs): Effect.Effect<Submission, CliError> =>
  Effect.gen(function* () {
    const base = Option.isSome(a.file) ? yield* readJsonFile(a.file.value) : {}
    if (base === null || typeof base !== "object" || Array.isArray(base)) return yield* usage(`--file: expected a JSON object`)
    const fields: Record<string, unknown> = { user: defaultUser(), cwd: process.cwd(), ...base }
    const set = (key: string, value: unknown) => {
      if (value !== undefined) fields[key] = value
    }
    if (a.command.length > 0) set("command", a.command)
    if (fields.command === undefined || (Array.isArray(fields.command) && (fields.command.length === 0 || fields.command[0] === "")))
      return yield* usage("no command: gantry submit [options] -- COMMAND [ARGS...]")
    set("queue", Option.getOrUndefined(a.queue))
    set("gpus", yield* nonNegative("gpus", a.gpus))
    if (Option.isSome(a.deviceIds)) set("deviceIds", yield* indexList("device-ids", a.deviceIds.value))
    if (a.anyGpu) set("anyGpu", true)
    set("priority", Option.getOrUndefined(a.priority))
    set("user", Option.getOrUndefined(a.user))
    set("level", Option.getOrUndefined(a.level))
    set("team", Option.getOrUndefined(a.team))
    set("project", Option.getOrUndefined(a.project))
    if (a.hold) set("hold", true)
    if (a.requiresApproval) set("requiresApproval", true)
    if (a.noWait) set("noWait", true)
    if (a.dryRun) set("dryRun", true)
    if (Option.isSome(a.maxAttempts)) {
      if (!(a.maxAttempts.value >= 1)) return yield* usage(`--max-attempts must be at least 1, not ${a.maxAttempts.value}`)
      set("maxAttempts", a.maxAttempts.value)
    }
    set("maxQueuedTimeMs", yield* duration("max-queued-time", a.maxQueuedTime))
    set("deadlineMs", yield* duration("deadline", a.deadline))
    set("timeLimitMs", yield* duration("time-limit", a.timeLimit))
    set("name", Option.getOrUndefined(a.name))
    if (a.env.length > 0) set("env", { ...((fields.env as object | undefined) ?? {}), ...(yield* keyValues("env", a.env, (v) => v)) })
    if (a.metadata.length > 0) set("metadata", { ...((fields.metadata as object | undefined) ?? {}), ...(yield* keyValues("metadata", a.metadata, jsonOrString)) })
    set("cwd", Option.getOrUndefined(a.cwd))
    set("idempotencyKey", Option.getOrUndefined(a.idempotencyKey))
    if (typeof fields.cwd === "string") fields.cwd = fs.existsSync(fields.cwd) ? fs.realpathSync(fields.cwd) : fields.cwd
    return yield* decodeWith(Submission, "submission")(fields)
  })

const submitCommand = Command.make("submit", submitOptions, (a) =>
  Effect.gen(function* () {
    const submission = yield* buildSubmission(a)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        // with no daemon nothing starts now: "start now or refuse" and "would it start now"
        // have no honest answer offline
        if (control.mode === "offline" && (submission.noWait === true || submission.dryRun === true))
          return yield* new CliError({ message: `${submission.noWait === true ? "--no-wait" : "--dry-run"} needs a serving runner (start \`gantry serve\`)`, exit: 69 })
        const result = yield* control.submit(submission)
        if (result._tag === "Refused") outcome.exitCode = 75
        if (a.format === "json") return yield* printJson(result)
        switch (result._tag) {
          case "Accepted":
            return yield* print(`${result.run.id} ${result.run.status}${result.duplicate ? " (already submitted with this idempotency key)" : ""}`)
          case "DryRun":
            return yield* print(result.wouldStart ? `would start now on GPUs [${result.gpus.join(",")}]` : `would wait: ${result.reason ?? result._tag}`)
          case "Refused":
            return yield* Effect.sync(() => process.stderr.write(`gantry: refused (--no-wait): it would not start now: ${result.reason}\n`))
        }
      })
    )
  })
).pipe(Command.withDescription("submit a run: gantry submit [options] -- COMMAND [ARGS...]"))

/** The process exit code that mirrors a finished run. */
export const exitCodeOf = (run: RunJson): number => {
  if (run.status === "completed") return 0
  if (run.status === "cancelled") return 130
  if (run.exitCode !== null) return run.exitCode === 0 ? 1 : run.exitCode
  if (run.signal !== null) {
    const number = os.constants.signals[run.signal as NodeJS.Signals]
    return number === undefined ? 1 : 128 + number
  }
  return 1
}

const runCommand = Command.make("run", submitOptions, (a) =>
  Effect.gen(function* () {
    const submission = yield* buildSubmission(a)
    if (submission.dryRun === true) return yield* usage("gantry run cannot --dry-run; use gantry submit --dry-run")
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        if (control.mode === "offline")
          return yield* new CliError({ message: "gantry run needs a serving runner (start `gantry serve`); use gantry submit to queue a run for later", exit: 69 })
        const result = yield* control.submit(submission)
        if (result._tag === "Refused") {
          outcome.exitCode = 75
          return yield* Effect.sync(() => process.stderr.write(`gantry: refused (--no-wait): it would not start now: ${result.reason}\n`))
        }
        if (result._tag !== "Accepted") return
        process.stderr.write(`gantry: run ${result.run.id} ${result.run.status}\n`)
        const status = yield* control.status
        const ended = yield* follow(control, status.dataDir, result.run.id)
        process.stderr.write(`gantry: run ${ended.id} ${F.statusText(ended)}${ended.exitCode !== null ? ` (exit ${ended.exitCode})` : ""}\n`)
        outcome.exitCode = exitCodeOf(ended)
        if (a.format === "json") yield* printJson(ended)
      })
    )
  })
).pipe(Command.withDescription("submit a run, stream its output, and exit with its exit code"))

// ------------------------------------------------------------------ runs


const runsOptions = {
  ...common,
  status: Options.text("status").pipe(Options.optional, Options.withDescription("comma-separated statuses")),
  queue: Options.text("queue").pipe(Options.optional),
  user: Options.text("user").pipe(Options.optional),
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
      if (a.format === "json") return F.json(fields === null ? runs : F.project(runs, fields))
      if (fields !== null) return F.table(fields, F.project(runs, fields).map((row) => fields.map((f) => row[f])))
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

const showCommand = Command.make("show", { ...common, id: Args.text({ name: "id" }) }, (a) =>
  Effect.gen(function* () {
    const id = yield* runId(a.id)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const detail = yield* control.show(id)
        if (a.format === "json") return yield* printJson(detail)
        const r = detail.run
        const lines = [
          `run       ${r.id}${r.name !== null ? ` (${r.name})` : ""}`,
          `status    ${F.statusText(r)}${r.exitCode !== null ? ` exit ${r.exitCode}` : ""}${r.signal !== null ? ` signal ${r.signal}` : ""}`,
          `command   ${F.commandLine(r.command)}`,
          `queue     ${r.queue}   user ${r.user}${r.team !== null ? `   team ${r.team}` : ""}   level ${r.level}`,
          `gpus      ${r.gpus}${r.deviceIds !== null ? ` devices ${r.deviceIds.join(",")}` : ""}${r.assignedGpus.length > 0 ? ` assigned ${r.assignedGpus.join(",")}` : ""}`,
          `attempt   ${r.attempt}/${r.maxAttempts}`,
          `priority  ${r.priorityOverride ?? r.basePriority}${r.priorityOverride !== null ? " (override)" : ""}`,
          `limits    time-limit ${r.timeLimitMs === null ? "-" : F.formatDuration(r.timeLimitMs)}   max-queued ${r.maxQueuedTimeMs === null ? "-" : F.formatDuration(r.maxQueuedTimeMs)}   deadline ${F.iso(r.deadlineAt)}`
        ]
        if (detail.position !== null)
          lines.push(`waiting   #${detail.position.position ?? "-"} of ${detail.position.pending} pending: ${detail.position.reason ?? "starts at the next cycle"}`)
        if (Object.keys(r.metadata).length > 0) lines.push(`metadata  ${JSON.stringify(r.metadata)}`)
        lines.push("", F.table(["time", "from", "to", "attempt", "reason"], detail.timeline.map((e) => [F.iso(e.at), e.from ?? "-", e.to, e.attempt, e.reason])))
        yield* print(lines.join("\n"))
      })
    )
  })
).pipe(Command.withDescription("a run's details, timeline and why it waits"))

// ------------------------------------------------------------------ logs

const logsCommand = Command.make("logs", { ...common, follow: Options.boolean("follow").pipe(Options.withAlias("f")), id: Args.text({ name: "id" }) }, (a) =>
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

const idsArg = Args.text({ name: "id" }).pipe(Args.repeated)

const cancelCommand = Command.make("cancel", { ...common, all: Options.boolean("all"), ids: idsArg }, (a) =>
  Effect.gen(function* () {
    if (!a.all && a.ids.length === 0) return yield* usage("gantry cancel ID... | --all")
    const ids = yield* Effect.forEach(a.ids, runId)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const cancelled = yield* control.cancel(ids, a.all)
        yield* a.format === "json" ? printJson({ cancelled }) : print(cancelled.length === 0 ? "nothing to cancel" : `cancelling ${cancelled.join(" ")}`)
      })
    )
  })
).pipe(Command.withDescription("cancel runs (running ones are stopped: SIGTERM, grace, SIGKILL)"))

const runAction = (name: string, description: string, act: (control: Control, id: RunId) => Effect.Effect<RunJson, ApiError>) =>
  Command.make(name, { ...common, id: Args.text({ name: "id" }) }, (a) =>
    Effect.gen(function* () {
      const id = yield* runId(a.id)
      yield* withControl(a, (control) =>
        Effect.gen(function* () {
          const run = yield* act(control, id)
          yield* a.format === "json" ? printJson(run) : print(`${run.id} ${F.statusText(run)}`)
        })
      )
    })
  ).pipe(Command.withDescription(description))

const releaseCommand = runAction("release", "release a held run", (c, id) => c.release(id))
const approveCommand = runAction("approve", "approve a blocked run", (c, id) => c.approve(id))

const rejectCommand = Command.make("reject", { ...common, reason: Options.text("reason"), id: Args.text({ name: "id" }) }, (a) =>
  Effect.gen(function* () {
    const id = yield* runId(a.id)
    if (a.reason.trim() === "") return yield* usage("--reason must not be empty")
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const run = yield* control.reject(id, a.reason)
        yield* a.format === "json" ? printJson(run) : print(`${run.id} ${F.statusText(run)}`)
      })
    )
  })
).pipe(Command.withDescription("reject a blocked run"))

const priorityCommand = Command.make("priority", { ...common, id: Args.text({ name: "id" }), priority: Args.text({ name: "priority" }) }, (a) =>
  Effect.gen(function* () {
    const id = yield* runId(a.id)
    const p = a.priority === "none" ? null : /^-?\d+$/.test(a.priority) ? Number(a.priority) : undefined
    if (p === undefined) return yield* usage(`priority must be a whole number or "none", not "${a.priority}"`)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const run = yield* control.priority(id, p)
        yield* a.format === "json" ? printJson(run) : print(`${run.id} priority ${run.priorityOverride ?? `${run.basePriority} (base)`}`)
      })
    )
  })
).pipe(Command.withDescription('set a run\'s priority override ("none" clears it)'))

// ------------------------------------------------------------------ queues

const queueOptions = {
  ...common,
  priority: Options.integer("priority").pipe(Options.optional),
  maxConcurrent: Options.text("max-concurrent").pipe(Options.optional),
  runConcurrency: Options.text("run-concurrency").pipe(Options.optional),
  depth: Options.text("depth").pipe(Options.optional),
  gpuPool: Options.text("gpu-pool").pipe(Options.optional, Options.withDescription('GPU indices, or "all"')),
  gpuQuota: Options.text("gpu-quota").pipe(Options.optional),
  pause: Options.boolean("pause"),
  resume: Options.boolean("resume"),
  file: Options.text("file").pipe(Options.optional, Options.withDescription("a JSON queue config; unknown fields are an error")),
  name: Args.text({ name: "name" })
}
type QueueArgs = { readonly [K in keyof typeof queueOptions]: (typeof queueOptions)[K] extends Options.Options<infer A> ? A : (typeof queueOptions)[K] extends Args.Args<infer B> ? B : never }

const queueChange = (a: QueueArgs): Effect.Effect<Record<string, unknown>, CliError> =>
  Effect.gen(function* () {
    if (a.pause && a.resume) return yield* usage("--pause and --resume together")
    const change: Record<string, unknown> = {}
    if (Option.isSome(a.file)) {
      const body = yield* readJsonFile(a.file.value)
      if (body === null || typeof body !== "object" || Array.isArray(body)) return yield* usage(`${a.file.value}: expected a JSON object`)
      Object.assign(change, body)
    }
    if (Option.isSome(a.priority)) change.priority = a.priority.value
    for (const [flag, key, value] of [
      ["--max-concurrent", "maxConcurrent", a.maxConcurrent],
      ["--run-concurrency", "runConcurrency", a.runConcurrency],
      ["--depth", "depth", a.depth],
      ["--gpu-quota", "gpuQuota", a.gpuQuota]
    ] as const)
      if (Option.isSome(value)) change[key] = yield* limitValue(flag, value.value)
    if (Option.isSome(a.gpuPool)) change.gpuPool = a.gpuPool.value === "all" ? null : yield* indexList("gpu-pool", a.gpuPool.value)
    if (a.pause) change.paused = true
    if (a.resume) change.paused = false
    return change
  })

const queueCreate = Command.make("create", queueOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* queueName(a.name)
    const change = yield* queueChange(a)
    const config = yield* decodeWith(QueueConfig, "queue config")({ ...makeQueue(name), ...change, name })
    yield* withControl(a, (control) =>
      Effect.flatMap(control.createQueue(config), (q) => (a.format === "json" ? printJson(q) : print(`queue ${q.name} created`)))
    )
  })
).pipe(Command.withDescription("create a queue"))

const queueUpdate = Command.make("update", queueOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* queueName(a.name)
    const raw = yield* queueChange(a)
    if (Object.keys(raw).length === 0) return yield* usage("nothing to change: give at least one option")
    const change: QueueChange = yield* decodeWith(Schema.partial(QueueConfig.omit("name")), "queue change")(raw)
    yield* withControl(a, (control) =>
      Effect.flatMap(control.updateQueue(name, change), (q) => (a.format === "json" ? printJson(q) : print(`queue ${q.name} updated`)))
    )
  })
).pipe(Command.withDescription("change a queue's knobs (--pause / --resume)"))

const queueDelete = Command.make("delete", { ...common, drain: Options.boolean("drain"), name: Args.text({ name: "name" }) }, (a) =>
  Effect.gen(function* () {
    const name = yield* queueName(a.name)
    yield* withControl(a, (control) =>
      Effect.flatMap(control.deleteQueue(name, a.drain), () => (a.format === "json" ? printJson({ deleted: name, drain: a.drain }) : print(a.drain ? `queue ${name} draining` : `queue ${name} deleted`)))
    )
  })
).pipe(Command.withDescription("delete a queue (--drain: once its runs end)"))

const queueCommand = Command.make("queue").pipe(Command.withSubcommands([queueCreate, queueUpdate, queueDelete]), Command.withDescription("create, update or delete queues"))

const queuesCommand = Command.make("queues", common, (a) =>
  withControl(a, (control) =>
    Effect.gen(function* () {
      const queues = yield* control.queues
      if (a.format === "json") return yield* printJson(queues)
      yield* print(
        F.table(
          ["queue", "priority", "state", "pending", "active", "held", "blocked", "max", "run-max", "depth", "gpu-pool", "gpu-quota"],
          queues.map((q) => [
            q.config.name,
            q.config.priority,
            q.state,
            q.counts.pending,
            q.counts.active,
            q.counts.held,
            q.counts.blocked,
            q.config.maxConcurrent,
            q.config.runConcurrency,
            q.config.depth,
            q.config.gpuPool === null ? "all" : q.config.gpuPool.join(","),
            q.config.gpuQuota
          ])
        )
      )
    })
  )
).pipe(Command.withDescription("list queues"))

// ------------------------------------------------------------------ limits

const LIMIT_KEYS = ["max-concurrent", "user-max-concurrent", "team-max-concurrent", "local-gpu-max-concurrent", "local-job-max-concurrent"] as const
const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

const applySetting = (policy: Policy, key: string, value: string): Effect.Effect<Policy, CliError> =>
  Effect.gen(function* () {
    const ms = (v: string) => {
      const d = F.parseDuration(v)
      return "error" in d ? Effect.fail(usage(`${key}: ${d.error}`)) : Effect.succeed(d.ms)
    }
    if ((LIMIT_KEYS as ReadonlyArray<string>).includes(key)) {
      return { ...policy, limits: { ...policy.limits, [camel(key)]: yield* limitValue(key, value) } }
    }
    switch (key) {
      case "fair-share":
        if (value !== "off" && value !== "limits" && value !== "usage") return yield* usage(`fair-share: off, limits or usage, not "${value}"`)
        return { ...policy, fairShare: { ...policy.fairShare, mode: value } }
      case "fair-share-half-life":
        return { ...policy, fairShare: { ...policy.fairShare, halfLifeMs: yield* ms(value) } }
      case "backfill":
        if (value !== "true" && value !== "false") return yield* usage(`backfill: true or false, not "${value}"`)
        return { ...policy, backfill: value === "true" }
      case "kill-grace":
        return { ...policy, killGraceMs: yield* ms(value) }
      case "aging":
        if (value === "off") return { ...policy, aging: null }
        if (value === "on") return { ...policy, aging: policy.aging ?? { starvationThresholdMs: 30 * 60_000, agingStep: 5, agingIntervalMs: 10 * 60_000 } }
        return yield* usage(`aging: on or off, not "${value}"`)
      case "starvation-threshold":
      case "aging-interval": {
        if (policy.aging === null) return yield* usage(`${key}: aging is off (limits set aging=on first)`)
        return { ...policy, aging: { ...policy.aging, [key === "aging-interval" ? "agingIntervalMs" : "starvationThresholdMs"]: yield* ms(value) } }
      }
      case "aging-step": {
        if (policy.aging === null) return yield* usage(`${key}: aging is off (limits set aging=on first)`)
        if (!/^\d+$/.test(value)) return yield* usage(`aging-step: a whole number ≥ 0, not "${value}"`)
        return { ...policy, aging: { ...policy.aging, agingStep: Number(value) } }
      }
      default:
        return yield* usage(
          `unknown setting "${key}" (one of ${[...LIMIT_KEYS, "fair-share", "fair-share-half-life", "backfill", "kill-grace", "aging", "starvation-threshold", "aging-step", "aging-interval"].join(", ")})`
        )
    }
  })

const printPolicy = (format: "table" | "json", policy: Policy) =>
  format === "json"
    ? printJson(policy)
    : print(
        F.table(
          ["setting", "value"],
          [
            ...LIMIT_KEYS.map((k) => [k, policy.limits[camel(k) as keyof Policy["limits"]]]),
            ["fair-share", policy.fairShare.mode],
            ["fair-share-half-life", F.formatDuration(policy.fairShare.halfLifeMs)],
            ["backfill", policy.backfill],
            ["kill-grace", F.formatDuration(policy.killGraceMs)],
            ["aging", policy.aging === null ? "off" : `+${policy.aging.agingStep} every ${F.formatDuration(policy.aging.agingIntervalMs)} after ${F.formatDuration(policy.aging.starvationThresholdMs)}`],
            ["version", policy.version]
          ]
        )
      )

const limitsSet = Command.make(
  "set",
  { ...common, file: Options.text("file").pipe(Options.optional, Options.withDescription("a whole policy as JSON; unknown fields are an error")), settings: Args.text({ name: "key=value" }).pipe(Args.repeated) },
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
          const saved = yield* control.setLimits({ ...next, version: current.version + 1 })
          yield* printPolicy(a.format, saved)
        })
      )
    })
).pipe(Command.withDescription("change limits and policy: max-concurrent=3 user-max-concurrent=none fair-share=limits ..."))

const limitsCommand = Command.make("limits", common, (a) => withControl(a, (control) => Effect.flatMap(control.limits, (p) => printPolicy(a.format, p)))).pipe(
  Command.withSubcommands([limitsSet]),
  Command.withDescription("show limits and policy")
)

// ------------------------------------------------------------------ GPUs, stats, cleanup, process

const gpusCommand = Command.make("gpus", common, (a) =>
  withControl(a, (control) =>
    Effect.gen(function* () {
      const { gpus } = yield* control.status
      if (a.format === "json") return yield* printJson(gpus)
      yield* print(
        gpus.length === 0
          ? "no GPUs (runs get CUDA_VISIBLE_DEVICES=\"\")"
          : F.table(["index", "name", "memory", "uuid", "state", "run"], gpus.map((g) => [g.index, g.name, `${g.memoryMiB} MiB`, g.uuid, g.drained ? "drained" : g.heldBy === null ? "free" : "allocated", g.heldBy]))
      )
    })
  )
).pipe(Command.withDescription("list GPUs and who holds them"))

const gpuAction = (name: "drain" | "undrain") =>
  Command.make(name, { ...common, index: Args.integer({ name: "index" }) }, (a) =>
    Effect.gen(function* () {
      if (a.index < 0) return yield* usage(`GPU index must be ≥ 0, not ${a.index}`)
      yield* withControl(a, (control) =>
        Effect.flatMap(control.drain(a.index, name === "drain"), () => (a.format === "json" ? printJson({ index: a.index, drained: name === "drain" }) : print(`GPU ${a.index} ${name === "drain" ? "drained" : "undrained"}`)))
      )
    })
  ).pipe(Command.withDescription(name === "drain" ? "stop allocating a GPU (its run keeps it until it ends)" : "allocate a drained GPU again"))

const gpuCommand = Command.make("gpu").pipe(Command.withSubcommands([gpuAction("drain"), gpuAction("undrain")]), Command.withDescription("drain or undrain a GPU"))

const statsCommand = Command.make("stats", common, (a) =>
  withControl(a, (control) =>
    Effect.gen(function* () {
      const s = yield* control.stats
      if (a.format === "json") return yield* printJson(s)
      const rows: Array<ReadonlyArray<unknown>> = [
        ["pending", s.pending],
        ["held", s.held],
        ["blocked", s.blocked],
        ["running", s.active],
        ["gpus", `${s.gpus.total} (${s.gpus.free} free, ${s.gpus.allocated} allocated, ${s.gpus.drained} drained)`],
        ["cycles", s.cycles],
        ["policy version", s.policyVersion]
      ]
      for (const [phase, t] of Object.entries(s.phases ?? {})) rows.push([`phase ${phase}`, `${t.totalMs.toFixed(1)} ms total, ${t.maxMs.toFixed(2)} ms max`])
      yield* print(F.table(["stat", "value"], rows))
    })
  )
).pipe(Command.withDescription("counts, GPUs and time spent per cycle phase"))

const cleanupCommand = Command.make("cleanup", { ...common, days: Options.integer("days") }, (a) =>
  Effect.gen(function* () {
    if (a.days < 1 || a.days > 365) return yield* usage(`--days must be from 1 to 365, not ${a.days}`)
    yield* withControl(a, (control) => Effect.flatMap(control.cleanup(a.days), (removed) => (a.format === "json" ? printJson({ removed }) : print(`removed ${removed} finished runs older than ${a.days} days`))))
  })
).pipe(Command.withDescription("delete finished runs older than N days"))

const processCommand = Command.make("process", common, (a) =>
  withControl(a, (control) => Effect.flatMap(control.trigger, () => (a.format === "json" ? printJson({ ok: true }) : print("cycle triggered"))))
).pipe(Command.withDescription("run a scheduling cycle now (never needed; harmless)"))

// ------------------------------------------------------------------ serve

const serveCommand = Command.make(
  "serve",
  {
    db: common.db,
    host: Options.text("host").pipe(Options.withDefault("127.0.0.1")),
    port: Options.integer("port").pipe(Options.withDefault(0), Options.withDescription("0 picks a free port")),
    gpus: Options.text("gpus").pipe(Options.optional, Options.withDescription('none, a count (2 = the first two), or indices 0,2,3 ("2," = GPU 2 alone); default: all'))
  },
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
        onReady: (url, gpus) =>
          process.stdout.write(
            [
              `gantry ${VERSION} serving ${url} (pid ${process.pid})`,
              `  database  ${paths.db}`,
              `  run logs  ${paths.dataDir}/runs/<run-id>/<attempt>/{stdout,stderr}.log`,
              `  GPUs      ${gpus === 0 ? "none: one run at a time (GANTRY_FAKE_GPUS=N to pretend)" : `${gpus} (gantry gpus)`}`,
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
    gpusCommand,
    gpuCommand,
    statsCommand,
    cleanupCommand,
    processCommand
  ]),
  Command.withDescription("gantry: a scheduler for ML runs on a shared GPU server")
)

export const cli = Command.run(gantry, { name: "gantry", version: VERSION })

const BOOLEAN_FLAGS: Readonly<Record<string, string>> = Object.fromEntries(
  ["follow", "all", "drain", "pause", "resume", "watch", "any-gpu", "hold", "requires-approval", "no-wait", "dry-run"].map((f) => [`--${f}`, `--${f}`])
)
const ALIASES: Readonly<Record<string, string>> = { ...BOOLEAN_FLAGS, "-f": "--follow" }

/**
 * @effect/cli lets a boolean flag take the next word as its value when that word reads as a
 * boolean ("1", "0", "y", "no", …), so `gantry logs -f 1` would parse as `--follow=1` and lose
 * run 1. Every boolean flag before `--` is therefore written as `--flag=true` before parsing.
 */
export const normalizeArgv = (argv: ReadonlyArray<string>): Array<string> => {
  const end = argv.indexOf("--")
  return argv.map((word, i) => ((end === -1 || i < end) && ALIASES[word] !== undefined ? `${ALIASES[word]}=true` : word))
}
