/**
 * The Engine service: the one API the runner, the simulator and embedders use.
 *
 * Built by `Engine.layer(options)` from the four ports (Store, Executor, GpuInventory,
 * Journal) and the Effect Clock in force: the simulator and the runner differ only in
 * the layers they provide.
 */
import {
  DEFAULT_QUEUE,
  defaultPolicy,
  makeQueue,
  type GpuView,
  type Policy,
  type QueueConfig,
  type QueueName,
  type Run,
  type RunEvent,
  type RunId,
  type Submission,
  type WaitReason
} from "@gantry/core"
import { Cause, Context, Effect, Exit, Layer, PubSub, Queue, Runtime, type Scope, Stream } from "effect"
import type { InspectionEvent, Observer } from "xstate"
import { makeCommands } from "./Commands.js"
import { makeCommitter } from "./Commit.js"
import { makeCycle, type PhaseTimings } from "./Cycle.js"
import type { EngineError } from "./Errors.js"
import { Executor } from "./Executor.js"
import { deepFreeze } from "./Frozen.js"
import { GpuInventory } from "./GpuInventory.js"
import { Journal } from "./Journal.js"
import { type ActorMode, Kernel } from "./Kernel.js"
import { makeQueries } from "./Queries.js"
import type { QueueCounts } from "./QueueMachine.js"
import { recover } from "./Recovery.js"
import { Serial } from "./Serial.js"
import { type PolicyOrigin, Store, type StoreError } from "./Store.js"
import { fiberTimers, isTimerClock } from "./Timers.js"
import type { WorkerState } from "./WorkerMachine.js"

export type SubmitOutcome =
  | { readonly _tag: "Accepted"; readonly run: Run; readonly duplicate: boolean }
  | { readonly _tag: "DryRun"; readonly wouldStart: boolean; readonly gpus: ReadonlyArray<number>; readonly reason: WaitReason | null }
  /** noWait and it could not start now: nothing stored. */
  | { readonly _tag: "Refused"; readonly reason: WaitReason }

export interface EngineStats {
  readonly pending: number
  readonly held: number
  readonly blocked: number
  readonly active: number
  readonly gpus: { readonly total: number; readonly free: number; readonly allocated: number; readonly drained: number }
  /** The local worker's statechart state (WorkerMachine.ts). */
  readonly worker: WorkerState
  readonly cycles: number
  readonly policyVersion: number
  /** Time spent in each phase of the cycle, when the engine was given a stopwatch. */
  readonly phases: PhaseTimings | null
}

export interface EngineService {
  readonly submit: (submission: Submission) => Effect.Effect<SubmitOutcome, EngineError | StoreError>
  /**
   * `submit`, done at once when nothing has to wait (the engine's lock free, a synchronous
   * store, no idempotency key or parent to look up): then the Effect returned is already its
   * Exit (`Exit.isExit`), else it is `submit`'s. For an embedder driving the engine
   * synchronously, as the simulator does.
   */
  readonly submitNow: (submission: Submission) => Effect.Effect<SubmitOutcome, EngineError | StoreError>
  /**
   * Many submissions in one commit: all stored and accepted, or none, the refused one named
   * (`BulkRefused`, with its index and the refusal). dryRun, noWait, idempotency keys and
   * parentId are for single submissions and refused here.
   */
  readonly submitMany: (submissions: ReadonlyArray<Submission>) => Effect.Effect<ReadonlyArray<Run>, EngineError | StoreError>
  /** Cancels all the given runs at once: the cycle that follows sees all of it. */
  readonly cancel: (ids: ReadonlyArray<RunId>) => Effect.Effect<ReadonlyArray<RunId>, EngineError | StoreError>
  readonly release: (id: RunId) => Effect.Effect<Run, EngineError | StoreError>
  readonly approve: (id: RunId) => Effect.Effect<Run, EngineError | StoreError>
  readonly reject: (id: RunId, reason: string) => Effect.Effect<Run, EngineError | StoreError>
  readonly setPriority: (id: RunId, priority: number | null) => Effect.Effect<Run, EngineError | StoreError>
  /**
   * Replaces the policy. `origin` says who changed it and how (kept with the version in the
   * store's policy history; default: nobody, `engine`); the engine stamps the time.
   */
  readonly updatePolicy: (policy: Policy, origin?: Omit<PolicyOrigin, "appliedAt">) => Effect.Effect<Policy, EngineError | StoreError>
  readonly drainGpu: (index: number, drained: boolean) => Effect.Effect<void, EngineError | StoreError>
  readonly getRun: (id: RunId) => Effect.Effect<Run, EngineError | StoreError>
  readonly timeline: (id: RunId) => Effect.Effect<ReadonlyArray<RunEvent>, EngineError | StoreError>
  readonly stats: Effect.Effect<EngineStats>
  /** Every GPU of the machine: drained or not, and the run holding it. */
  readonly gpus: Effect.Effect<ReadonlyArray<GpuView>>
  /**
   * Stops the engine: no more cycles, timers or exit handling; processes are left alone
   * (a runner restarting adopts them). `layer` does this when its scope closes.
   */
  readonly shutdown: Effect.Effect<void>
  /**
   * Runs a cycle now (operators' explicit trigger; harmless) and answers once a cycle begun after this call has finished, with the
   * runs started meanwhile (the common queue API's `process`). A stopped engine answers none.
   */
  readonly process: Effect.Effect<ReadonlyArray<RunId>>
  /**
   * The committed run transitions from the moment this is run until its scope closes: each
   * one once the store has it (so whatever the store returns after it includes it), in the
   * order they happened. The engine's one way to observe it (a PubSub).
   */
  readonly subscribe: Effect.Effect<Queue.Dequeue<RunEvent>, never, Scope.Scope>
  /** `subscribe` as a Stream (it subscribes when the stream starts). */
  readonly events: Stream.Stream<RunEvent>
  readonly policy: Effect.Effect<Policy>
  readonly queues: Effect.Effect<ReadonlyArray<QueueInfo>>
  readonly createQueue: (config: QueueConfig) => Effect.Effect<QueueConfig, EngineError | StoreError>
  /** Changes a queue's knobs; pausing and resuming are `{ paused: true | false }`. */
  readonly updateQueue: (name: QueueName, change: Partial<Omit<QueueConfig, "name">>) => Effect.Effect<QueueConfig, EngineError | StoreError>
  /**
   * Deletes an empty queue at once. A queue with unfinished runs is refused (QueueNotEmpty),
   * or with `drain` stops taking submissions and is deleted when its last run ends.
   * `default` cannot be deleted.
   */
  readonly deleteQueue: (name: QueueName, options?: { readonly drain?: boolean }) => Effect.Effect<void, EngineError | StoreError>
  /** Where a waiting run stands: how many pending runs go before it (SPEC §3) and why it waits. */
  readonly position: (id: RunId) => Effect.Effect<Position, EngineError | StoreError>
  /** Every pending run's 1-based place in SPEC §3 order (`position` for all of them at once). */
  readonly positions: Effect.Effect<ReadonlyMap<RunId, number>>
}

export interface QueueInfo {
  readonly config: QueueConfig
  readonly state: "open" | "paused" | "draining"
  readonly counts: QueueCounts
}

export interface Position {
  readonly runId: RunId
  readonly status: Run["status"]
  /** 1-based place among pending runs in SPEC §3 order; null unless pending. */
  readonly position: number | null
  readonly pending: number
  /** Why it waits now (null when it would start, or is not pending). */
  readonly reason: WaitReason | null
}

export class Engine extends Context.Tag("@gantry/engine/Engine")<Engine, EngineService>() {}

export interface EngineOptions {
  readonly policy?: Policy
  readonly queues?: ReadonlyArray<QueueConfig>
  /**
   * A monotonic high-resolution clock in milliseconds (e.g. `performance.now`) to time each
   * phase of every cycle, like Kueue's schedule(). It measures the engine's own CPU time, so
   * it is never the simulated clock and never enters the event log or the journal.
   */
  readonly stopwatch?: () => number
  /**
   * An engine for one command while no runner serves the database (the CLI without a daemon):
   * it validates and stores changes like a serving one but never starts a run, and keeps
   * stored running and stopping runs as they are (no adoption, no signals). Cancelling one of
   * those fails with `RunnerRequired`.
   */
  readonly offline?: boolean
  /**
   * How the statecharts run (Kernel.ts `ActorMode`): `stepped` (default: the simulator's
   * speed) or `live` XState actors, which `inspect` can watch.
   */
  readonly actors?: ActorMode
  /** XState's inspection API, attached to the engine's actors (queues, GPUs, the worker; runs and the scheduler in `live` mode). */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /**
   * Called synchronously at every run transition, before it is committed: the simulator's
   * event log and the property tests' model, which need each transition as it happens. Anyone
   * else observes committed events (`subscribe`, `events`).
   */
  readonly onTransition?: (event: RunEvent) => void
  /**
   * Decode every submission with the `Submission` schema and its size limits (default true):
   * an embedder's typed submission may still break the rules (a NUL in an argument, an empty
   * env key, 10⁹ attempts), and is refused with `InvalidSubmission` or `TooLarge`. Only code
   * that builds submissions itself from checked data (the simulator, from a workload) turns it
   * off, to save ~5 µs a submission.
   */
  readonly decodeSubmissions?: boolean
}

export { PHASES, type Phase, type PhaseTimings, STORE_RETRY_MS } from "./Cycle.js"

export const make = (options: EngineOptions = {}) =>
  Effect.gen(function* () {
    const store = yield* Store
    const executor = yield* Executor
    const journal = yield* Journal
    const inventory = yield* GpuInventory
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    const timers = isTimerClock(clock) ? clock.timers : fiberTimers(runtime, clock)
    const offline = options.offline === true
    const stored = yield* store.load
    const serial = new Serial()

    /** Runs an Effect now, synchronously as far as it goes; `done` when it has finished. */
    const runMaybeSync = <E>(effect: Effect.Effect<void, E>, done: () => void) => {
      const exit = Runtime.runSyncExit(runtime)(effect)
      if (Exit.isFailure(exit) && Cause.isDieType(exit.cause) && Runtime.isAsyncFiberException(exit.cause.defect)) {
        exit.cause.defect.fiber.addObserver(() => done())
        return
      }
      done()
    }

    /** A cycle's plain code now; what is left of it (if anything) as an Effect. A defect is the cycle's failure, as inside a fiber. */
    const cycleNow = (): Effect.Effect<void> => {
      try {
        return cycle.run()
      } catch (defect) {
        return Effect.die(defect)
      }
    }
    /** Cycles begun and finished so far, and the `process` calls waiting for one to finish. */
    let begun = 0
    let finishedCycles = 0
    const cycleWaiters = new Set<{ readonly cycle: number; readonly done: () => void }>()
    /** The scheduler's runCycle action: one cycle under the lock (after the command or cycle holding it). */
    const runCycle = () =>
      serial.enter(() => {
        begun++
        const finished = () => {
          serial.release()
          finishedCycles++
          for (const waiter of cycleWaiters)
            if (waiter.cycle <= finishedCycles) {
              cycleWaiters.delete(waiter)
              waiter.done()
            }
          // straight to the scheduler: a cycle that finished inside its own runCycle action
          // is queued in the statechart's mailbox and handled when the action returns (a
          // timer at +0 did the same a timer later: two timers a job in the simulator)
          kernel.cycleDone()
        }
        if (!offline) return runMaybeSync(cycleNow(), finished)
        kernel.skipCycle()
        finished()
      })

    const kernel: Kernel = new Kernel(
      deepFreeze(structuredClone(stored.policy ?? options.policy ?? defaultPolicy)),
      timers,
      {
        now: () => clock.unsafeCurrentTimeMillis(),
        signal: (run, signal) => runMaybeSync(executor.signal(run, signal), () => {}),
        runCycle,
        onTransition: options.onTransition
      },
      { actors: options.actors, inspect: options.inspect }
    )
    const gpus = yield* inventory.list
    const drained = new Set(stored.drainedGpus)
    for (const gpu of gpus) kernel.addGpu(gpu.index, drained.has(gpu.index))
    const queueConfigs = new Map<QueueName, QueueConfig>([[DEFAULT_QUEUE, makeQueue(DEFAULT_QUEUE)]])
    for (const q of options.queues ?? []) queueConfigs.set(q.name, q)
    for (const q of stored.queues) queueConfigs.set(q.name, q)
    for (const q of queueConfigs.values()) kernel.addQueue(deepFreeze(structuredClone(q)))

    const committer = makeCommitter(kernel, store)
    const cycle = makeCycle({ kernel, executor, journal, timers, commitOutbox: committer.commitOutbox, stopwatch: options.stopwatch })

    const subscribe = Effect.acquireRelease(
      Effect.map(PubSub.subscribe(committer.committed), (dequeue) => {
        committer.subscribers++
        return dequeue
      }),
      () => Effect.sync(() => void committer.subscribers--)
    )

    /** The next cycle to begin, once it has finished (none if the engine has stopped: no cycle will). */
    const nextCycle = Effect.async<void>((resume) => {
      if (kernel.isClosed) return resume(Effect.void)
      const waiter = { cycle: begun + 1, done: () => resume(Effect.void) }
      cycleWaiters.add(waiter)
      kernel.wake("process")
      return Effect.sync(() => void cycleWaiters.delete(waiter))
    })
    const process = Effect.scoped(
      Effect.gen(function* () {
        const committed = yield* subscribe
        yield* nextCycle
        const events = yield* Queue.takeAll(committed)
        return [...events].filter((e) => e.to === "running").map((e) => e.runId)
      })
    )

    const service: EngineService = {
      ...makeCommands({ kernel, store, serial, committer, offline, decodeSubmissions: options.decodeSubmissions !== false }),
      ...makeQueries(kernel, store, cycle),
      process,
      shutdown: Effect.sync(() => {
        kernel.close()
        for (const waiter of cycleWaiters) waiter.done()
        cycleWaiters.clear()
      }),
      subscribe,
      events: Stream.unwrapScoped(Effect.map(subscribe, (queue) => Stream.fromQueue(queue)))
    }

    yield* recover(kernel, executor, stored, offline)
    yield* serial.run(committer.commitOutbox())
    kernel.wake("start")
    return service
  })

/** The engine in a scope: closing it stops the engine (`shutdown`), never the runs. */
export const layer = (options: EngineOptions = {}) =>
  Layer.scoped(
    Engine,
    Effect.tap(make(options), (engine) => Effect.addFinalizer(() => engine.shutdown))
  )
