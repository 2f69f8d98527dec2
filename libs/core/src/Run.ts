/**
 * Runs: the submission a user makes, and the record the engine keeps (SPEC §1, §2).
 */
import { Schema } from "effect"

export const RunId = Schema.String.pipe(Schema.minLength(1), Schema.brand("RunId"))
export type RunId = typeof RunId.Type

export const QueueName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: () => "a queue name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
  }),
  Schema.brand("QueueName")
)
export type QueueName = typeof QueueName.Type

export const UserName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128), Schema.brand("UserName"))
export type UserName = typeof UserName.Type

export const TeamName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128), Schema.brand("TeamName"))
export type TeamName = typeof TeamName.Type

export const Level = Schema.Literal("admin", "lead", "researcher", "viewer")
export type Level = typeof Level.Type

export const RunStatus = Schema.Literal(
  "held",
  "blocked",
  "pending",
  "running",
  "stopping",
  "completed",
  "failed",
  "cancelled",
  "rejected"
)
export type RunStatus = typeof RunStatus.Type

export const terminalStatuses: ReadonlySet<RunStatus> = new Set(["completed", "failed", "cancelled", "rejected"])
export const isTerminal = (status: RunStatus): boolean => terminalStatuses.has(status)
/** Statuses whose run holds its resources (counted by every limit of SPEC §4). */
export const isActive = (status: RunStatus): boolean => status === "running" || status === "stopping"

export const FailReason = Schema.Literal(
  "exit-code",
  "signal",
  "spawn-error",
  "lost",
  "queue-timeout",
  "deadline",
  "time-limit"
)
export type FailReason = typeof FailReason.Type

const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
const PositiveInt = Schema.Int.pipe(Schema.positive())
/** A duration in milliseconds, at least 1. */
export const DurationMs = PositiveInt

/**
 * How large a submission may be, in one place: the daemon, the CLI and anything that decodes
 * a `Submission` refuse more (docs/RUNNER.md "Limits"). Sizes of strings that reach the
 * kernel (arguments, environment, the working directory) are UTF-8 bytes, as the kernel counts
 * them; names are characters. The numbers:
 * - an argument and one `KEY=VALUE` are at most Linux's MAX_ARG_STRLEN (128 KiB), or `execve`
 *   fails with E2BIG when the run starts; the whole command (1 MiB) and environment (256 KiB)
 *   stay well inside ARG_MAX (2 MiB with the usual 8 MiB stack), leaving room for the
 *   runner's own environment;
 * - a request body of 4 MiB holds the largest submission these allow (1 MiB of command,
 *   256 KiB of env, 64 KiB of metadata, even escaped in JSON);
 * - the rest are generous for what they are: a name is a label, metadata a few tags.
 */
export const SubmissionLimits = {
  /** An HTTP request body, bytes: refused from its Content-Length or as it streams. */
  requestBytes: 4 * 1024 * 1024,
  /** Program and arguments: items, bytes of one, bytes of all. */
  commandItems: 4096,
  argBytes: 128 * 1024,
  commandBytes: 1024 * 1024,
  /** Environment variables: how many, bytes of a key, of one `KEY=VALUE`, of all. */
  envCount: 1024,
  envKeyBytes: 256,
  envVarBytes: 128 * 1024,
  envBytes: 256 * 1024,
  /** Metadata, bytes of its JSON. */
  metadataBytes: 64 * 1024,
  /** A run's name, characters. */
  nameChars: 256,
  /** User, team and project names, characters. */
  userChars: 128,
  teamChars: 128,
  projectChars: 128,
  /** An idempotency key, characters. */
  idempotencyKeyChars: 256,
  /** The working directory, bytes: PATH_MAX. */
  cwdBytes: 4096,
  /** Attempts of a run (the first one and its retries). */
  maxAttempts: 100
} as const

/** Bytes of `text` in UTF-8, without encoding it. */
export const utf8Bytes = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/** "128 KiB" for a whole number of KiB or MiB, else "N bytes". */
export const sizeText = (bytes: number): string =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`

const overBytes = (field: string, bytes: number, limit: number) => `${field} is ${bytes} bytes; the limit is ${sizeText(limit)}`
const overChars = (field: string, chars: number, limit: number) => `${field} is ${chars} characters; the limit is ${limit}`
const overItems = (field: string, items: number, limit: number, what: string) => `${field} has ${items} ${what}; the limit is ${limit}`

const jsonBytes = (value: unknown): number => {
  try {
    return utf8Bytes(JSON.stringify(value) ?? "")
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> => typeof value === "object" && value !== null && !Array.isArray(value)

/** A part of a submission over one of `SubmissionLimits`: the field, and a message naming it and the limit. */
export interface OverLimit {
  readonly field: string
  readonly message: string
}

const commandOverLimit = (command: ReadonlyArray<unknown>): OverLimit | undefined => {
  if (command.length > SubmissionLimits.commandItems) return { field: "command", message: overItems("command", command.length, SubmissionLimits.commandItems, "items") }
  let total = 0
  for (let i = 0; i < command.length; i++) {
    const arg = command[i]
    if (typeof arg !== "string") continue
    const bytes = utf8Bytes(arg)
    if (bytes > SubmissionLimits.argBytes) return { field: `command[${i}]`, message: overBytes(`command[${i}]`, bytes, SubmissionLimits.argBytes) }
    total += bytes
  }
  return total > SubmissionLimits.commandBytes ? { field: "command", message: overBytes("command", total, SubmissionLimits.commandBytes) } : undefined
}

const envOverLimit = (env: Readonly<Record<string, unknown>>): OverLimit | undefined => {
  const keys = Object.keys(env)
  if (keys.length > SubmissionLimits.envCount) return { field: "env", message: overItems("env", keys.length, SubmissionLimits.envCount, "variables") }
  let total = 0
  for (const key of keys) {
    const keyBytes = utf8Bytes(key)
    if (keyBytes > SubmissionLimits.envKeyBytes) return { field: "env", message: overBytes(`env key ${JSON.stringify(key.slice(0, 32))}…`, keyBytes, SubmissionLimits.envKeyBytes) }
    const value = env[key]
    if (typeof value !== "string") continue
    const bytes = keyBytes + 1 + utf8Bytes(value)
    if (bytes > SubmissionLimits.envVarBytes) return { field: `env.${key}`, message: overBytes(`env.${key} (as KEY=VALUE)`, bytes, SubmissionLimits.envVarBytes) }
    total += bytes
  }
  return total > SubmissionLimits.envBytes ? { field: "env", message: overBytes("env", total, SubmissionLimits.envBytes) } : undefined
}

/**
 * The first part of a submission, as received (not yet decoded), that is over
 * `SubmissionLimits`, or undefined. It looks only at sizes, and only at fields of the right
 * type (the `Submission` schema judges the rest), so it is cheap enough to run before
 * decoding: a submission too large is told so (HTTP 413, exit 65), not that it is malformed.
 */
export const submissionOverLimit = (input: unknown): OverLimit | undefined => {
  if (!isRecord(input)) return undefined
  const chars = (field: string, limit: number): OverLimit | undefined => {
    const value = input[field]
    return typeof value === "string" && value.length > limit ? { field, message: overChars(field, value.length, limit) } : undefined
  }
  const { command, env, metadata, cwd } = input
  const over =
    chars("name", SubmissionLimits.nameChars) ??
    chars("user", SubmissionLimits.userChars) ??
    chars("team", SubmissionLimits.teamChars) ??
    chars("project", SubmissionLimits.projectChars) ??
    chars("idempotencyKey", SubmissionLimits.idempotencyKeyChars) ??
    (Array.isArray(command) ? commandOverLimit(command) : undefined) ??
    (isRecord(env) ? envOverLimit(env) : undefined)
  if (over !== undefined) return over
  if (isRecord(metadata)) {
    const bytes = jsonBytes(metadata)
    if (bytes > SubmissionLimits.metadataBytes) return { field: "metadata", message: overBytes("metadata (as JSON)", bytes, SubmissionLimits.metadataBytes) }
  }
  if (typeof cwd === "string") {
    const bytes = utf8Bytes(cwd)
    if (bytes > SubmissionLimits.cwdBytes) return { field: "cwd", message: overBytes("cwd", bytes, SubmissionLimits.cwdBytes) }
  }
  return undefined
}

const CONTROL = /[\u0000-\u001f\u007f]/
/** A name that prints on one line: no control characters (NUL, newline, escape, ...). */
const printable =
  (what: string) =>
  <A extends string, I, R>(self: Schema.Schema<A, I, R>) =>
    self.pipe(Schema.filter((s) => !CONTROL.test(s) || `${what} must not contain control characters (NUL, newline, tab, escape, ...)`))
const noNul =
  (what: string) =>
  <A extends string, I, R>(self: Schema.Schema<A, I, R>) =>
    self.pipe(Schema.filter((s) => !s.includes("\u0000") || `${what} must not contain a NUL character`))
const maxBytes =
  (what: string, limit: number) =>
  <A extends string, I, R>(self: Schema.Schema<A, I, R>) =>
    self.pipe(
      Schema.filter((s) => {
        const bytes = utf8Bytes(s)
        return bytes <= limit || overBytes(what, bytes, limit)
      })
    )
const maxChars =
  (what: string, limit: number) =>
  <A extends string, I, R>(self: Schema.Schema<A, I, R>) =>
    self.pipe(Schema.filter((s) => s.length <= limit || overChars(what, s.length, limit)))

/** An environment variable's name: not empty, no '=' or NUL (the kernel's KEY=VALUE could not carry it). */
const envKeyProblem = (key: string): string | undefined =>
  key === ""
    ? "an env key must not be empty"
    : key.includes("=")
      ? `env key ${JSON.stringify(key.slice(0, 64))} must not contain '='`
      : key.includes("\u0000")
        ? "an env key must not contain a NUL character"
        : undefined

/**
 * What a user submits. Everything but the command and the user is optional;
 * the engine fills defaults (SPEC §4) and validates against its queues and GPUs.
 * Sizes are bounded by `SubmissionLimits`; strings that reach the kernel carry no NUL.
 */
export const Submission = Schema.Struct({
  /** The program and its arguments; the program must be named. */
  command: Schema.Array(Schema.String.pipe(noNul("an argument"))).pipe(
    Schema.filter((c) => c.length > 0 && c[0] !== "", { message: () => "command: name a program to run" }),
    Schema.filter((c) => commandOverLimit(c)?.message ?? true)
  ),
  user: UserName.pipe(printable("user")),
  level: Schema.optional(Level),
  team: Schema.optional(TeamName.pipe(printable("team"))),
  project: Schema.optional(Schema.String.pipe(Schema.minLength(1), maxChars("project", SubmissionLimits.projectChars), printable("project"))),
  name: Schema.optional(Schema.String.pipe(maxChars("name", SubmissionLimits.nameChars), noNul("name"))),
  queue: Schema.optional(QueueName),
  /** GPUs needed; the engine defaults it to 1 on a machine with GPUs and 0 on one without. */
  gpus: Schema.optional(NonNegativeInt),
  deviceIds: Schema.optional(Schema.Array(NonNegativeInt)),
  anyGpu: Schema.optional(Schema.Boolean),
  /** A priority override (SPEC §3); only leads and admins may set one. */
  priority: Schema.optional(Schema.Int),
  hold: Schema.optional(Schema.Boolean),
  requiresApproval: Schema.optional(Schema.Boolean),
  noWait: Schema.optional(Schema.Boolean),
  dryRun: Schema.optional(Schema.Boolean),
  maxAttempts: Schema.optional(
    PositiveInt.pipe(Schema.filter((n) => n <= SubmissionLimits.maxAttempts || `maxAttempts is ${n}; the limit is ${SubmissionLimits.maxAttempts}`))
  ),
  maxQueuedTimeMs: Schema.optional(DurationMs),
  /** Ceiling from submission, queue wait included. */
  deadlineMs: Schema.optional(DurationMs),
  timeLimitMs: Schema.optional(DurationMs),
  estimatedCost: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  // the keys are checked by the filter, not by a key schema: a record drops a key its key
  // schema refuses (or, decoded strictly, calls it "unexpected"), which tells the user nothing
  env: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.String.pipe(noNul("an env value")) }).pipe(
      Schema.filter((e) => {
        for (const key of Object.keys(e)) {
          const problem = envKeyProblem(key)
          if (problem !== undefined) return problem
        }
        return envOverLimit(e)?.message ?? true
      })
    )
  ),
  /** The working directory: an absolute path (the runner also checks that it is a directory). */
  cwd: Schema.optional(
    Schema.String.pipe(
      Schema.filter((p) => p.startsWith("/") || `cwd must be an absolute path, not ${JSON.stringify(p.slice(0, 100))}`),
      noNul("cwd"),
      maxBytes("cwd", SubmissionLimits.cwdBytes)
    )
  ),
  metadata: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
      Schema.filter((m) => {
        const bytes = jsonBytes(m)
        return bytes <= SubmissionLimits.metadataBytes || overBytes("metadata (as JSON)", bytes, SubmissionLimits.metadataBytes)
      })
    )
  ),
  idempotencyKey: Schema.optional(
    Schema.String.pipe(Schema.minLength(1), maxChars("idempotencyKey", SubmissionLimits.idempotencyKeyChars), noNul("idempotencyKey"))
  ),
  parentId: Schema.optional(RunId)
})
export type Submission = typeof Submission.Type

/** Why a running run is being stopped (SPEC §2): it decides the status the run ends in. */
export const StopCause = Schema.Literal("cancel", "deadline", "time-limit")
export type StopCause = typeof StopCause.Type

const Int = Schema.Int
const NullOrNumber = Schema.NullOr(Schema.Number)

/**
 * The engine's record of a run: plain, immutable data, persisted by the Store, read by
 * decide(), and the API's wire shape (libs/api derives its types from these schemas). Only the
 * engine changes a run, through its statechart (libs/engine Kernel.ts); what it hands out are
 * frozen copies.
 */
export const Run = Schema.Struct({
  id: RunId,
  /** Submission sequence number: unique, increasing, the last tie-breaker of SPEC §3. */
  seq: Int,
  name: Schema.NullOr(Schema.String),
  command: Schema.Array(Schema.String),
  env: Schema.Record({ key: Schema.String, value: Schema.String }),
  cwd: Schema.NullOr(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  queue: QueueName,
  user: UserName,
  level: Level,
  team: Schema.NullOr(TeamName),
  project: Schema.NullOr(Schema.String),
  gpus: Int,
  deviceIds: Schema.NullOr(Schema.Array(Int)),
  anyGpu: Schema.Boolean,
  basePriority: Int,
  maxAttempts: Int,
  maxQueuedTimeMs: NullOrNumber,
  /** Absolute time (ms) of the deadline: submission time + deadlineMs. */
  deadlineAt: NullOrNumber,
  timeLimitMs: NullOrNumber,
  estimatedCost: NullOrNumber,
  requiresApproval: Schema.Boolean,
  idempotencyKey: Schema.NullOr(Schema.String),
  parentId: Schema.NullOr(RunId),
  submittedAt: Schema.Number,
  /** Set by a lead or admin at any time (SPEC §3); null = the level's base priority. */
  priorityOverride: Schema.NullOr(Int),
  // --- the lifecycle: changed only by the run statechart ---
  status: RunStatus,
  /** 1-based attempt number. */
  attempt: Int,
  /** Submit, approval, release or retry time: the third key of SPEC §3, and when queue wait starts. */
  eligibleAt: Schema.Number,
  startedAt: NullOrNumber,
  endedAt: NullOrNumber,
  assignedGpus: Schema.Array(Int),
  exitCode: Schema.NullOr(Int),
  signal: Schema.NullOr(Schema.String),
  failReason: Schema.NullOr(FailReason),
  rejectReason: Schema.NullOr(Schema.String),
  /** Why a stopping run is being stopped; persisted so a restarted runner ends it with the right status. */
  stopCause: Schema.NullOr(StopCause)
})
export type Run = typeof Run.Type

/** The lifecycle fields of a run just submitted: first attempt, eligible now, never started. */
export const freshLifecycle = (status: RunStatus, eligibleAt: number) => ({
  status,
  attempt: 1,
  eligibleAt,
  startedAt: null,
  endedAt: null,
  assignedGpus: [],
  exitCode: null,
  signal: null,
  failReason: null,
  rejectReason: null,
  stopCause: null
})

/** One transition of a run's timeline (SPEC §2): every status change is recorded as one. */
export const RunEvent = Schema.Struct({
  runId: RunId,
  from: Schema.NullOr(RunStatus),
  to: RunStatus,
  /** Why: a FailReason, "submitted", "released", "approved", "retry", a reject reason, ... */
  reason: Schema.String,
  at: Schema.Number,
  attempt: Int
})
export type RunEvent = typeof RunEvent.Type
