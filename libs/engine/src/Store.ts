/**
 * The Store port: where runs, their timelines, queues, policy and GPU drains live.
 * A change is acknowledged only after `commit` returns (SPEC §7).
 */
import { Context, Data, type Effect, type Exit } from "effect"
import type { Policy, QueueConfig, QueueName, Run, RunEvent, RunId, RunStatus } from "@gantry/core"

export class StoreError extends Data.TaggedError("StoreError")<{ readonly message: string; readonly cause?: unknown }> {}

/**
 * Who changed the policy, how, why and when: kept with each version of it
 * (`policyHistory`). The engine stays identity-free: `appliedBy` is whatever name the
 * caller of `updatePolicy` trusts (null: the system, an embedder, a default).
 */
export interface PolicyOrigin {
  readonly appliedBy: string | null
  /** How it was changed, in a short word or two (`apply`, `limits set`, `put`, `concurrency`, ...). */
  readonly source: string
  readonly note: string | null
  /** When it was committed (epoch ms). */
  readonly appliedAt: number
}

/** One version of the policy, as it was committed, with who, how and when. */
export interface PolicyVersion extends PolicyOrigin {
  /** The policy's own `version`. */
  readonly version: number
  readonly policy: Policy
}

/** A batch's policy without an origin (a store written to directly): the system's, at time 0. */
export const unknownPolicyOrigin: PolicyOrigin = { appliedBy: null, source: "system", note: null, appliedAt: 0 }

/** Everything one cycle (or one command) changed: written in one transaction. */
export interface StoreBatch {
  readonly runs: ReadonlyArray<Run>
  readonly events: ReadonlyArray<RunEvent>
  readonly queues: ReadonlyArray<QueueConfig>
  readonly deletedQueues: ReadonlyArray<QueueName>
  /** The new live policy; it is also recorded as a version of the history, in the same transaction. */
  readonly policy: Policy | null
  /** Who, how and when of `policy` (`unknownPolicyOrigin` when absent). */
  readonly policyOrigin?: PolicyOrigin
  readonly drainedGpus: ReadonlyArray<{ readonly index: number; readonly drained: boolean }>
}

export const emptyBatch: StoreBatch = { runs: [], events: [], queues: [], deletedQueues: [], policy: null, drainedGpus: [] }

/** What the engine needs on start: unfinished runs and the configuration. */
export interface StoredState {
  readonly runs: ReadonlyArray<Run>
  readonly queues: ReadonlyArray<QueueConfig>
  readonly policy: Policy | null
  readonly drainedGpus: ReadonlyArray<number>
  /** The highest submission sequence number ever used (0 when none). */
  readonly lastSeq: number
}

export interface RunFilter {
  readonly status?: ReadonlyArray<RunStatus>
  readonly queue?: QueueName
  readonly user?: string
  /** Newest first; at most this many. */
  readonly limit?: number
  /** Newest first, skipping this many (with `limit`: pages). */
  readonly offset?: number
}

/** How many runs have each status, and how long the latest ones to start waited. */
export interface RunSummary {
  /** Every stored run, by status (statuses with none are left out). */
  readonly byStatus: Partial<Record<RunStatus, number>>
  /**
   * The mean queue wait (start − eligible: since submission, approval, release or retry) of
   * the latest `WAIT_SAMPLE` runs that started; null when none has.
   */
  readonly meanWaitMs: number | null
}

/** How many of the latest started runs `RunSummary.meanWaitMs` averages over. */
export const WAIT_SAMPLE = 1000

/**
 * The one string an idempotency key is known by: keys are per user, so the same key from two
 * users names two runs (a user name holds no NUL).
 */
export const idempotencyScope = (user: string, key: string): string => `${user}\u0000${key}`

export interface StoreService {
  readonly load: Effect.Effect<StoredState, StoreError>
  readonly commit: (batch: StoreBatch) => Effect.Effect<void, StoreError>
  /**
   * The same commit, done now in the caller's stack, for a store whose commit is synchronous
   * by nature (the memory store): the engine then commits without running an Effect, so a
   * command or cycle whose ports are all synchronous needs no fiber (Sync.ts). A wrapper that
   * changes `commit` must drop or wrap this too.
   */
  readonly commitNow?: ((batch: StoreBatch) => Exit.Exit<void, StoreError>) | undefined
  readonly getRun: (id: RunId) => Effect.Effect<Run | undefined, StoreError>
  /** The latest run `user` submitted with this idempotency key: keys are per user (two users may use one key). */
  readonly findByIdempotencyKey: (user: string, key: string) => Effect.Effect<Run | undefined, StoreError>
  readonly listRuns: (filter: RunFilter) => Effect.Effect<ReadonlyArray<Run>, StoreError>
  readonly timeline: (id: RunId) => Effect.Effect<ReadonlyArray<RunEvent>, StoreError>
  readonly summary: Effect.Effect<RunSummary, StoreError>
  /** Deletes terminal runs that ended before `before`; returns how many. */
  readonly cleanup: (before: number) => Effect.Effect<number, StoreError>
  /** The policy's versions, newest (last committed) first; at most `limit` (default: all). */
  readonly policyHistory: (options?: { readonly limit?: number }) => Effect.Effect<ReadonlyArray<PolicyVersion>, StoreError>
  /** The version numbered `version` (the last one committed with that number), or undefined. */
  readonly policyVersion: (version: number) => Effect.Effect<PolicyVersion | undefined, StoreError>
}

export class Store extends Context.Tag("@gantry/engine/Store")<Store, StoreService>() {}
