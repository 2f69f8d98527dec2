/**
 * What a user typed, turned into domain values before anything is sent: the options every
 * command shares, durations, limits, GPU lists, K=V pairs, JSON files (unknown fields are
 * an error), a submission, a queue change, a policy setting, and the argv fix-up for
 * @effect/cli's boolean flags. Every refusal is a `CliError` with its exit code.
 */
import { Args, Options, type Usage } from "@effect/cli"
import type { SubmitRequest } from "@gantry/api"
import { defaultPolicy, type Policy, QueueName, RunId, sharedPolicy } from "@gantry/core"
import { Data, Effect, Option, ParseResult, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { decodeSubmission } from "./Judge.js"
import * as F from "./Format.js"

/** A refusal of the CLI itself: printed as `gantry: message`, exits with `exit`. */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string; readonly exit: number }> {}

export const usage = (message: string) => new CliError({ message, exit: 64 })

export const common = {
  format: Options.choice("format", ["table", "json"]).pipe(Options.withDefault("table" as const), Options.withDescription("output format")),
  db: Options.text("db").pipe(Options.optional, Options.withDescription("database file (default: $GANTRY_HOME/gantry.db)")),
  url: Options.text("url").pipe(Options.optional, Options.withDescription("a daemon's URL (default: $GANTRY_URL, else the last gantry login, else the daemon serving the database)")),
  token: Options.text("token").pipe(Options.optional, Options.withDescription("bearer token for the URL (default: $GANTRY_TOKEN, else the one gantry login stored)"))
}
export type Common = { readonly format: "table" | "json"; readonly db: Option.Option<string>; readonly url: Option.Option<string>; readonly token: Option.Option<string> }

// ------------------------------------------------------------------ parsing helpers

export const decodeWith =
  <A, I>(schema: Schema.Schema<A, I>, what: string) =>
  (value: unknown): Effect.Effect<A, CliError> =>
    Schema.decodeUnknown(schema, { onExcessProperty: "error", errors: "all" })(value).pipe(
      Effect.mapError((e) => usage(`${what}: ${ParseResult.TreeFormatter.formatErrorSync(e)}`))
    )

export const runId = (text: string) => decodeWith(RunId, "run id")(text)
export const queueName = (text: string) => decodeWith(QueueName, "queue name")(text)

export const duration = (flag: string, value: Option.Option<string>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) => {
      const parsed = F.parseDuration(text)
      return "error" in parsed ? Effect.fail(usage(`--${flag}: ${parsed.error}`)) : Effect.succeed(parsed.ms)
    }
  })

export const nonNegative = (flag: string, value: Option.Option<number>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (n) => (Number.isInteger(n) && n >= 0 ? Effect.succeed(n) : Effect.fail(usage(`--${flag} must be a whole number ≥ 0, not ${n}`)))
  })

export const indexList = (flag: string, text: string) => {
  const parts = text.split(",").map((s) => s.trim())
  if (parts.some((p) => !/^\d+$/.test(p))) return Effect.fail(usage(`--${flag}: expected GPU indices like 0,2,3, not "${text}"`))
  return Effect.succeed(parts.map(Number))
}

/** `none` or a whole number ≥ 1: a limit (null = no limit). */
export const limitValue = (flag: string, text: string): Effect.Effect<number | null, CliError> => {
  if (text === "none" || text === "null") return Effect.succeed(null)
  if (/^\d+$/.test(text) && Number(text) >= 1) return Effect.succeed(Number(text))
  return Effect.fail(usage(`${flag}: expected a whole number ≥ 1 or "none", not "${text}"`))
}

export const keyValues = (flag: string, pairs: ReadonlyArray<string>, parseValue: (v: string) => unknown) =>
  Effect.forEach(pairs, (pair) => {
    const eq = pair.indexOf("=")
    return eq <= 0 ? Effect.fail(usage(`--${flag}: expected KEY=VALUE, not "${pair}"`)) : Effect.succeed([pair.slice(0, eq), parseValue(pair.slice(eq + 1))] as const)
  }).pipe(Effect.map((entries) => Object.fromEntries(entries)))

export const jsonOrString = (v: string): unknown => {
  try {
    return JSON.parse(v)
  } catch {
    return v
  }
}

export const readJsonFile = (file: string): Effect.Effect<unknown, CliError> =>
  Effect.try({
    try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
    catch: (e) => usage(`${file}: ${e instanceof Error ? e.message : String(e)}`)
  })

export const submitOptions = {
  ...common,
  queue: Options.text("queue").pipe(
    Options.optional,
    Options.withDescription("the queue (else the --file task's queue, else $GANTRY_QUEUE, else the project's default queue, else default)")
  ),
  gpus: Options.integer("gpus").pipe(Options.optional, Options.withDescription("GPUs needed (default 1 on a machine with GPUs, else 0)")),
  deviceIds: Options.text("device-ids").pipe(Options.optional, Options.withDescription("exact GPU indices, e.g. 0,2")),
  anyGpu: Options.boolean("any-gpu").pipe(Options.withDescription("with --device-ids: any of those GPUs will do, not all of them")),
  priority: Options.integer("priority").pipe(Options.optional, Options.withDescription("a priority override (leads and admins only)")),
  as: Options.text("as").pipe(
    Options.withAlias("user"),
    Options.optional,
    Options.withDescription("submit on behalf of this user (admins only); the run's level and team are that user's")
  ),
  project: Options.text("project").pipe(Options.optional, Options.withDescription("the project (default: your first project); it decides the default queue")),
  hold: Options.boolean("hold").pipe(Options.withDescription("store it held: it starts only after gantry release ID")),
  requiresApproval: Options.boolean("requires-approval").pipe(Options.withDescription("store it blocked until an admin approves it (gantry approve ID)")),
  noWait: Options.boolean("no-wait").pipe(Options.withDescription("start now or refuse (exit 75), never queue")),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("say whether it would start now, on which GPUs, or why it would wait; store nothing")),
  maxAttempts: Options.integer("max-attempts").pipe(Options.optional, Options.withDescription("attempts in all, the first included (default 1: no retry); 1-100")),
  maxQueuedTime: Options.text("max-queued-time").pipe(Options.optional, Options.withDescription("fail it (queue-timeout) if still waiting after this long: 90s, 10m, 2h, 1d")),
  deadline: Options.text("deadline").pipe(Options.optional, Options.withDescription("end it (deadline) this long after submission, waiting included: 90s, 10m, 2h, 1d")),
  timeLimit: Options.text("time-limit").pipe(Options.optional, Options.withDescription("stop it (time-limit) after running this long: 90s, 10m, 2h, 1d")),
  name: Options.text("name").pipe(Options.optional, Options.withDescription("a label shown in gantry runs (up to 256 characters)")),
  env: Options.text("env").pipe(Options.repeated, Options.withDescription("K=V, repeatable")),
  metadata: Options.text("metadata").pipe(Options.repeated, Options.withDescription("K=V (V parsed as JSON when it is), repeatable")),
  cwd: Options.text("cwd").pipe(Options.optional, Options.withDescription("working directory on the runner's machine (default: the current one)")),
  idempotencyKey: Options.text("idempotency-key").pipe(Options.optional, Options.withDescription("submitting again with the same key (yours) returns the first run instead of a second")),
  file: Options.text("file").pipe(Options.optional, Options.withDescription("a JSON submission; flags override its fields")),
  config: Options.text("config").pipe(Options.optional, Options.withDescription("a saved template (gantry config list) as the submission; flags override its fields")),
  from: Options.text("from").pipe(
    Options.optional,
    Options.withDescription("a JSONL file, one submission per line (as --file has them): all stored in one transaction, or none and the bad line named")
  ),
  command: Args.text({ name: "command" }).pipe(Args.repeated, Args.withDescription("the program to run and its arguments, after --"))
}
export type SubmitArgs = { readonly [K in keyof typeof submitOptions]: (typeof submitOptions)[K] extends Options.Options<infer A> ? A : (typeof submitOptions)[K] extends Args.Args<infer B> ? B : never }

/**
 * The submission the flags, the `--file` task (or the `--config` template) and the environment describe. The queue is the
 * most specific given (SPEC §1): `--queue`, else the task file's `queue`, else
 * `$GANTRY_QUEUE`; with none, the runner routes it (the project's default queue, else
 * `default`). The run's user, level and team are never sent: the runner takes them from the
 * caller's identity (`--as` names another user, for an admin).
 */
export const buildSubmission = (a: SubmitArgs, env: NodeJS.ProcessEnv = process.env, template?: Record<string, unknown>): Effect.Effect<SubmitRequest, CliError> =>
  Effect.gen(function* () {
    if (Option.isSome(a.file) && Option.isSome(a.config)) return yield* usage("--file and --config both give the submission: choose one")
    const base = Option.isSome(a.file) ? yield* readJsonFile(a.file.value) : (template ?? {})
    if (base === null || typeof base !== "object" || Array.isArray(base)) return yield* usage(`--file: expected a JSON object`)
    const fields: Record<string, unknown> = { cwd: process.cwd(), ...base }
    const set = (key: string, value: unknown) => {
      if (value !== undefined) fields[key] = value
    }
    if (a.command.length > 0) set("command", a.command)
    if (fields.command === undefined || (Array.isArray(fields.command) && (fields.command.length === 0 || fields.command[0] === "")))
      return yield* usage("no command: gantry submit [options] -- COMMAND [ARGS...]")
    set("queue", Option.getOrUndefined(a.queue))
    if (fields.queue === undefined && env.GANTRY_QUEUE !== undefined && env.GANTRY_QUEUE !== "") set("queue", env.GANTRY_QUEUE)
    set("gpus", yield* nonNegative("gpus", a.gpus))
    if (Option.isSome(a.deviceIds)) set("deviceIds", yield* indexList("device-ids", a.deviceIds.value))
    if (a.anyGpu) set("anyGpu", true)
    set("priority", Option.getOrUndefined(a.priority))
    set("user", Option.getOrUndefined(a.as))
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
    // relative to where the command was typed; whether it is a directory the runner checks
    if (typeof fields.cwd === "string" && fields.cwd !== "" && !fields.cwd.includes("\u0000")) {
      const absolute = path.resolve(fields.cwd)
      fields.cwd = fs.existsSync(absolute) ? fs.realpathSync(absolute) : absolute
    }
    // too large: exit 65 naming the field and the limit; malformed: exit 64
    return yield* Effect.mapError(decodeSubmission(fields), (e) => new CliError({ message: e.message, exit: e.exit }))
  })

/** What a line of a `--from` file became, and which line it was. */
export interface BulkFile {
  readonly requests: ReadonlyArray<SubmitRequest>
  /** The file's line number of each request (blank lines are skipped). */
  readonly lines: ReadonlyArray<number>
}

/**
 * `submit --from FILE.jsonl`: each non-blank line a submission as `--file` takes one (its
 * `cwd` relative to where the command is typed, `$GANTRY_QUEUE` when it names no queue),
 * checked here line by line; the first bad line is named (`FILE:LINE: ...`) and nothing is sent.
 * No other submission flag may come with it: every field is the file's.
 */
export const buildBulk = (a: SubmitArgs, env: NodeJS.ProcessEnv = process.env): Effect.Effect<BulkFile, CliError> =>
  Effect.gen(function* () {
    const file = Option.getOrThrow(a.from)
    const common = new Set(["format", "db", "url", "token", "from"])
    for (const [key, value] of Object.entries(a)) {
      if (common.has(key)) continue
      const v: unknown = value
      const given = Option.isOption(v) ? Option.isSome(v) : v === true || (Array.isArray(v) && v.length > 0)
      if (given) return yield* usage(`--from takes every field from ${file}: give ${key === "command" ? "the command" : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`} there, on each line`)
    }
    let text: string
    try {
      text = fs.readFileSync(file, "utf8")
    } catch (e) {
      return yield* usage(`${file}: ${e instanceof Error ? e.message : String(e)}`)
    }
    const requests: Array<SubmitRequest> = []
    const lines: Array<number> = []
    const rows = text.split("\n")
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!.trim()
      if (row === "") continue
      const at = `${file}:${i + 1}`
      let value: unknown
      try {
        value = JSON.parse(row)
      } catch (e) {
        return yield* usage(`${at}: not JSON: ${e instanceof Error ? e.message : String(e)}`)
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) return yield* usage(`${at}: expected a JSON object (one submission)`)
      const fields: Record<string, unknown> = { cwd: process.cwd(), ...(value as Record<string, unknown>) }
      if (fields.queue === undefined && env.GANTRY_QUEUE !== undefined && env.GANTRY_QUEUE !== "") fields.queue = env.GANTRY_QUEUE
      if (typeof fields.cwd === "string" && fields.cwd !== "" && !fields.cwd.includes("\u0000")) fields.cwd = path.resolve(fields.cwd)
      requests.push(yield* Effect.mapError(decodeSubmission(fields), (e) => new CliError({ message: `${at}: ${e.message}`, exit: e.exit })))
      lines.push(i + 1)
    }
    if (requests.length === 0) return yield* usage(`${file}: no submissions (one JSON object per line)`)
    return { requests, lines }
  })

export const queueOptions = {
  ...common,
  priority: Options.integer("priority").pipe(Options.optional, Options.withDescription("queue priority: higher queues go first (SPEC §3)")),
  maxConcurrent: Options.text("max-concurrent").pipe(Options.optional, Options.withDescription("running runs of the queue at once, children included, or none")),
  runConcurrency: Options.text("run-concurrency").pipe(Options.optional, Options.withDescription("running top-level runs of the queue at once, or none")),
  depth: Options.text("depth").pipe(Options.optional, Options.withDescription("waiting and running runs the queue holds; more are refused (429, exit 75), or none")),
  gpuPool: Options.text("gpu-pool").pipe(Options.optional, Options.withDescription('GPU indices, or "all"')),
  gpuQuota: Options.text("gpu-quota").pipe(Options.optional, Options.withDescription("GPUs the queue's running runs may hold at once, or none")),
  pause: Options.boolean("pause").pipe(Options.withDescription("accept submissions but start nothing")),
  resume: Options.boolean("resume").pipe(Options.withDescription("start runs again after --pause")),
  file: Options.text("file").pipe(Options.optional, Options.withDescription("a JSON queue config; unknown fields are an error")),
  name: Args.text({ name: "name" }).pipe(Args.withDescription("the queue's name"))
}
export type QueueArgs = { readonly [K in keyof typeof queueOptions]: (typeof queueOptions)[K] extends Options.Options<infer A> ? A : (typeof queueOptions)[K] extends Args.Args<infer B> ? B : never }

export const queueChange = (a: QueueArgs): Effect.Effect<Record<string, unknown>, CliError> =>
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

export const applySetting = (policy: Policy, key: string, value: string): Effect.Effect<Policy, CliError> =>
  Effect.gen(function* () {
    const ms = (v: string) => {
      const d = F.parseDuration(v)
      return "error" in d ? Effect.fail(usage(`${key}: ${d.error}`)) : Effect.succeed(d.ms)
    }
    if ((F.LIMIT_KEYS as ReadonlyArray<string>).includes(key)) {
      return { ...policy, limits: { ...policy.limits, [F.camel(key)]: yield* limitValue(key, value) } }
    }
    const level = /^priority-(admin|lead|researcher|viewer)$/.exec(key)?.[1] as keyof Policy["levelPriorities"] | undefined
    if (level !== undefined) {
      if (!/^-?\d+$/.test(value)) return yield* usage(`${key}: a whole number, not "${value}"`)
      return { ...policy, levelPriorities: { ...policy.levelPriorities, [level]: Number(value) } }
    }
    switch (key) {
      case "preset": {
        // the preset's every field but the version: later settings on the same line apply on top
        const preset = value === "shared" ? sharedPolicy : value === "default" ? defaultPolicy : undefined
        if (preset === undefined) return yield* usage(`preset: shared or default, not "${value}"`)
        return { ...preset, version: policy.version }
      }
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
          `unknown setting "${key}" (one of ${["preset", ...F.LIMIT_KEYS, "fair-share", "fair-share-half-life", "backfill", "kill-grace", "aging", "starvation-threshold", "aging-step", "aging-interval", "priority-admin", "priority-lead", "priority-researcher", "priority-viewer"].join(", ")}; approval rules: --file)`
        )
    }
  })

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

// ------------------------------------------------------------------ the command line, checked

/** What a flag takes: nothing (a boolean), a whole number, any text, or one of some words. */
export type FlagValue = "none" | "integer" | "text" | ReadonlyArray<string>

/** The flags a command accepts (aliases included), read from its @effect/cli options. */
export const flagsOf = (options: Readonly<Record<string, unknown>>): ReadonlyMap<string, FlagValue> => {
  const flags = new Map<string, FlagValue>()
  const walk = (u: Usage.Usage): void => {
    switch (u._tag) {
      case "Named": {
        const value: FlagValue = Option.match(u.acceptedValues, {
          onNone: () => "none",
          onSome: (v) => (v === "integer" ? "integer" : v.includes(" | ") ? v.split(" | ") : "text")
        })
        for (const name of u.names) flags.set(name, value)
        return
      }
      case "Optional":
      case "Repeated":
        return walk(u.usage)
      case "Alternation":
      case "Concat":
        walk(u.left)
        walk(u.right)
        return
      default:
        return
    }
  }
  for (const option of Object.values(options)) if (Options.isOptions(option)) walk(Options.getUsage(option))
  return flags
}

export interface CommandSpec {
  readonly flags: ReadonlyMap<string, FlagValue>
  /** The command takes a program to run after `--` (submit, run). */
  readonly takesCommand: boolean
}

/** Submit options that are gone, and why (the run's identity is the caller's). */
const RETIRED: ReadonlyMap<string, string> = new Map([
  ["--level", "a run's level comes from your identity (gantry whoami); an admin changes it with gantry user set"],
  ["--team", "a run's team comes from your identity (gantry whoami); an admin changes it with gantry user set"]
])

/** @effect/cli's own flags: where one is given, it answers (help, version, ...). */
const BUILT_IN = new Set(["--help", "-h", "--version", "--wizard", "--completions", "--log-level"])

/**
 * Checks the words before `--` against the command's flags, before @effect/cli parses them:
 * it would take an unknown option (`--frobnicate`, `-x`) or a boolean flag's stray value
 * (`--hold maybe`) for the program to run. Returns the usage error (exit 64) naming the
 * option, or undefined. `commands` maps "runs", "runs show", "queue create", ... to their spec.
 */
export const checkArgv = (argv: ReadonlyArray<string>, commands: ReadonlyMap<string, CommandSpec>): CliError | undefined => {
  const words = argv.slice(2)
  const dashes = words.indexOf("--")
  const end = dashes === -1 ? words.length : dashes
  if (words.slice(0, end).some((w) => BUILT_IN.has(w.split("=")[0]!))) return undefined
  const known = new Set([...commands.keys()].flatMap((key) => key.split(" ").map((_, i, parts) => parts.slice(0, i + 1).join(" "))))
  let name = ""
  let i = 0
  while (i < end && known.has(name === "" ? words[i]! : `${name} ${words[i]!}`)) name = name === "" ? words[i++]! : `${name} ${words[i++]!}`
  const spec = commands.get(name)
  if (spec === undefined) return undefined // no command, or an unknown one: @effect/cli says which there are
  let previous = ""
  for (; i < end; previous = words[i++]!) {
    const word = words[i]!
    if (!word.startsWith("-") || word === "-" || /^-\d/.test(word)) {
      if (spec.takesCommand && dashes !== -1)
        return usage(
          spec.flags.get(previous) === "none"
            ? `${name}: ${previous} is a flag and takes no value, not "${word}" (the program to run goes after --)`
            : `${name}: unexpected "${word}" before --: the program to run and its arguments go after --`
        )
      continue
    }
    const eq = word.indexOf("=")
    const flag = eq === -1 ? word : word.slice(0, eq)
    const inline = eq === -1 ? undefined : word.slice(eq + 1)
    const value = spec.flags.get(flag)
    const retired = spec.takesCommand ? RETIRED.get(flag) : undefined
    if (value === undefined && retired !== undefined) return usage(`${name}: ${flag} is no longer accepted: ${retired}`)
    if (value === undefined)
      return usage(`${name}: unknown option ${flag}${spec.takesCommand ? " (the program to run and its arguments go after --)" : ""}`)
    if (value === "none") {
      if (inline !== undefined && inline !== "true" && inline !== "false") return usage(`${name}: ${flag} is a flag and takes no value, not "${inline}"`)
      continue
    }
    let given = inline
    if (given === undefined) {
      if (i + 1 >= end) return usage(`${name}: ${flag} needs a value`)
      given = words[++i]!
    }
    if (value === "integer" && !/^-?\d+$/.test(given)) return usage(`${name}: ${flag} takes a whole number, not "${given}"`)
    if (typeof value !== "string" && !value.includes(given)) return usage(`${name}: ${flag} is one of ${value.join(", ")}, not "${given}"`)
  }
  return undefined
}
