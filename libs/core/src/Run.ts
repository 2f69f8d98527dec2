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

/** The engine's record of a run. Plain data: persisted by the Store, read by decide(). */
export interface Run {
  readonly id: RunId
  /** Submission sequence number: unique, increasing, the last tie-breaker of SPEC §3. */
  readonly seq: number
  readonly name: string | null
  readonly command: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | null
  readonly metadata: Readonly<Record<string, unknown>>
  readonly queue: QueueName
  readonly user: UserName
  readonly level: Level
  readonly team: TeamName | null
  readonly project: string | null
  readonly gpus: number
  readonly deviceIds: ReadonlyArray<number> | null
  readonly anyGpu: boolean
  readonly basePriority: number
  readonly maxAttempts: number
  readonly maxQueuedTimeMs: number | null
  /** Absolute time (ms) of the deadline: submission time + deadlineMs. */
  readonly deadlineAt: number | null
  readonly timeLimitMs: number | null
  readonly estimatedCost: number | null
  readonly requiresApproval: boolean
  readonly idempotencyKey: string | null
  readonly parentId: RunId | null
  readonly submittedAt: number
  // --- mutable fields: the lifecycle (changed only through the run statechart) and the override ---
  /** Set by a lead or admin at any time (SPEC §3); null = the level's base priority. */
  priorityOverride: number | null
  status: RunStatus
  /** 1-based attempt number. */
  attempt: number
  /** Submit, approval, release or retry time: the third key of SPEC §3, and when queue wait starts. */
  eligibleAt: number
  startedAt: number | null
  endedAt: number | null
  assignedGpus: ReadonlyArray<number>
  exitCode: number | null
  signal: string | null
  failReason: FailReason | null
  rejectReason: string | null
  /** Why a stopping run is being stopped; persisted so a restarted runner ends it with the right status. */
  stopCause: StopCause | null
}

/** Why a running run is being stopped (SPEC §2): it decides the status the run ends in. */
export type StopCause = "cancel" | "deadline" | "time-limit"

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
export interface RunEvent {
  readonly runId: RunId
  readonly from: RunStatus | null
  readonly to: RunStatus
  /** Why: a FailReason, "submitted", "released", "approved", "retry", a reject reason, ... */
  readonly reason: string
  readonly at: number
  readonly attempt: number
}
