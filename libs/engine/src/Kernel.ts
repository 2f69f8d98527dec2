/**
 * The engine's state and its changes, synchronous and single-threaded: the run records,
 * the pending index, the running set, and the actors (runs while active, queues, GPUs,
 * the scheduler). Every status change goes through the run statechart and is recorded
 * as a RunEvent in the outbox, which the Store commits in one transaction.
 */
import {
  type ActiveRun,
  activeRunOf,
  isActive,
  isTerminal,
  minOrNull,
  PendingIndex,
  type Policy,
  type QueueConfig,
  type QueueName,
  type Run,
  type RunEvent,
  type RunId,
  RunningSet,
  type RunStatus
} from "@gantry/core"
import { type Actor, createActor, initialTransition } from "xstate"
import type { RunExit } from "./Executor.js"
import { GpuBoard } from "./GpuBoard.js"
import { type MutableQueueCounts, type QueueCounts, queueDepthUsed, queueMachine, slotOf } from "./QueueMachine.js"
import { type RunContext, runContextOf, runMachine, type RunMachineEvent } from "./RunMachine.js"
import { schedulerMachine, type SchedulerEvent } from "./SchedulerMachine.js"
import { Stepper, type StepState, TransitionCache } from "./Stepper.js"
import type { Timers } from "./Timers.js"
import { PendingTimeouts } from "./PendingTimeouts.js"
import { NO_GPUS } from "./RunBuilder.js"
import { UsageTracker } from "./UsageTracker.js"

export interface KernelHooks {
  /** SIGTERM / SIGKILL to a run's process group. */
  readonly signal: (run: Run, signal: "TERM" | "KILL") => void
  /** Runs one scheduling cycle; must call `cycleDone()` when finished. */
  readonly runCycle: () => void
  readonly now: () => number
}

/** An active run's statechart (running, stopping). */
type RunActor = Stepper<RunContext, RunMachineEvent>

/** XState's answers for the run statechart, shared by every run (Stepper.ts). */
const runTransitions = new TransitionCache<RunContext, RunMachineEvent>(runMachine)
const schedulerTransitions = new TransitionCache<{ readonly dirty: boolean }, SchedulerEvent>(schedulerMachine)

export class Kernel {
  readonly runs = new Map<RunId, Run>()
  readonly pending: PendingIndex
  readonly running = new RunningSet()
  readonly queues = new Map<QueueName, Actor<typeof queueMachine>>()
  /** Each queue's runs per live status, beside its actor (QueueMachine.ts says why). */
  private readonly counts = new Map<QueueName, MutableQueueCounts>()
  /** The GPUs: statecharts, views and free lists (GpuBoard.ts). */
  readonly gpus = new GpuBoard()
  readonly timeouts: PendingTimeouts
  readonly usage = new UsageTracker()
  readonly idempotency = new Map<string, RunId>()
  readonly wakeups = new Set<string>()
  private closed = false
  private readonly actors = new Map<RunId, RunActor>()
  /** Active runs whose statechart changes are applied (an adopted run's replay is not). */
  private readonly observed = new Set<RunId>()
  private readonly scheduler: Stepper<{ readonly dirty: boolean }, SchedulerEvent>
  private outboxRuns = new Map<RunId, Run>()
  private outboxEvents: Array<RunEvent> = []
  private outboxDeletedQueues: Array<QueueName> = []
  private readonly listeners = new Set<(event: RunEvent) => void>()
  private queueConfigCache: ReadonlyMap<QueueName, QueueConfig> | null = null
  seq = 0
  cycles = 0

  constructor(
    public policy: Policy,
    private readonly timers: Timers,
    private readonly hooks: KernelHooks
  ) {
    this.pending = new PendingIndex(policy.fairShare.mode === "usage")
    this.timeouts = new PendingTimeouts(timers, (run, kind) => this.expirePending(run, kind), hooks.now)
    const [initial] = initialTransition(schedulerMachine)
    this.scheduler = new Stepper(schedulerTransitions, { value: initial.value, context: initial.context, done: false }, timers, {
      runCycle: () => this.hooks.runCycle()
    })
  }

  // ---------------------------------------------------------------- queues

  addQueue(config: QueueConfig): void {
    const actor = createActor(queueMachine, { input: { config } })
    actor.subscribe((snapshot) => {
      if (snapshot.status !== "done") return
      this.queues.delete(config.name)
      this.counts.delete(config.name)
      this.queueConfigCache = null
      this.outboxDeletedQueues.push(config.name)
    })
    actor.start()
    this.queues.set(config.name, actor)
    this.counts.set(config.name, { held: 0, blocked: 0, pending: 0, active: 0 })
    this.queueConfigCache = null
  }

  configureQueue(config: QueueConfig): void {
    this.queues.get(config.name)?.send({ type: "CONFIGURE", config })
    this.queueConfigCache = null
  }

  /** Starts deleting a queue: it takes no new runs and goes when its last run ends. */
  drainQueue(name: QueueName): void {
    const counts = this.counts.get(name)
    if (counts !== undefined) this.queues.get(name)?.send({ type: "DRAIN", live: queueDepthUsed(counts) })
  }

  queueConfig(name: QueueName): QueueConfig | undefined {
    return this.queues.get(name)?.getSnapshot().context.config
  }

  /** A copy of a queue's counts (they change in place as runs move). */
  queueCounts(name: QueueName): QueueCounts | undefined {
    const counts = this.counts.get(name)
    return counts === undefined ? undefined : { ...counts }
  }

  /** Moves one run between a queue's counts; a draining queue's statechart hears the new total. */
  private count(queue: QueueName, from: RunStatus | null, to: RunStatus | null): void {
    const fromSlot = slotOf(from)
    const toSlot = slotOf(to)
    if (fromSlot === toSlot) return
    const counts = this.counts.get(queue)
    if (counts === undefined) return
    if (fromSlot !== null) counts[fromSlot]--
    if (toSlot !== null) counts[toSlot]++
    const actor = this.queues.get(queue)!
    if (actor.getSnapshot().value === "draining") actor.send({ type: "LIVE", live: queueDepthUsed(counts) })
  }

  /** The queue configurations, as decide() reads them; rebuilt only when one changes. */
  queueConfigs(): ReadonlyMap<QueueName, QueueConfig> {
    if (this.queueConfigCache === null) {
      const map = new Map<QueueName, QueueConfig>()
      for (const [name, actor] of this.queues) map.set(name, actor.getSnapshot().context.config)
      this.queueConfigCache = map
    }
    return this.queueConfigCache
  }

  // ---------------------------------------------------------------- the outbox

  /** Takes what changed since the last commit. */
  takeOutbox(): { runs: Array<Run>; events: Array<RunEvent>; deletedQueues: Array<QueueName> } {
    const out = { runs: [...this.outboxRuns.values()], events: this.outboxEvents, deletedQueues: this.outboxDeletedQueues }
    this.outboxRuns = new Map()
    this.outboxEvents = []
    this.outboxDeletedQueues = []
    return out
  }

  /** Marks a run changed outside a transition (its priority override): the next commit writes it. */
  touch(run: Run): void {
    this.outboxRuns.set(run.id, run)
  }

  /** A run changed since the last commit (a finished run stays reachable here until it is stored). */
  unflushed(id: RunId): Run | undefined {
    return this.outboxRuns.get(id)
  }

  /** A run's transitions not committed yet. */
  unflushedEvents(id: RunId): ReadonlyArray<RunEvent> {
    return this.outboxEvents.filter((e) => e.runId === id)
  }

  /** Puts back what a failed commit took, ahead of anything changed since. */
  returnOutbox(out: { runs: ReadonlyArray<Run>; events: ReadonlyArray<RunEvent>; deletedQueues: ReadonlyArray<QueueName> }): void {
    this.outboxRuns = new Map([...out.runs.map((r) => [r.id, r] as const), ...this.outboxRuns])
    this.outboxEvents = [...out.events, ...this.outboxEvents]
    this.outboxDeletedQueues = [...out.deletedQueues, ...this.outboxDeletedQueues]
  }

  onRunEvent(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private record(run: Run, from: RunStatus | null, to: RunStatus, reason: string): void {
    const event: RunEvent = { runId: run.id, from, to, reason, at: this.hooks.now(), attempt: run.attempt }
    this.outboxRuns.set(run.id, run)
    this.outboxEvents.push(event)
    for (const listener of this.listeners) listener(event)
  }

  // ---------------------------------------------------------------- wake-ups

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
  }

  wake(reason: string): void {
    if (this.closed) return
    this.wakeups.add(reason)
    this.scheduler.send({ type: "WAKE" })
  }

  cycleDone(): void {
    this.scheduler.send({ type: "CYCLE_DONE" })
  }

  // ---------------------------------------------------------------- admission of new runs

  /** Adds an accepted run in its first status (held, blocked or pending). */
  admit(run: Run): void {
    this.restore(run)
    this.record(run, null, run.status, "submitted")
    this.wake("submit")
  }

  /** Puts a stored held, blocked or pending run back in memory (on start). */
  restore(run: Run): void {
    this.load(run)
    if (run.status === "pending") this.enterPending(run)
    else if (run.deadlineAt !== null) this.timeouts.add(run)
  }

  /** A run stored as running or stopping whose process no one adopted: `lost` (SPEC §7). */
  recoverLost(run: Run): void {
    this.load(run)
    this.step(run, { type: "LOST" })
  }

  /**
   * A run stored as running or stopping whose process the executor adopted after a restart
   * (SPEC §7): it gets its live actor back in the status it had, its GPUs and counters, and
   * timers for what is left of its time limit and deadline. A stopping run is signalled again
   * and gets a fresh kill grace. Nothing is recorded: the run never changed status.
   */
  adopt(run: Run): void {
    const now = this.hooks.now()
    const startedAt = run.startedAt ?? now
    this.reinstate(run)
    const context = runContextOf(run, now, this.policy.killGraceMs)
    const overdue = run.timeLimitMs !== null && now - startedAt >= run.timeLimitMs
    const remaining = run.timeLimitMs === null ? null : Math.max(0, run.timeLimitMs - (now - startedAt))
    const actor = this.runActor(run, { ...context, stopCause: null, timeLimitMs: remaining })
    if (run.status === "stopping") this.running.replace(stoppingBound(this.running.get(run.id)!, now, this.policy.killGraceMs))
    // replayed to its status without recording: the run never changed status
    actor.send({ type: "START" })
    if (run.status === "stopping") actor.send(stopEventOf(run.stopCause))
    else if (overdue) actor.send({ type: "TIME_LIMIT" })
    this.observed.add(run.id)
    if (actor.state.value !== run.status) this.onActorState(run, actor.state)
  }

  /** A run's statechart from `pending` with this context, its terminate/kill actions bound to the run. */
  private runActor(run: Run, context: RunContext): RunActor {
    const actor: RunActor = new Stepper(
      runTransitions,
      { value: "pending", context, done: false },
      this.timers,
      { terminate: () => this.signalRun(run.id, "TERM"), kill: () => this.signalRun(run.id, "KILL") },
      (state) => {
        if (this.observed.has(run.id)) this.onActorState(run, state)
      }
    )
    this.actors.set(run.id, actor)
    return actor
  }

  /**
   * A stored running or stopping run kept as it is, with no actor: its GPUs and counters
   * stay taken. Used by an offline engine (a command run while no runner serves the
   * database), which must neither adopt nor lose a process it does not own.
   */
  reinstate(run: Run): void {
    this.load(run)
    this.running.add(activeRunOf(run, run.startedAt ?? this.hooks.now(), run.assignedGpus))
    for (const g of run.assignedGpus) this.gpus.hold(g, run.id)
  }

  /**
   * A run stored as running whose process was provably never spawned (the runner stopped
   * between committing the start and spawning): back in its place, attempt unchanged, like
   * a start undone after a refused commit.
   */
  recoverUnstarted(run: Run): void {
    this.load(run)
    this.moved(run, "pending", run, "requeued: never started", true)
  }

  /** A stored, unfinished run back in memory: reachable by id and idempotency key, counted by its queue. */
  private load(run: Run): void {
    this.runs.set(run.id, run)
    if (run.idempotencyKey !== null) this.idempotency.set(run.idempotencyKey, run.id)
    this.count(run.queue, null, run.status)
  }

  private enterPending(run: Run): void {
    this.pending.add(run)
    this.timeouts.add(run)
  }

  // ---------------------------------------------------------------- record-level transitions

  /**
   * Applies an event to a run that has no live actor (held, blocked, pending), with the
   * statechart's pure transition. Returns false when the statechart does not allow it.
   */
  step(run: Run, event: RunMachineEvent): boolean {
    const now = this.hooks.now()
    const { next, changed } = runTransitions.step({ value: run.status, context: runContextOf(run, now, this.policy.killGraceMs), done: false }, event)
    if (!changed) return false
    const to = next.value as RunStatus
    this.pending.remove(run.id)
    if (to === "running" || isTerminal(to)) this.timeouts.remove(run)
    if (to === "rejected" && event.type === "REJECT") run.rejectReason = event.reason
    this.moved(run, to, next.context, next.context.reason)
    return true
  }

  private expirePending(run: Run, kind: "queue-timeout" | "deadline"): void {
    if (isActive(run.status)) {
      this.actors.get(run.id)?.send({ type: "DEADLINE" })
      return
    }
    if (this.step(run, { type: kind === "deadline" ? "DEADLINE" : "QUEUE_TIMEOUT" })) this.wake(kind)
  }

  // ---------------------------------------------------------------- active runs

  /** Phase 4a: assume a start in memory. */
  assumeStart(run: Run, gpus: ReadonlyArray<number>): void {
    const now = this.hooks.now()
    const actor = this.runActor(run, runContextOf(run, now, this.policy.killGraceMs))
    this.pending.remove(run.id)
    this.timeouts.remove(run)
    run.startedAt = now
    run.assignedGpus = gpus
    this.running.add(activeRunOf(run, now, gpus))
    for (const g of gpus) this.gpus.hold(g, run.id)
    this.observed.add(run.id)
    actor.send({ type: "START" })
  }

  /** Phase 4c: the store refused the cycle; put a start back as if it never happened. */
  undoStart(run: Run): void {
    this.dropActor(run.id)
    this.release(run)
    // back in its place: the start never happened, so it keeps its eligible time (SPEC §3)
    this.moved(run, "pending", run, "requeued: store failed", true)
  }

  sendToActive(run: Run, event: RunMachineEvent): boolean {
    const actor = this.actors.get(run.id)
    if (actor === undefined) return false
    return actor.send(event)
  }

  exited(runId: RunId, exit: RunExit): void {
    if (this.closed) return
    const run = this.runs.get(runId)
    if (run === undefined) return
    this.sendToActive(run, exit.lost === true ? { type: "LOST" } : { type: "EXIT", exitCode: exit.exitCode, signal: exit.signal })
  }

  private dropActor(id: RunId): void {
    this.actors.get(id)?.stop()
    this.actors.delete(id)
    this.observed.delete(id)
  }

  private onActorState(run: Run, state: StepState<RunContext>): void {
    const from = run.status
    const to = state.value as RunStatus
    if (to === from) return
    if (to === "stopping") {
      const active = this.running.get(run.id)
      if (active !== undefined) this.running.replace(stoppingBound(active, this.hooks.now(), this.policy.killGraceMs))
    } else if (to === "pending" || isTerminal(to)) {
      this.dropActor(run.id)
      this.release(run)
    }
    this.moved(run, to, state.context, state.context.reason)
    if (to !== "stopping" && from !== "pending") this.wake(to === "pending" ? "retry" : "exit")
  }

  /**
   * The one place a run's status changes (after the statechart allowed it): its fields,
   * its queue's counts, its timeline, and the pending index when it waits again.
   */
  private moved(
    run: Run,
    to: RunStatus,
    outcome: Pick<Run, "attempt" | "exitCode" | "signal" | "failReason" | "stopCause">,
    reason: string,
    keepEligibleAt = false
  ): void {
    const from = run.status
    run.status = to
    run.attempt = outcome.attempt
    run.exitCode = outcome.exitCode
    run.signal = outcome.signal
    run.failReason = outcome.failReason
    run.stopCause = outcome.stopCause
    if (to === "pending") {
      if (!keepEligibleAt) run.eligibleAt = this.hooks.now()
      run.startedAt = null
      run.assignedGpus = NO_GPUS
    }
    if (isTerminal(to)) this.finish(run)
    this.count(run.queue, from, to)
    this.record(run, from, to, reason)
    if (to === "pending") this.enterPending(run)
  }

  /** Frees a run's GPUs and counters; records its GPU usage for fair share. */
  private release(run: Run): void {
    const active = this.running.remove(run.id)
    if (active === undefined) return
    for (const g of active.gpus) this.gpus.hold(g, null)
    this.usage.add(run.user, run.team, active.gpus.length * Math.max(0, this.hooks.now() - active.startedAt), this.hooks.now(), this.policy.fairShare.halfLifeMs)
  }

  private finish(run: Run): void {
    run.endedAt = this.hooks.now()
    this.runs.delete(run.id)
    if (run.idempotencyKey !== null) this.idempotency.delete(run.idempotencyKey)
  }

  /** The run actor's terminate/kill actions. */
  private signalRun(id: RunId, signal: "TERM" | "KILL"): void {
    const run = this.runs.get(id)
    if (run !== undefined) this.hooks.signal(run, signal)
  }
}

const stopEventOf = (cause: Run["stopCause"]): RunMachineEvent =>
  cause === "cancel" ? { type: "CANCEL" } : cause === "time-limit" ? { type: "TIME_LIMIT" } : { type: "DEADLINE" }

const stoppingBound = (active: ActiveRun, now: number, killGraceMs: number): ActiveRun => ({
  ...active,
  endBy: minOrNull(active.endBy, now + killGraceMs)
})
