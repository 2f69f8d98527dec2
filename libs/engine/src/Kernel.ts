/**
 * The engine's state and its changes, synchronous and single-threaded: the run records,
 * the pending index, the running set, and the actors (runs while active, queues, GPUs, the
 * worker, the scheduler). Its state is private: the engine's commands, queries, cycle and
 * recovery change it only through the methods below.
 *
 * Every status change is a transition of the run statechart (RunMachine.ts), applied in one
 * place (`moved`), and recorded as a RunEvent in the outbox, which the Store commits in one
 * transaction. A command commits its change first and applies it after (Commands.ts): it
 * asks `plan` what a transition would make of a run, commits that, then `apply`s the same
 * transition at the same instant, which updates memory without recording it a second time.
 */
import {
  type ActiveRun,
  activeRunOf,
  ChurnMap,
  decide,
  type GpuView,
  isActive,
  isTerminal,
  minOrNull,
  orderKeyOf,
  PendingIndex,
  type Policy,
  precedes,
  type QueueConfig,
  type QueueName,
  type Run,
  type RunEvent,
  type RunId,
  RunningSet,
  type RunStatus,
  type Snapshot,
  type Start,
  type WaitReason
} from "@gantry/core"
import { type Actor, createActor, type InspectionEvent, initialTransition, type Observer } from "xstate"
import type { RunExit } from "./Executor.js"
import { GpuBoard } from "./GpuBoard.js"
import { LiveActor } from "./LiveActor.js"
import { PendingTimeouts } from "./PendingTimeouts.js"
import { Outbox, type OutboxContents } from "./Outbox.js"
import { QueueBoard, type QueueState } from "./QueueBoard.js"
import type { QueueCounts } from "./QueueMachine.js"
import { firstStatusOf, lifecycle, type RunRecord, runTransitions, stopEventOf } from "./RunLifecycle.js"
import { exitEventOf, type RunContext, runContextOf, type RunMachine, runMachine, type RunMachineEvent } from "./RunMachine.js"
import { type SchedulerEvent, schedulerMachine } from "./SchedulerMachine.js"
import { type MachineActor, Stepper, type StepState, TransitionCache } from "./Stepper.js"
import type { Timers } from "./Timers.js"
import { UsageTracker } from "./UsageTracker.js"
import { workerMachine, type WorkerState } from "./WorkerMachine.js"
import { idempotencyScope } from "./Store.js"


/**
 * How the engine runs its statecharts (EngineOptions.actors):
 * - `stepped` (default): active runs and the scheduler are `Stepper`s (Stepper.ts says why);
 * - `live`: they are XState actors, with `inspect` attached if given. Same transitions, same
 *   order of effects: a property test compares the two event logs byte for byte.
 */
export type ActorMode = "stepped" | "live"

export interface KernelHooks {
  /** SIGTERM / SIGKILL to a run's process group. */
  readonly signal: (run: Run, signal: "TERM" | "KILL") => void
  /** Runs one scheduling cycle; must call `cycleDone()` when finished. */
  readonly runCycle: () => void
  readonly now: () => number
  /** Called at every transition, before it is committed (the simulator's event log, the model checks). */
  readonly onTransition?: ((event: RunEvent) => void) | undefined
}

export interface KernelOptions {
  readonly actors?: ActorMode | undefined
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined
}

/** What a transition would make of a run, computed without changing anything. */
export interface Planned {
  readonly record: Run
  readonly event: RunEvent
}

/** An active run's statechart (running, stopping). */
type RunActor = MachineActor<RunContext, RunMachineEvent>
type SchedulerActor = MachineActor<{ readonly dirty: boolean }, SchedulerEvent>

const schedulerTransitions = new TransitionCache(schedulerMachine)

/** The events sent for every run and every cycle, made once (frozen: the transition cache knows them by identity). */
const WAKE = Object.freeze({ type: "WAKE" } as const)
const CYCLE_DONE = Object.freeze({ type: "CYCLE_DONE" } as const)
const START = Object.freeze({ type: "START" } as const)

/** The local worker's id (remote workers will have theirs). */
export const LOCAL_WORKER = "local"

export type { RunRecord } from "./RunLifecycle.js"

export class Kernel {
  // ChurnMaps, not Maps: runs come and go by the million (core's ChurnMap.ts says why)
  private readonly runs = new ChurnMap<RunId, RunRecord>()
  private readonly pending: PendingIndex
  private readonly running = new RunningSet()
  /** The queues: statecharts and their runs' counts (QueueBoard.ts). */
  private readonly queues: QueueBoard
  /** The GPUs: statecharts, views and free lists (GpuBoard.ts). */
  private readonly gpus = new GpuBoard()
  private readonly timeouts: PendingTimeouts
  private readonly usage = new UsageTracker()
  private readonly idempotency = new Map<string, RunId>()
  /** What asked for the next cycle, each reason once (a few distinct ones: an array). */
  private readonly wakeups: Array<string> = []
  private readonly worker: Actor<typeof workerMachine>
  private closed = false
  private readonly actors = new ChurnMap<RunId, RunActor>()
  /** Active runs whose statechart changes are applied (an adopted run's replay is not). */
  private readonly observed = new ChurnMap<RunId, true>()
  private readonly scheduler: SchedulerActor
  private readonly outbox = new Outbox()
  private currentPolicy: Policy
  private lastSeq = 0
  private cycleCount = 0
  /** While a committed change is applied: its instant, so memory gets exactly what was stored. */
  private frozenAt: number | null = null
  /** While a committed change is applied: its event, recorded already (by the commit). */
  private precommitted: RunEvent | null = null
  /** While a committed queue deletion is applied: it is stored already. */
  private precommittedDeletion: QueueName | null = null
  private readonly mode: ActorMode
  private workerBusy = false

  constructor(
    policy: Policy,
    private readonly timers: Timers,
    private readonly hooks: KernelHooks,
    private readonly options: KernelOptions = {}
  ) {
    this.currentPolicy = policy
    this.mode = options.actors ?? "stepped"
    this.pending = new PendingIndex(policy.fairShare.mode === "usage")
    this.queues = new QueueBoard((name) => {
      if (this.precommittedDeletion === name) this.precommittedDeletion = null
      else this.outbox.queueDeleted(name)
    }, options.inspect)
    this.timeouts = new PendingTimeouts(timers, (run, kind) => this.expirePending(run.id, kind), () => this.now())
    const [initial] = initialTransition(schedulerMachine)
    const start = { value: initial.value as string, context: initial.context, done: false }
    const actions = { runCycle: () => this.hooks.runCycle() }
    this.scheduler =
      this.mode === "live"
        ? new LiveActor<typeof schedulerMachine, "runCycle">(schedulerMachine, schedulerTransitions, start, timers, actions, null, options.inspect)
        : new Stepper<typeof schedulerMachine, "runCycle">(schedulerTransitions, start, timers, actions)
    this.worker = createActor(workerMachine, { input: { id: LOCAL_WORKER }, ...(options.inspect === undefined ? {} : { inspect: options.inspect }) })
    this.worker.start()
  }

  /** The engine's time: the clock's, or the instant of the committed change being applied. */
  now(): number {
    return this.frozenAt ?? this.hooks.now()
  }

  // ---------------------------------------------------------------- reads

  get policy(): Policy {
    return this.currentPolicy
  }
  get seq(): number {
    return this.lastSeq
  }
  get cycles(): number {
    return this.cycleCount
  }
  get pendingCount(): number {
    return this.pending.size
  }
  get activeCount(): number {
    return this.running.count
  }
  get gpuCount(): number {
    return this.gpus.size
  }
  freeGpuCount(): number {
    return this.gpus.freeCount()
  }
  hasGpu(index: number): boolean {
    return this.gpus.has(index)
  }
  /** Copies of the GPU views. */
  gpuViews(): ReadonlyArray<GpuView> {
    return this.gpus.views().map((g) => ({ ...g }))
  }
  workerState(): WorkerState {
    return this.worker.getSnapshot().value as WorkerState
  }

  /** An unfinished run (the engine's own record: never hand it out, `copyOf` it). */
  live(id: RunId): Run | undefined {
    return this.runs.get(id)
  }
  isLive(id: RunId): boolean {
    return this.runs.has(id)
  }
  /** The unfinished run `user` submitted with this idempotency key. */
  byIdempotencyKey(user: string, key: string): Run | undefined {
    const id = this.idempotency.get(idempotencyScope(user, key))
    return id === undefined ? undefined : this.runs.get(id)
  }

  snapshotAt(at: number): Snapshot {
    return {
      now: at,
      policy: this.currentPolicy,
      queues: this.queueConfigs(),
      gpus: this.gpus.views(),
      gpuLists: this.gpus.freeLists(),
      running: this.running,
      pending: this.pending,
      usage: this.currentPolicy.fairShare.mode === "usage" ? this.usage.view(at, this.currentPolicy.fairShare.halfLifeMs) : null
    }
  }

  /** Would this run start now? Adds it to the index, decides (pure), takes it out again. */
  probe(run: Run): { readonly start: Start | undefined; readonly reason: WaitReason | null } {
    this.pending.add(run)
    try {
      const decision = decide(this.snapshotAt(this.now()))
      const start = decision.starts.find((s) => s.runId === run.id)
      return { start, reason: start === undefined ? decision.reasonOf(run.id) : null }
    } finally {
      this.pending.remove(run.id)
    }
  }

  /** A pending run's place in SPEC §3 order (1-based) and why it waits; null when it is not pending. */
  position(id: RunId): { readonly position: number; readonly reason: WaitReason | null } | null {
    const run = this.runs.get(id)
    if (run === undefined || run.status !== "pending" || !this.pending.has(id)) return null
    const snapshot = this.snapshotAt(this.now())
    const key = orderKeyOf(snapshot, run)
    let ahead = 0
    for (const other of this.pending.runs()) if (other.id !== id && precedes(orderKeyOf(snapshot, other), key)) ahead++
    return { position: ahead + 1, reason: decide(snapshot).reasonOf(id) }
  }

  /** Every pending run's place in SPEC §3 order (1-based, as `position` gives it), from one snapshot and one sort. */
  positions(): ReadonlyMap<RunId, number> {
    const snapshot = this.snapshotAt(this.now())
    const keyed = [...this.pending.runs()].map((run) => ({ id: run.id, key: orderKeyOf(snapshot, run) }))
    keyed.sort((a, b) => (precedes(a.key, b.key) ? -1 : precedes(b.key, a.key) ? 1 : 0))
    return new Map(keyed.map((k, i) => [k.id, i + 1]))
  }

  /** Held and blocked runs across queues. */
  waitingCounts(): { readonly held: number; readonly blocked: number } {
    return this.queues.waiting()
  }

  // ---------------------------------------------------------------- queues

  hasQueue(name: QueueName): boolean {
    return this.queues.has(name)
  }

  queueNames(): ReadonlyArray<QueueName> {
    return this.queues.names()
  }

  /** A queue's statechart state: open, paused or draining (being deleted). */
  queueState(name: QueueName): QueueState | undefined {
    return this.queues.state(name)
  }

  addQueue(config: QueueConfig): void {
    this.queues.add(config)
  }

  configureQueue(config: QueueConfig): void {
    this.queues.configure(config)
  }

  /**
   * Starts deleting a queue: it takes no new runs and goes when its last run ends.
   * `committed`: its deletion is stored already (it was empty).
   */
  drainQueue(name: QueueName, committed: boolean): void {
    if (committed) this.precommittedDeletion = name
    try {
      this.queues.drain(name)
    } finally {
      this.precommittedDeletion = null
    }
  }

  queueConfig(name: QueueName): QueueConfig | undefined {
    return this.queues.config(name)
  }

  /** A copy of a queue's counts. */
  queueCounts(name: QueueName): QueueCounts | undefined {
    return this.queues.countsOf(name)
  }

  /** The queue configurations, as decide() reads them. */
  queueConfigs(): ReadonlyMap<QueueName, QueueConfig> {
    return this.queues.configs()
  }

  // ---------------------------------------------------------------- policy and GPUs

  setPolicy(policy: Policy): void {
    this.currentPolicy = policy
    this.pending.regroup(policy.fairShare.mode === "usage")
  }

  addGpu(index: number, drained: boolean): void {
    this.gpus.add(index, drained)
    this.syncWorkerDrain()
  }

  drainGpu(index: number, drained: boolean): void {
    this.gpus.drain(index, drained)
    this.syncWorkerDrain()
  }

  /** The local worker is draining while every one of its GPUs is drained. */
  private syncWorkerDrain(): void {
    // the undrained list the board keeps: no scan of every GPU (once per GPU at start)
    const allDrained = this.gpus.size > 0 && this.gpus.freeLists().usable.length === 0
    const draining = this.workerState() === "draining"
    if (allDrained && !draining) this.worker.send({ type: "DRAIN" })
    else if (!allDrained && draining) this.worker.send({ type: "UNDRAIN" })
  }

  // ---------------------------------------------------------------- the outbox

  /** Takes what changed since the last commit. */
  takeOutbox(): OutboxContents {
    return this.outbox.take()
  }

  /** Puts back what a refused commit took, ahead of anything changed since. */
  returnOutbox(out: OutboxContents): void {
    this.outbox.putBack(out)
  }

  /** A run changed since the last commit (a finished run stays reachable here until it is stored). */
  unflushed(id: RunId): Run | undefined {
    return this.outbox.run(id)
  }

  /** A run's transitions not committed yet. */
  unflushedEvents(id: RunId): ReadonlyArray<RunEvent> {
    return this.outbox.eventsOf(id)
  }

  private record(run: Run, from: RunStatus | null, to: RunStatus, reason: string): void {
    const event: RunEvent = { runId: run.id, from, to, reason, at: this.now(), attempt: run.attempt }
    const committed = this.precommitted
    if (committed !== null && committed.runId === run.id && committed.to === to && committed.from === from) this.precommitted = null
    else this.outbox.transition(run, event)
    this.hooks.onTransition?.(event)
  }

  /**
   * Applies a change already committed: at its committed instant, and without recording its
   * event again (`event`: the transition the commit stored, if any).
   */
  applyCommitted<A>(at: number, event: RunEvent | null, apply: () => A): A {
    const frozen = this.frozenAt
    const committed = this.precommitted
    this.frozenAt = at
    this.precommitted = event
    try {
      return apply()
    } finally {
      this.frozenAt = frozen
      this.precommitted = committed
    }
  }

  // ---------------------------------------------------------------- wake-ups and cycles

  /**
   * Stops every actor and timer without touching a process: nothing runs a cycle, records
   * an exit or signals a run after this. The runs go on; the next engine adopts them.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.timeouts.stop()
    for (const actor of this.actors.values()) actor.stop()
    this.actors.clear()
    this.scheduler.stop()
    this.worker.stop()
    this.queues.stop()
  }

  /** Whether the engine has stopped (no cycle will run again). */
  get isClosed(): boolean {
    return this.closed
  }

  wake(reason: string): void {
    if (this.closed) return
    if (!this.wakeups.includes(reason)) this.wakeups.push(reason)
    this.scheduler.send(WAKE)
  }

  /** Phase 1 of a cycle: its number and what woke it (sorted), and no wake-up is left. */
  beginCycle(): { readonly cycle: number; readonly wakeups: ReadonlyArray<string> } {
    const wakeups = this.wakeups.slice().sort()
    if (wakeups.length !== 0) this.wakeups.length = 0
    return { cycle: ++this.cycleCount, wakeups }
  }

  /** An offline engine's cycle: it starts nothing and forgets its wake-ups. */
  skipCycle(): void {
    if (this.wakeups.length !== 0) this.wakeups.length = 0
  }

  cycleDone(): void {
    this.scheduler.send(CYCLE_DONE)
  }

  // ---------------------------------------------------------------- submissions

  /**
   * The first status of a new run, as the statechart chooses it: held (hold), blocked
   * (needs approval) or pending. Its SUBMIT transition; the run's record is made in it.
   */
  firstStatus(hold: boolean, needsApproval: boolean): RunStatus {
    return firstStatusOf(hold, needsApproval)
  }

  /** The submission event of a new run (what a submit commits). */
  submittedEvent(run: Run): RunEvent {
    return { runId: run.id, from: null, to: run.status, reason: "submitted", at: run.submittedAt, attempt: run.attempt }
  }

  /** Adds an accepted run, already committed, in its first status (held, blocked or pending). */
  admit(run: Run, event: RunEvent): void {
    const record = run as RunRecord
    this.lastSeq = Math.max(this.lastSeq, record.seq)
    this.restore(record)
    // committed with the run: no outbox entry, only the transition hook hears of it
    this.hooks.onTransition?.(event)
    this.wake("submit")
  }

  /** Puts a stored held, blocked or pending run back in memory (on start). */
  restore(run: Run): void {
    const record = run as RunRecord
    this.load(record)
    if (record.status === "pending") this.enterPending(record)
    else if (record.deadlineAt !== null) this.timeouts.add(record)
  }

  /** The highest sequence number ever committed (on start). */
  setLastSeq(seq: number): void {
    this.lastSeq = Math.max(this.lastSeq, seq)
  }

  // ---------------------------------------------------------------- recovery

  /** A run stored as running or stopping whose process no one adopted: `lost` (SPEC §7). */
  recoverLost(run: Run): void {
    const record = run as RunRecord
    this.load(record)
    this.step(record, { type: "LOST" })
  }

  /**
   * A run stored as running whose process was provably never spawned (the runner stopped
   * between committing the start and spawning): back in its place, attempt unchanged, like
   * a start undone after a refused commit (NEVER_STARTED).
   */
  recoverUnstarted(run: Run): void {
    const record = run as RunRecord
    this.load(record)
    this.step(record, { type: "NEVER_STARTED" })
  }

  /**
   * A run stored as running or stopping whose process the executor adopted after a restart
   * (SPEC §7): it gets its actor back in the status it had, its GPUs and counters, and
   * timers for what is left of its time limit and deadline. A stopping run is signalled again
   * and gets a fresh kill grace. Nothing is recorded: the run never changed status.
   */
  adopt(run: Run): void {
    const record = run as RunRecord
    const now = this.now()
    const startedAt = record.startedAt ?? now
    this.reinstate(record)
    const context = runContextOf(record, now, this.currentPolicy.killGraceMs)
    const overdue = record.timeLimitMs !== null && now - startedAt >= record.timeLimitMs
    const remaining = record.timeLimitMs === null ? null : Math.max(0, record.timeLimitMs - (now - startedAt))
    const actor = this.runActor(record, { ...context, stopCause: null, timeLimitMs: remaining })
    if (record.status === "stopping") this.running.replace(stoppingBound(this.running.get(record.id)!, now, this.currentPolicy.killGraceMs))
    // replayed to its status without recording: the run never changed status
    actor.send(START)
    if (record.status === "stopping") actor.send(stopEventOf(record.stopCause))
    else if (overdue) actor.send({ type: "TIME_LIMIT" })
    this.observed.set(record.id, true)
    if (actor.state.value !== record.status) this.onActorState(record, actor.state)
  }

  /**
   * A stored running or stopping run kept as it is, with no actor: its GPUs and counters
   * stay taken. Used by an offline engine (a command run while no runner serves the
   * database), which must neither adopt nor lose a process it does not own.
   */
  reinstate(run: Run): void {
    const record = run as RunRecord
    this.load(record)
    this.running.add(activeRunOf(record, record.startedAt ?? this.now(), record.assignedGpus))
    for (const g of record.assignedGpus) this.gpus.hold(g, record.id)
    this.syncWorkerLoad()
  }

  /** A stored, unfinished run back in memory: reachable by id and idempotency key, counted by its queue. */
  private load(run: RunRecord): void {
    this.runs.set(run.id, run)
    if (run.idempotencyKey !== null) this.idempotency.set(idempotencyScope(run.user, run.idempotencyKey), run.id)
    this.queues.move(run.queue, null, run.status)
  }

  private enterPending(run: RunRecord): void {
    this.pending.add(run)
    this.timeouts.add(run)
  }

  // ---------------------------------------------------------------- commands: plan, commit, apply

  /**
   * What `event` would make of a live run, without changing anything (null: the statechart
   * does not allow it): the record a command commits before it applies the event.
   */
  plan(id: RunId, event: RunMachineEvent): Planned | null {
    const run = this.runs.get(id)
    if (run === undefined) return null
    const now = this.now()
    const actor = this.actors.get(id)
    const next = actor !== undefined ? actor.peek(event) : this.stepOf(run, event, now)
    if (next === null || next.value === run.status) return null
    const to = next.value as RunStatus
    const record: RunRecord = { ...run }
    lifecycle(record, to, next.context, now)
    if (event.type === "REJECT") record.rejectReason = event.reason
    return { record, event: { runId: id, from: run.status, to, reason: next.context.reason, at: now, attempt: record.attempt } }
  }

  /** Applies a planned transition once its commit succeeded (the command wakes the scheduler once it has applied all of its own). */
  apply(planned: Planned, event: RunMachineEvent): void {
    const run = this.runs.get(planned.event.runId)
    if (run === undefined) return
    this.applyCommitted(planned.event.at, planned.event, () => {
      if (this.actors.has(run.id)) this.sendToActive(run.id, event)
      else this.step(run, event)
    })
  }

  /** A priority override as a command commits it. */
  planPriority(id: RunId, priority: number | null): Run | undefined {
    const run = this.runs.get(id)
    return run === undefined ? undefined : { ...run, priorityOverride: priority }
  }

  /** Applies a committed priority override: the override is part of the run's lane, so it re-enters the index. */
  applyPriority(id: RunId, priority: number | null): void {
    const run = this.runs.get(id)
    if (run === undefined) return
    const wasPending = this.pending.remove(id) !== undefined
    run.priorityOverride = priority
    if (wasPending) this.pending.add(run)
    this.wake("priority")
  }

  // ---------------------------------------------------------------- record-level transitions

  private stepOf(run: Run, event: RunMachineEvent, now: number): StepState<RunContext> | null {
    const { next, changed } = runTransitions.step({ value: run.status, context: runContextOf(run, now, this.currentPolicy.killGraceMs), done: false }, event)
    return changed ? next : null
  }

  /**
   * Applies an event to a run that has no live actor (held, blocked, pending, or a stored
   * active run in recovery), with the statechart's pure transition. Returns false when the
   * statechart does not allow it.
   */
  private step(run: RunRecord, event: RunMachineEvent): boolean {
    const next = this.stepOf(run, event, this.now())
    if (next === null) return false
    const to = next.value as RunStatus
    this.pending.remove(run.id)
    if (to === "running" || isTerminal(to)) this.timeouts.remove(run)
    if (to === "rejected" && event.type === "REJECT") run.rejectReason = event.reason
    this.moved(run, to, next.context)
    return true
  }

  private expirePending(id: RunId, kind: "queue-timeout" | "deadline"): void {
    const run = this.runs.get(id)
    if (run === undefined) return
    if (isActive(run.status)) {
      this.actors.get(id)?.send({ type: "DEADLINE" })
      return
    }
    if (this.step(run, { type: kind === "deadline" ? "DEADLINE" : "QUEUE_TIMEOUT" })) this.wake(kind)
  }

  // ---------------------------------------------------------------- active runs

  /** The pending run a cycle starts (phase 4a: assume the start in memory). */
  assumeStart(id: RunId, gpus: ReadonlyArray<number>): Run {
    const run = this.runs.get(id)!
    const now = this.now()
    const actor = this.runActor(run, runContextOf(run, now, this.currentPolicy.killGraceMs))
    this.pending.remove(run.id)
    this.timeouts.remove(run)
    run.startedAt = now
    run.assignedGpus = gpus
    this.running.add(activeRunOf(run, now, gpus))
    for (const g of gpus) this.gpus.hold(g, run.id)
    this.syncWorkerLoad()
    this.observed.set(run.id, true)
    actor.send(START)
    return run
  }

  /** Phase 4c: the store refused the cycle; the start is undone (UNDO_START: back in its place). */
  undoStart(id: RunId): void {
    this.sendToActive(id, { type: "UNDO_START" })
  }

  /** Sends an event to an active run's statechart; false when it has none or the event changed nothing. */
  sendToActive(id: RunId, event: RunMachineEvent): boolean {
    const actor = this.actors.get(id)
    if (actor === undefined) return false
    return actor.send(event)
  }

  /**
   * A run's process ended. Its end is recorded at the time the executor says it ended
   * (`exit.endedAt`, clamped between its start and now), not when the engine heard of it:
   * a run that ended while no runner watched gets its real end time.
   */
  exited(runId: RunId, exit: RunExit): void {
    if (this.closed) return
    const run = this.runs.get(runId)
    if (run === undefined) return
    const event: RunMachineEvent = exit.lost === true ? { type: "LOST" } : exitEventOf(exit.exitCode, exit.signal)
    const now = this.hooks.now()
    if (exit.endedAt === undefined || exit.endedAt >= now) {
      this.sendToActive(run.id, event)
      return
    }
    const endedAt = Math.max(exit.endedAt, run.startedAt ?? exit.endedAt)
    this.applyCommitted(endedAt, null, () => this.sendToActive(run.id, event))
  }

  /** A run's statechart from `pending` with this context, its terminate/kill actions bound to the run. */
  private runActor(run: RunRecord, context: RunContext): RunActor {
    const start: StepState<RunContext> = { value: "pending", context, done: false }
    const actions = { terminate: () => this.signalRun(run.id, "TERM"), kill: () => this.signalRun(run.id, "KILL") }
    const observe = (state: StepState<RunContext>) => {
      if (this.observed.has(run.id)) this.onActorState(run, state)
    }
    const actor: RunActor =
      this.mode === "live"
        ? new LiveActor<RunMachine, "terminate" | "kill">(runMachine, runTransitions, start, this.timers, actions, observe, this.options.inspect)
        : new Stepper<RunMachine, "terminate" | "kill">(runTransitions, start, this.timers, actions, observe)
    this.actors.set(run.id, actor)
    return actor
  }

  private dropActor(id: RunId): void {
    this.actors.get(id)?.stop()
    this.actors.delete(id)
    this.observed.delete(id)
  }

  private onActorState(run: RunRecord, state: StepState<RunContext>): void {
    const from = run.status
    const to = state.value as RunStatus
    if (to === from) return
    if (to === "stopping") {
      const active = this.running.get(run.id)
      if (active !== undefined) this.running.replace(stoppingBound(active, this.now(), this.currentPolicy.killGraceMs))
    } else if (to === "pending" || isTerminal(to)) {
      this.dropActor(run.id)
      this.release(run)
    }
    this.moved(run, to, state.context)
    // a start undone waits for the cycle's retry; a retry or an end can start others now
    if (to !== "stopping" && from !== "pending" && !state.context.keepsPlace) this.wake(to === "pending" ? "retry" : "exit")
  }

  /**
   * The one place a run's status changes, always to the state its statechart answered (`step`
   * for records, `onActorState` for actors): its fields, its queue's counts, its timeline, and
   * the pending index when it waits again.
   */
  private moved(run: RunRecord, to: RunStatus, outcome: RunContext): void {
    const from = run.status
    lifecycle(run, to, outcome, this.now())
    if (isTerminal(to)) this.finish(run)
    this.queues.move(run.queue, from, to)
    this.record(run, from, to, outcome.reason)
    if (to === "pending") this.enterPending(run)
  }

  /** Frees a run's GPUs and counters; records its GPU usage for fair share. */
  private release(run: Run): void {
    const active = this.running.remove(run.id)
    if (active === undefined) return
    for (const g of active.gpus) this.gpus.hold(g, null)
    this.usage.add(run.user, run.team, active.gpus.length * Math.max(0, this.now() - active.startedAt), this.now(), this.currentPolicy.fairShare.halfLifeMs)
    this.syncWorkerLoad()
  }

  /** Tells the worker when it goes from idle to busy and back (not at every start and end). */
  private syncWorkerLoad(): void {
    const busy = this.running.count > 0
    if (busy === this.workerBusy) return
    this.workerBusy = busy
    this.worker.send({ type: "LOAD", busy })
  }

  private finish(run: RunRecord): void {
    this.runs.delete(run.id)
    if (run.idempotencyKey !== null) this.idempotency.delete(idempotencyScope(run.user, run.idempotencyKey))
  }

  /** The run actor's terminate/kill actions. */
  private signalRun(id: RunId, signal: "TERM" | "KILL"): void {
    const run = this.runs.get(id)
    if (run !== undefined) this.hooks.signal(run, signal)
  }
}

const stoppingBound = (active: ActiveRun, now: number, killGraceMs: number): ActiveRun => ({
  ...active,
  endBy: minOrNull(active.endBy, now + killGraceMs)
})

