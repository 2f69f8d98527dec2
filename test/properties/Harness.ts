/**
 * Drives the real engine directly, built the way `simulate` builds it (SimClock, MemoryStore,
 * SimExecutor, SimGpus, a Journal collecting every entry), for hand-written scenarios:
 * submit runs (now, or at an instant), act on them at given instants, run the clock, then
 * read the events, the journal and the runs.
 *
 *   const h = new Harness({ gpus: 2 })
 *   const a = h.submit({ user: "ana" }, { durationMs: 60_000 })
 *   h.at(30_000, () => h.cancel([a]))
 *   h.run()
 *   h.statusOf(a) // "cancelled"
 */
import {
  defaultPolicy,
  type Level,
  type Policy,
  type QueueConfig,
  QueueName,
  type Run,
  type RunEvent,
  type RunId,
  type RunStatus,
  type Submission,
  TeamName,
  UserName
} from "@gantry/core"
import { type ActorMode, Engine, type EngineService, Journal, type JournalEntry, MemoryStore, Store, type StoreService } from "@gantry/engine"
import { SimClock, SimExecutor, SimGpus } from "@gantry/sim"
import { Effect, Layer } from "effect"
import type { InspectionEvent } from "xstate"

/** What a run's process does: how long each attempt runs and how it exits (per attempt, the last repeats). */
export interface Behaviour {
  readonly durationMs: number
  readonly exitCodes?: ReadonlyArray<number>
}

/** A submission in plain strings (the harness brands them). */
export interface SubmitOptions {
  readonly user: string
  readonly team?: string
  readonly level?: Level
  readonly queue?: string
  readonly gpus?: number
  readonly deviceIds?: ReadonlyArray<number>
  readonly anyGpu?: boolean
  readonly priority?: number
  readonly timeLimitMs?: number
  readonly maxQueuedTimeMs?: number
  readonly deadlineMs?: number
  readonly requiresApproval?: boolean
  readonly maxAttempts?: number
  readonly name?: string
}

export interface HarnessOptions {
  readonly gpus: number
  readonly policy?: Policy
  readonly queues?: ReadonlyArray<QueueConfig>
  /** Share a store between two harnesses to restart the engine on it. */
  readonly store?: StoreService
  /** The engine's statecharts as Steppers (default) or live XState actors. */
  readonly actors?: ActorMode
  /** XState's inspection API, for the engine's actors. */
  readonly inspect?: (event: InspectionEvent) => void
  /** Where simulated time starts (a restarted engine goes on from the old one's time). */
  readonly startMs?: number
}

export const DEFAULT_BEHAVIOUR: Behaviour = { durationMs: 60_000 }

export class Harness {
  readonly clock: SimClock
  readonly store: StoreService
  readonly engine: EngineService
  readonly events: Array<RunEvent> = []
  readonly journal: Array<JournalEntry> = []
  private readonly behaviours = new Map<RunId, Behaviour>()

  constructor(options: HarnessOptions) {
    this.clock = new SimClock(options.startMs ?? 0)
    this.store = options.store ?? MemoryStore.makeMemoryStore()
    const journal = Layer.succeed(Journal, { record: (entry: JournalEntry) => Effect.sync(() => void this.journal.push(entry)) })
    const ports = Layer.mergeAll(
      Layer.succeed(Store, this.store),
      SimExecutor.layer({
        timers: this.clock.timers,
        behaviour: (runId, attempt) => {
          const b = this.behaviours.get(runId) ?? DEFAULT_BEHAVIOUR
          const codes = b.exitCodes ?? [0]
          return { durationMs: b.durationMs, exitCode: codes[Math.min(attempt, codes.length) - 1]! }
        }
      }),
      SimGpus.layer(options.gpus),
      journal
    )
    this.engine = Effect.runSync(
      Engine.make({
        policy: options.policy ?? defaultPolicy,
        queues: options.queues ?? [],
        onTransition: (event) => void this.events.push(event),
        ...(options.actors === undefined ? {} : { actors: options.actors }),
        ...(options.inspect === undefined ? {} : { inspect: options.inspect })
      }).pipe(Effect.provide(ports), Effect.withClock(this.clock))
    )
  }

  get now(): number {
    return this.clock.now
  }

  /** Submits now; throws if the engine refuses. */
  submit(o: SubmitOptions, behaviour: Behaviour = DEFAULT_BEHAVIOUR): RunId {
    const s: Submission = {
      command: ["scenario"],
      user: UserName.make(o.user),
      ...(o.team === undefined ? {} : { team: TeamName.make(o.team) }),
      ...(o.level === undefined ? {} : { level: o.level }),
      ...(o.queue === undefined ? {} : { queue: QueueName.make(o.queue) }),
      ...(o.gpus === undefined ? {} : { gpus: o.gpus }),
      ...(o.deviceIds === undefined ? {} : { deviceIds: o.deviceIds }),
      ...(o.anyGpu === undefined ? {} : { anyGpu: o.anyGpu }),
      ...(o.priority === undefined ? {} : { priority: o.priority }),
      ...(o.timeLimitMs === undefined ? {} : { timeLimitMs: o.timeLimitMs }),
      ...(o.maxQueuedTimeMs === undefined ? {} : { maxQueuedTimeMs: o.maxQueuedTimeMs }),
      ...(o.deadlineMs === undefined ? {} : { deadlineMs: o.deadlineMs }),
      ...(o.requiresApproval === undefined ? {} : { requiresApproval: o.requiresApproval }),
      ...(o.maxAttempts === undefined ? {} : { maxAttempts: o.maxAttempts }),
      ...(o.name === undefined ? {} : { name: o.name })
    }
    const outcome = Effect.runSync(this.engine.submit(s))
    if (outcome._tag !== "Accepted") throw new Error(`submission not accepted: ${JSON.stringify(outcome)}`)
    this.behaviours.set(outcome.run.id, behaviour)
    return outcome.run.id
  }

  /** Runs `action` at simulated instant `atMs` (absolute). */
  at(atMs: number, action: () => void): void {
    this.clock.timers.schedule(action, atMs - this.clock.now)
  }

  /** Submits at instant `atMs`; the id is known once the clock has passed it. */
  submitAt(atMs: number, o: SubmitOptions, behaviour: Behaviour = DEFAULT_BEHAVIOUR): { id: RunId | null } {
    const ref: { id: RunId | null } = { id: null }
    this.at(atMs, () => {
      ref.id = this.submit(o, behaviour)
    })
    return ref
  }

  cancel(ids: ReadonlyArray<RunId>): ReadonlyArray<RunId> {
    return Effect.runSync(this.engine.cancel(ids))
  }

  approve(id: RunId): Run {
    return Effect.runSync(this.engine.approve(id))
  }

  reject(id: RunId, reason: string): Run {
    return Effect.runSync(this.engine.reject(id, reason))
  }

  /** Runs the clock until nothing is due (or `untilMs`). */
  run(untilMs = Infinity): void {
    this.clock.run(untilMs)
  }

  runOf(id: RunId): Run {
    return Effect.runSync(this.engine.getRun(id))
  }

  statusOf(id: RunId): RunStatus {
    return this.runOf(id).status
  }

  eventsOf(id: RunId): Array<RunEvent> {
    return this.events.filter((e) => e.runId === id)
  }

  /** [at, from → to, reason] of a run, for readable assertions. */
  timelineOf(id: RunId): Array<readonly [number, string, string]> {
    return this.eventsOf(id).map((e) => [e.at, `${e.from ?? "∅"} → ${e.to}`, e.reason] as const)
  }

  /** When the run first (or in `attempt`) went pending → running; null if never. */
  startedAt(id: RunId, attempt?: number): number | null {
    const e = this.events.find((x) => x.runId === id && x.to === "running" && (attempt === undefined || x.attempt === attempt))
    return e === undefined ? null : e.at
  }

  /** The journal's start of a run (its GPUs and backfill flag), first one. */
  startOf(id: RunId) {
    for (const entry of this.journal) {
      const start = entry.starts.find((s) => s.runId === id)
      if (start !== undefined) return { ...start, at: entry.at, cycle: entry.cycle }
    }
    return null
  }

  /** The wait reason the journal gave a run in the last cycle that examined it. */
  lastWaitOf(id: RunId): string | null {
    for (let i = this.journal.length - 1; i >= 0; i--) {
      const wait = this.journal[i]!.waits.find((w) => w.runId === id)
      if (wait !== undefined) return wait.reason
    }
    return null
  }
}
