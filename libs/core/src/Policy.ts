/**
 * Queues and policy: every knob of SPEC §3 and §4, with their defaults and presets.
 */
import { Schema } from "effect"
import { type Level, QueueName } from "./Run.js"

const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
const PositiveInt = Schema.Int.pipe(Schema.positive())
/** A limit: a positive count, or null for "none". */
const Limit = Schema.NullOr(PositiveInt)

export const QueueConfig = Schema.Struct({
  name: QueueName,
  /** Higher first (SPEC §3 key 1). */
  priority: Schema.Int,
  /** Running runs routed to the queue, children included. */
  maxConcurrent: Limit,
  /** Running top-level runs of the queue; children of a running run are not capped by it. */
  runConcurrency: Limit,
  /** Bound on pending + blocked + held + running runs; a submission over it is refused (QueueFull). */
  depth: Limit,
  /** GPU indices this queue's runs may use; null = all. */
  gpuPool: Schema.NullOr(Schema.Array(NonNegativeInt)),
  /** GPUs held at once by the queue's running runs; null = unlimited. */
  gpuQuota: Limit,
  /** A paused queue accepts submissions but starts nothing. */
  paused: Schema.Boolean
})
export type QueueConfig = typeof QueueConfig.Type

export const DEFAULT_QUEUE = QueueName.make("default")

export const makeQueue = (name: string, config: Partial<Omit<QueueConfig, "name">> = {}): QueueConfig => ({
  name: QueueName.make(name),
  priority: 0,
  maxConcurrent: null,
  runConcurrency: null,
  depth: null,
  gpuPool: null,
  gpuQuota: null,
  paused: false,
  ...config
})

export const Limits = Schema.Struct({
  /** Running runs, all queues; null = the number of GPUs, at least 1. */
  maxConcurrent: Limit,
  userMaxConcurrent: Limit,
  /** Applies only when fairShare is "limits" or "usage" and the run has a team. */
  teamMaxConcurrent: Limit,
  /** GPUs held by running runs on the local worker; null = unlimited. */
  localGpuMaxConcurrent: Limit,
  /** Runs on the local worker; null = unlimited. */
  localJobMaxConcurrent: Limit
})
export type Limits = typeof Limits.Type

export const Aging = Schema.Struct({
  starvationThresholdMs: NonNegativeInt,
  /** Non-negative: the index relies on the boost only growing with waiting time. */
  agingStep: NonNegativeInt,
  agingIntervalMs: PositiveInt
})
export type Aging = typeof Aging.Type

export const FairShareMode = Schema.Literal("off", "limits", "usage")
export type FairShareMode = typeof FairShareMode.Type

/** A run matching any rule enters `blocked` until approved (SPEC §4). */
export const ApprovalRule = Schema.Struct({
  gpusAtLeast: Schema.optional(PositiveInt),
  estimatedCostAbove: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
})
export type ApprovalRule = typeof ApprovalRule.Type

export const LevelPriorities = Schema.Struct({
  admin: Schema.Int,
  lead: Schema.Int,
  researcher: Schema.Int,
  viewer: Schema.Int
})

export const Policy = Schema.Struct({
  version: NonNegativeInt,
  limits: Limits,
  /** null = aging off. */
  aging: Schema.NullOr(Aging),
  fairShare: Schema.Struct({ mode: FairShareMode, halfLifeMs: PositiveInt }),
  approvalRules: Schema.Array(ApprovalRule),
  backfill: Schema.Boolean,
  levelPriorities: LevelPriorities,
  /** SIGTERM, then SIGKILL this much later (SPEC §5). */
  killGraceMs: NonNegativeInt
})
export type Policy = typeof Policy.Type

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** Defaults suit one person on one GPU server: a run per GPU, no per-user caps. */
export const defaultPolicy: Policy = {
  version: 1,
  limits: {
    maxConcurrent: null,
    userMaxConcurrent: null,
    teamMaxConcurrent: null,
    localGpuMaxConcurrent: null,
    localJobMaxConcurrent: null
  },
  aging: { starvationThresholdMs: 30 * MINUTE, agingStep: 5, agingIntervalMs: 10 * MINUTE },
  fairShare: { mode: "off", halfLifeMs: 24 * HOUR },
  approvalRules: [],
  backfill: true,
  levelPriorities: { admin: 30, lead: 20, researcher: 10, viewer: 0 },
  killGraceMs: 10_000
}

/** The common multi-user queue defaults: global 5, per user 2, per team 10 (team caps on). */
export const sharedPolicy: Policy = {
  ...defaultPolicy,
  limits: { ...defaultPolicy.limits, maxConcurrent: 5, userMaxConcurrent: 2, teamMaxConcurrent: 10 },
  fairShare: { ...defaultPolicy.fairShare, mode: "limits" }
}

export const basePriorityOf = (policy: Policy, level: Level): number => policy.levelPriorities[level]

/** The global cap in force: the configured one, else the number of GPUs (at least 1). */
export const effectiveMaxConcurrent = (policy: Policy, gpuCount: number): number =>
  policy.limits.maxConcurrent ?? Math.max(1, gpuCount)

/**
 * The aging boost of SPEC §3: a run pending longer than the threshold gains
 * `agingStep` per full `agingInterval` waited beyond it.
 */
export const agingBoost = (aging: Aging | null, waitedMs: number): number => {
  if (aging === null) return 0
  const beyond = waitedMs - aging.starvationThresholdMs
  if (beyond < aging.agingIntervalMs) return 0
  return aging.agingStep * Math.floor(beyond / aging.agingIntervalMs)
}

export const matchesApprovalRule = (
  rules: ReadonlyArray<ApprovalRule>,
  run: { readonly gpus: number; readonly estimatedCost: number | null }
): boolean =>
  rules.some(
    (rule) =>
      (rule.gpusAtLeast !== undefined || rule.estimatedCostAbove !== undefined) &&
      (rule.gpusAtLeast === undefined || run.gpus >= rule.gpusAtLeast) &&
      (rule.estimatedCostAbove === undefined || (run.estimatedCost ?? 0) > rule.estimatedCostAbove)
  )
