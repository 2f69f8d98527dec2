/**
 * The in-memory Store: every run, its timeline and the configuration in maps. Used by
 * the simulator and by tests; the runner uses the SQLite store.
 */
import type { Policy, QueueConfig, QueueName, Run, RunEvent, RunId, RunStatus } from "@gantry/core"
import { Effect, Exit, Layer } from "effect"
import { idempotencyScope, type PolicyVersion, Store, type StoreBatch, type StoreService, unknownPolicyOrigin, WAIT_SAMPLE } from "./Store.js"

export interface MemoryStoreOptions {
  /** Keep run timelines (off for million-run simulations that only need metrics). */
  readonly keepTimelines?: boolean
  /**
   * Keep the runs (default true). Off for a simulation that takes its outcomes from the
   * transitions and never reads a run back from the store (the engine reads live runs from
   * memory): a million ended runs held cost ~0.5 GB, and a copy per commit was a third of a
   * run's garbage. Sequence numbers are still kept.
   */
  readonly keepRuns?: boolean
}

export const makeMemoryStore = (options: MemoryStoreOptions = {}): StoreService => {
  const keepTimelines = options.keepTimelines ?? true
  const keepRuns = options.keepRuns ?? true
  const runs = new Map<RunId, Run>()
  const byKey = new Map<string, RunId>()
  const timelines = new Map<RunId, Array<RunEvent>>()
  const queues = new Map<QueueName, QueueConfig>()
  const drained = new Set<number>()
  let policy: Policy | null = null
  /** Every version committed, oldest first. */
  const policyVersions: Array<PolicyVersion> = []
  let lastSeq = 0
  const commitBatch = (batch: StoreBatch): void => {
    for (const run of batch.runs) {
      lastSeq = Math.max(lastSeq, run.seq)
      if (!keepRuns) continue
      // a fresh copy per commit: a spread is ~60 ns and its garbage dies young, while
      // updating one kept copy in place (Object.assign) measured ~700 ns
      runs.set(run.id, { ...run })
      if (run.idempotencyKey !== null) byKey.set(idempotencyScope(run.user, run.idempotencyKey), run.id)
    }
    if (keepTimelines)
      for (const event of batch.events) {
        const list = timelines.get(event.runId)
        if (list === undefined) timelines.set(event.runId, [event])
        else list.push(event)
      }
    for (const q of batch.queues) queues.set(q.name, q)
    for (const name of batch.deletedQueues) queues.delete(name)
    if (batch.policy !== null) {
      policy = batch.policy
      policyVersions.push({ ...(batch.policyOrigin ?? unknownPolicyOrigin), version: batch.policy.version, policy: batch.policy })
    }
    for (const { index, drained: d } of batch.drainedGpus) {
      if (d) drained.add(index)
      else drained.delete(index)
    }
  }
  return {
    load: Effect.sync(() => ({
      // copies: the engine changes the runs it loads in place, the store's stay as committed
      runs: [...runs.values()].filter((r) => r.endedAt === null).map((r) => ({ ...r })),
      queues: [...queues.values()],
      policy,
      drainedGpus: [...drained],
      lastSeq
    })),
    commit: (batch) => Effect.sync(() => commitBatch(batch)),
    // synchronous by nature: the engine commits without a fiber (Sync.ts)
    commitNow: (batch) => {
      commitBatch(batch)
      return Exit.void
    },
    getRun: (id) => Effect.sync(() => runs.get(id)),
    findByIdempotencyKey: (user, key) => Effect.sync(() => {
      const id = byKey.get(idempotencyScope(user, key))
      return id === undefined ? undefined : runs.get(id)
    }),
    listRuns: (filter) =>
      Effect.sync(() => {
        const all = [...runs.values()]
          .filter((r) => (filter.status === undefined || filter.status.includes(r.status)) && (filter.queue === undefined || r.queue === filter.queue) && (filter.user === undefined || r.user === filter.user))
          .sort((a, b) => b.seq - a.seq)
        const from = filter.offset ?? 0
        return filter.limit === undefined ? all.slice(from) : all.slice(from, from + filter.limit)
      }),
    summary: Effect.sync(() => {
      const byStatus: Partial<Record<RunStatus, number>> = {}
      for (const run of runs.values()) byStatus[run.status] = (byStatus[run.status] ?? 0) + 1
      const started = [...runs.values()]
        .filter((r) => r.startedAt !== null)
        .sort((a, b) => b.seq - a.seq)
        .slice(0, WAIT_SAMPLE)
      const meanWaitMs = started.length === 0 ? null : started.reduce((sum, r) => sum + (r.startedAt! - r.eligibleAt), 0) / started.length
      return { byStatus, meanWaitMs }
    }),
    timeline: (id) => Effect.sync(() => timelines.get(id) ?? []),
    policyHistory: (options = {}) =>
      Effect.sync(() => {
        const newestFirst = [...policyVersions].reverse()
        const limit = options.limit
        return limit === undefined || limit === Infinity ? newestFirst : newestFirst.slice(0, Number.isNaN(limit) ? 0 : Math.max(0, Math.floor(limit)))
      }),
    policyVersion: (version) => Effect.sync(() => policyVersions.findLast((v) => v.version === version)),
    cleanup: (before) =>
      Effect.sync(() => {
        let removed = 0
        for (const [id, run] of runs)
          if (run.endedAt !== null && run.endedAt < before) {
            runs.delete(id)
            timelines.delete(id)
            removed++
          }
        return removed
      })
  }
}

export const layer = (options: MemoryStoreOptions = {}): Layer.Layer<Store> => Layer.sync(Store, () => makeMemoryStore(options))
