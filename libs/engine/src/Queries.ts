/**
 * The engine's queries: reads of its state and of the store. They change nothing and take no
 * lock; what they return is a copy (runs, GPU views, queue counts, phase timings) or frozen
 * (policy, queue configurations).
 */
import { Effect } from "effect"
import { findRun } from "./Commands.js"
import type { Cycle, PhaseTimings } from "./Cycle.js"
import type { EngineService, QueueInfo } from "./Engine.js"
import { copyOf } from "./Frozen.js"
import type { Kernel } from "./Kernel.js"
import type { StoreService } from "./Store.js"

type Queries = Pick<EngineService, "getRun" | "timeline" | "stats" | "gpus" | "policy" | "queues" | "position" | "positions">

export const makeQueries = (kernel: Kernel, store: StoreService, cycle: Cycle): Queries => ({
  getRun: (id) => Effect.map(findRun(kernel, store, id), copyOf),
  timeline: (id) =>
    findRun(kernel, store, id).pipe(
      Effect.zipRight(store.timeline(id)),
      Effect.map((stored) => [...stored, ...kernel.unflushedEvents(id)])
    ),
  gpus: Effect.sync(() => kernel.gpuViews()),
  stats: Effect.sync(() => {
    const views = kernel.gpuViews()
    const { held, blocked } = kernel.waitingCounts()
    return {
      pending: kernel.pendingCount,
      held,
      blocked,
      active: kernel.activeCount,
      gpus: {
        total: views.length,
        free: kernel.freeGpuCount(),
        allocated: views.filter((g) => g.heldBy !== null).length,
        drained: views.filter((g) => g.drained).length
      },
      worker: kernel.workerState(),
      cycles: kernel.cycles,
      policyVersion: kernel.policy.version,
      phases: cycle.phases === null ? null : (structuredClone(cycle.phases) as PhaseTimings)
    }
  }),
  policy: Effect.sync(() => kernel.policy),
  queues: Effect.sync(() =>
    kernel.queueNames().map((name): QueueInfo => ({ config: kernel.queueConfig(name)!, state: kernel.queueState(name)!, counts: kernel.queueCounts(name)! }))
  ),
  positions: Effect.sync(() => kernel.positions()),
  position: (id) =>
    Effect.map(findRun(kernel, store, id), (run) => {
      const place = kernel.position(id)
      return { runId: id, status: run.status, position: place?.position ?? null, pending: kernel.pendingCount, reason: place?.reason ?? null }
    })
})
