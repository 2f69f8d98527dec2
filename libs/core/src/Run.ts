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
 * What a user submits. Everything but the command and the user is optional;
 * the engine fills defaults (SPEC §4) and validates against its queues and GPUs.
 */
export const Submission = Schema.Struct({
  /** The program and its arguments; the program must be named. */
  command: Schema.Array(Schema.String).pipe(
    Schema.filter((c) => c.length > 0 && c[0] !== "", { message: () => "command: name a program to run" })
  ),
  user: UserName,
  level: Schema.optional(Level),
  team: Schema.optional(TeamName),
  project: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
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
  maxAttempts: Schema.optional(PositiveInt),
  maxQueuedTimeMs: Schema.optional(DurationMs),
  /** Ceiling from submission, queue wait included. */
  deadlineMs: Schema.optional(DurationMs),
  timeLimitMs: Schema.optional(DurationMs),
  estimatedCost: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  cwd: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  idempotencyKey: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))),
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
