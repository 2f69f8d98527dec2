/**
 * The Engine service: the one API the runner, the simulator and embedders use.
 *
 * Built by `Engine.layer(options)` from the four ports (Store, Executor, GpuInventory,
 * Journal) and the Effect Clock in force: the simulator and the runner differ only in
 * the layers they provide.
 */
import {
  DEFAULT_QUEUE,
  decide,
  defaultPolicy,
  orderKeyOf,
  precedes,
  makeQueue,
  type GpuView,
  type Policy,
  Policy as PolicySchema,
  type QueueConfig,
  type QueueName,
  type Run,
  type RunEvent,
  RunId,
  type Snapshot,
  type Submission,
  type WaitReason
} from "@gantry/core"
import { Cause, Context, Effect, Either, Exit, Layer, ParseResult, Queue, Runtime, Schema, type Scope, Stream } from "effect"
import {
  type EngineError,
  GpuNotFound,
  IllegalTransition,
  RunnerRequired,
  InvalidPolicy,
  QueueExists,
  QueueFull,
  QueueNotEmpty,
  QueueNotFound,
  RunNotFound
} from "./Errors.js"
import { Executor, type RunExit } from "./Executor.js"
import { GpuInventory } from "./GpuInventory.js"
import { Journal } from "./Journal.js"
import { makeCycle, type PhaseTimings } from "./Cycle.js"
import { Kernel } from "./Kernel.js"
import { buildRun } from "./RunBuilder.js"
import { type QueueCounts, queueDepthUsed } from "./QueueMachine.js"
import { emptyBatch, Store, type StoreError } from "./Store.js"
import { fiberTimers, isTimerClock } from "./Timers.js"

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
  readonly cycles: number
  readonly policyVersion: number
  /** Time spent in each phase of the cycle, when the engine was given a stopwatch. */
  readonly phases: PhaseTimings | null
}

export interface EngineService {
  readonly submit: (submission: Submission) => Effect.Effect<SubmitOutcome, EngineError | StoreError>
  /** Cancels all the given runs at once: the cycle that follows sees all of it. */
  readonly cancel: (ids: ReadonlyArray<RunId>) => Effect.Effect<ReadonlyArray<RunId>, EngineError | StoreError>
  readonly release: (id: RunId) => Effect.Effect<Run, EngineError | StoreError>
  readonly approve: (id: RunId) => Effect.Effect<Run, EngineError | StoreError>
  readonly reject: (id: RunId, reason: string) => Effect.Effect<Run, EngineError | StoreError>
  readonly setPriority: (id: RunId, priority: number | null) => Effect.Effect<Run, EngineError | StoreError>
  readonly updatePolicy: (policy: Policy) => Effect.Effect<Policy, EngineError | StoreError>
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
  /** Runs a cycle now (operators' explicit trigger; harmless). */
  readonly trigger: Effect.Effect<void>
  /** Every run transition from the moment this is run until its scope closes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<RunEvent>, never, Scope.Scope>
  /** `subscribe` as a Stream (it subscribes when the stream starts). */
  readonly events: Stream.Stream<RunEvent>
  /** Synchronous subscription to every run transition (the simulator's event log). */
  readonly onRunEvent: (listener: (event: RunEvent) => void) => () => void
  /**
   * Synchronous subscription to commits: the run transitions each store commit has just made
   * durable. Unlike `onRunEvent` (called at the transition, before its commit), whatever the
   * store returns after this call includes them: the runner's change counter for long-polling
   * clients bumps here, so a client that lists runs after a change never reads the state before it.
   */
  readonly onCommit: (listener: (events: ReadonlyArray<RunEvent>) => void) => () => void
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
    const now = () => clock.unsafeCurrentTimeMillis()
    const offline = options.offline === true
    const stored = yield* store.load
    const policy = stored.policy ?? options.policy ?? defaultPolicy

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

    const kernel: Kernel = new Kernel(policy, timers, {
      now,
      signal: (run, signal) => runMaybeSync(executor.signal(run, signal), () => {}),
      runCycle: () => {
        if (!offline) return runMaybeSync(cycleNow(), () => timers.schedule(() => kernel.cycleDone(), 0))
        kernel.wakeups.clear()
        timers.schedule(() => kernel.cycleDone(), 0)
      }
    })
    kernel.seq = stored.lastSeq
    const gpus = yield* inventory.list
    const drained = new Set(stored.drainedGpus)
    for (const gpu of gpus) kernel.gpus.add(gpu.index, drained.has(gpu.index))
    const queueConfigs = new Map<QueueName, QueueConfig>([[DEFAULT_QUEUE, makeQueue(DEFAULT_QUEUE)]])
    for (const q of options.queues ?? []) queueConfigs.set(q.name, q)
    for (const q of stored.queues) queueConfigs.set(q.name, q)
    for (const q of queueConfigs.values()) kernel.addQueue(q)

    /**
     * Takes what changed since the last commit and commits it. When the store refuses, the
     * changes go back to the outbox, so the next commit carries them: memory and store never
     * part ways. `Effect.void` (an Exit: nothing to run) when nothing changed.
     */
    const commitOutbox = (): Effect.Effect<void, StoreError> => {
      const out = kernel.takeOutbox()
      if (out.runs.length === 0 && out.events.length === 0 && out.deletedQueues.length === 0) return Effect.void
      const committed = store
        .commit({ ...emptyBatch, runs: out.runs, events: out.events, deletedQueues: out.deletedQueues })
        .pipe(Effect.tapError(() => Effect.sync(() => kernel.returnOutbox(out))))
      if (commitListeners.size === 0 || out.events.length === 0) return committed
      return Effect.tap(committed, () => {
        for (const listener of commitListeners) listener(out.events)
      })
    }
    const commitListeners = new Set<(events: ReadonlyArray<RunEvent>) => void>()
    const flush = Effect.suspend(commitOutbox)

    const snapshotAt = (at: number): Snapshot => ({
      now: at,
      policy: kernel.policy,
      queues: kernel.queueConfigs(),
      gpus: kernel.gpus.views(),
      gpuLists: kernel.gpus.freeLists(),
      running: kernel.running,
      pending: kernel.pending,
      usage: kernel.policy.fairShare.mode === "usage" ? kernel.usage.view(at, kernel.policy.fairShare.halfLifeMs) : null
    })

    const cycle = makeCycle({ kernel, executor, journal, timers, now, snapshotAt, commitOutbox, stopwatch: options.stopwatch })

    const checkQueue = (config: QueueConfig) =>
      Effect.gen(function* () {
        const unknown = (config.gpuPool ?? []).filter((g) => !kernel.gpus.has(g))
        if (unknown.length > 0) return yield* new InvalidPolicy({ message: `queue ${config.name}: no GPU ${unknown.join(", ")} on this machine` })
      })

    const findRun = (id: RunId) =>
      Effect.suspend(() => {
        const live = kernel.runs.get(id) ?? kernel.unflushed(id)
        if (live !== undefined) return Effect.succeed(live)
        return store.getRun(id).pipe(Effect.flatMap((run) => (run === undefined ? Effect.fail(new RunNotFound({ runId: id })) : Effect.succeed(run))))
      })

    const liveRun = (id: RunId, action: string) =>
      findRun(id).pipe(
        Effect.flatMap((run) =>
          kernel.runs.has(id) ? Effect.succeed(run) : Effect.fail(new IllegalTransition({ runId: id, status: run.status, event: action }))
        )
      )

    const stepRun = (id: RunId, event: Parameters<Kernel["step"]>[1], action: string) =>
      Effect.gen(function* () {
        const run = yield* liveRun(id, action)
        if (!kernel.step(run, event)) return yield* new IllegalTransition({ runId: id, status: run.status, event: action })
        kernel.wake(action)
        yield* flush
        return run
      })

    /** Would this run start now? Adds it to the index, decides (pure), takes it out again. */
    const tryDecide = (run: Run) => {
      kernel.pending.add(run)
      try {
        const decision = decide(snapshotAt(now()))
        const start = decision.starts.find((s) => s.runId === run.id)
        return { start, reason: start === undefined ? decision.reasonOf(run.id) : null }
      } finally {
        kernel.pending.remove(run.id)
      }
    }

    /** A new submission (no idempotency key seen before): plain code, then one commit. */
    const submitNew = (s: Submission): Effect.Effect<SubmitOutcome, EngineError | StoreError> => {
      const built = buildRun(kernel, s, now())
      if (Either.isLeft(built)) return Effect.fail(built.left)
      const run = built.right
      if (s.dryRun === true) {
        if (run.status !== "pending") return Effect.succeed({ _tag: "DryRun", wouldStart: false, gpus: [], reason: null })
        const { start, reason } = tryDecide(run)
        return Effect.succeed({ _tag: "DryRun", wouldStart: start !== undefined, gpus: start?.gpus ?? [], reason })
      }
      const queue = kernel.queueConfig(run.queue)!
      if (queue.depth !== null && queueDepthUsed(kernel.queueCounts(run.queue)!) >= queue.depth)
        return Effect.fail(new QueueFull({ queue: run.queue, depth: queue.depth }))
      if (s.noWait === true) {
        const { start, reason } = tryDecide(run)
        if (start === undefined) return Effect.succeed({ _tag: "Refused", reason: reason ?? "gpu-busy" })
      }
      kernel.seq = run.seq
      kernel.admit(run)
      return Effect.as(flush, { _tag: "Accepted", run, duplicate: false })
    }

    const submit = (s: Submission): Effect.Effect<SubmitOutcome, EngineError | StoreError> =>
      Effect.suspend(() => {
        if (s.idempotencyKey === undefined) return submitNew(s)
        const liveId = kernel.idempotency.get(s.idempotencyKey)
        const lookup = liveId !== undefined ? Effect.succeed(kernel.runs.get(liveId)) : store.findByIdempotencyKey(s.idempotencyKey)
        return Effect.flatMap(lookup, (existing) =>
          existing !== undefined ? Effect.succeed<SubmitOutcome>({ _tag: "Accepted", run: existing, duplicate: true }) : submitNew(s)
        )
      })

    const cancel = (ids: ReadonlyArray<RunId>) =>
      Effect.gen(function* () {
        // unknown ids fail the command before anything changes. A run already ended is skipped
        // in a bulk cancel (it races with completions, as Slurm's scancel does), but when no
        // run given can be cancelled the command fails like approve or release would (409)
        const runs: Array<Run> = []
        let ended: Run | undefined
        for (const id of ids) {
          const run = yield* findRun(id)
          if (offline && (run.status === "running" || run.status === "stopping")) return yield* new RunnerRequired({ runId: id, action: "cancel" })
          if (kernel.runs.has(id)) runs.push(run)
          else ended ??= run
        }
        if (runs.length === 0 && ended !== undefined) return yield* new IllegalTransition({ runId: ended.id, status: ended.status, event: "cancel" })
        const cancelled: Array<RunId> = []
        for (const run of runs) {
          const changed = run.status === "running" ? kernel.sendToActive(run, { type: "CANCEL" }) : run.status === "stopping" ? false : kernel.step(run, { type: "CANCEL" })
          if (changed) cancelled.push(run.id)
        }
        kernel.wake("cancel")
        yield* flush
        return cancelled
      })

    const subscribe = Effect.acquireRelease(
      Effect.sync(() => {
        const queue = Effect.runSync(Queue.unbounded<RunEvent>())
        const off = kernel.onRunEvent((event) => void queue.unsafeOffer(event))
        return { queue, off }
      }),
      ({ off, queue }) => Effect.zipRight(Effect.sync(off), Queue.shutdown(queue))
    ).pipe(Effect.map(({ queue }) => queue as Queue.Dequeue<RunEvent>))

    const service: EngineService = {
      submit,
      cancel,
      release: (id) => stepRun(id, { type: "RELEASE" }, "release"),
      approve: (id) => stepRun(id, { type: "APPROVE" }, "approve"),
      reject: (id, reason) => stepRun(id, { type: "REJECT", reason }, "reject"),
      setPriority: (id, priority) =>
        Effect.gen(function* () {
          const run = yield* liveRun(id, "set priority")
          // the override is part of the run's lane: take it out of the index and put it back
          const wasPending = kernel.pending.remove(id) !== undefined
          run.priorityOverride = priority
          if (wasPending) kernel.pending.add(run)
          kernel.touch(run)
          kernel.wake("priority")
          yield* flush
          return run
        }),
      updatePolicy: (next) =>
        Effect.gen(function* () {
          const valid = Schema.decodeUnknownEither(PolicySchema)(next)
          if (valid._tag === "Left") return yield* new InvalidPolicy({ message: ParseResult.TreeFormatter.formatErrorSync(valid.left) })
          kernel.policy = next
          kernel.pending.regroup(next.fairShare.mode === "usage")
          yield* store.commit({ ...emptyBatch, policy: next })
          kernel.wake("policy")
          return next
        }),
      drainGpu: (index, drain) =>
        Effect.gen(function* () {
          if (!kernel.gpus.has(index)) return yield* new GpuNotFound({ index })
          kernel.gpus.drain(index, drain)
          yield* store.commit({ ...emptyBatch, drainedGpus: [{ index, drained: drain }] })
          kernel.wake("gpu")
        }),
      getRun: findRun,
      timeline: (id) =>
        findRun(id).pipe(
          Effect.zipRight(store.timeline(id)),
          Effect.map((stored) => [...stored, ...kernel.unflushedEvents(id)])
        ),
      gpus: Effect.sync(() => kernel.gpus.views().map((g) => ({ ...g }))),
      shutdown: Effect.sync(() => kernel.close()),
      stats: Effect.sync(() => {
        let held = 0
        let blocked = 0
        for (const name of kernel.queues.keys()) {
          const counts = kernel.queueCounts(name)!
          held += counts.held
          blocked += counts.blocked
        }
        const views = kernel.gpus.views()
        return {
          pending: kernel.pending.size,
          held,
          blocked,
          active: kernel.running.count,
          gpus: {
            total: views.length,
            free: kernel.gpus.freeCount(),
            allocated: views.filter((g) => g.heldBy !== null).length,
            drained: views.filter((g) => g.drained).length
          },
          cycles: kernel.cycles,
          policyVersion: kernel.policy.version,
          phases: cycle.phases === null ? null : (structuredClone(cycle.phases) as PhaseTimings)
        }
      }),
      trigger: Effect.sync(() => kernel.wake("trigger")),
      subscribe,
      events: Stream.unwrapScoped(Effect.map(subscribe, (queue) => Stream.fromQueue(queue))),
      onRunEvent: (listener) => kernel.onRunEvent(listener),
      onCommit: (listener) => {
        commitListeners.add(listener)
        return () => commitListeners.delete(listener)
      },
      policy: Effect.sync(() => kernel.policy),
      queues: Effect.sync(() =>
        [...kernel.queues].map(([name, actor]) => {
          const snapshot = actor.getSnapshot()
          return { config: snapshot.context.config, state: snapshot.value as QueueInfo["state"], counts: kernel.queueCounts(name)! }
        })
      ),
      createQueue: (config) =>
        Effect.gen(function* () {
          if (kernel.queues.has(config.name)) return yield* new QueueExists({ queue: config.name })
          yield* checkQueue(config)
          yield* store.commit({ ...emptyBatch, queues: [config] })
          kernel.addQueue(config)
          kernel.wake("queue")
          return config
        }),
      updateQueue: (name, change) =>
        Effect.gen(function* () {
          const current = kernel.queueConfig(name)
          if (current === undefined) return yield* new QueueNotFound({ queue: name })
          const next: QueueConfig = { ...current, ...change, name }
          yield* checkQueue(next)
          yield* store.commit({ ...emptyBatch, queues: [next] })
          kernel.configureQueue(next)
          kernel.wake("queue")
          return next
        }),
      deleteQueue: (name, options) =>
        Effect.gen(function* () {
          if (name === DEFAULT_QUEUE) return yield* new InvalidPolicy({ message: "the default queue cannot be deleted" })
          const counts = kernel.queueCounts(name)
          if (counts === undefined) return yield* new QueueNotFound({ queue: name })
          const live = queueDepthUsed(counts)
          if (live > 0 && options?.drain !== true) return yield* new QueueNotEmpty({ queue: name, runs: live })
          kernel.drainQueue(name)
          yield* flush
        }),
      position: (id) =>
        Effect.gen(function* () {
          const run = yield* findRun(id)
          const pendingCount = kernel.pending.size
          if (run.status !== "pending" || !kernel.pending.has(id))
            return { runId: id, status: run.status, position: null, pending: pendingCount, reason: null }
          const snapshot = snapshotAt(now())
          const key = orderKeyOf(snapshot, run)
          let ahead = 0
          for (const other of kernel.pending.runs()) if (other.id !== id && precedes(orderKeyOf(snapshot, other), key)) ahead++
          return { runId: id, status: run.status, position: ahead + 1, pending: pendingCount, reason: decide(snapshot).reasonOf(id) }
        })
    }
    const active: Array<Run> = []
    for (const run of stored.runs) {
      if (run.status === "pending" || run.status === "held" || run.status === "blocked") kernel.restore(run)
      else if (run.status === "running" || run.status === "stopping") active.push(run)
    }
    // SPEC §7: adopt live processes (and exits captured while no runner watched); a run whose
    // process is gone without a status is lost, then its retry rules apply. An offline engine
    // keeps them as they are.
    for (const run of active) {
      if (offline) {
        kernel.reinstate(run)
        continue
      }
      const early: Array<RunExit> = []
      let adopted = false
      const outcome = yield* executor.adopt(run, (exit) => (adopted ? kernel.exited(run.id, exit) : early.push(exit)))
      if (outcome === "never-started" && run.status === "running") {
        kernel.recoverUnstarted(run)
        continue
      }
      if (outcome !== "adopted") {
        // a stopping run that never started ends as its stop cause says, like a lost one
        kernel.recoverLost(run)
        continue
      }
      kernel.adopt(run)
      adopted = true
      for (const exit of early) kernel.exited(run.id, exit)
    }
    yield* flush
    kernel.wake("start")
    return service
  })

/** The engine in a scope: closing it stops the engine (`shutdown`), never the runs. */
export const layer = (options: EngineOptions = {}) =>
  Layer.scoped(
    Engine,
    Effect.tap(make(options), (engine) => Effect.addFinalizer(() => engine.shutdown))
  )
