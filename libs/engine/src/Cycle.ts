/**
 * The scheduling cycle (DESIGN.md), one function in numbered phases like Kueue's
 * `schedule()`: 1 collect wake-ups, 2 snapshot, 3 decide, 4 apply (assume the starts in
 * memory, persist the outbox in one commit, on failure undo and requeue, then ask the
 * Executor to start each run), 5 journal. Each phase is timed when the engine has a stopwatch.
 *
 * Plain code between its port calls, and no fiber unless a port has work left to run. A
 * port's Effect that has already finished (an Exit: `Effect.void` for an empty outbox,
 * `noJournal`, the simulator's journal with no observer) is continued inline; the first one
 * that has not makes the rest of the cycle one Effect, which `runCycle`'s caller runs in one
 * fiber, so an asynchronous store or executor suspends the cycle exactly as before. Why: a
 * fiber costs ~8 µs to create and run, more than a cycle that starts nothing, and under
 * load most cycles after a submission start nothing (every GPU busy; M/M/8 at load 0.9).
 */
import { decide, type Run, type Snapshot } from "@gantry/core"
import { Effect, Exit } from "effect"
import type { ExecutorService } from "./Executor.js"
import type { JournalService } from "./Journal.js"
import type { Kernel } from "./Kernel.js"
import type { StoreError } from "./Store.js"
import type { Timers } from "./Timers.js"

/** After the store refused a cycle's commit, the next cycle comes this much later (if nothing else wakes one). */
export const STORE_RETRY_MS = 1_000

export const PHASES = ["collect", "snapshot", "decide", "apply", "journal"] as const
export type Phase = (typeof PHASES)[number]
export type PhaseTimings = Record<Phase, { readonly totalMs: number; readonly maxMs: number }>

export interface CycleDeps {
  readonly kernel: Kernel
  readonly executor: ExecutorService
  readonly journal: JournalService
  readonly timers: Timers
  readonly now: () => number
  readonly snapshotAt: (at: number) => Snapshot
  /** Takes the kernel's outbox now and returns its commit (`Effect.void` when it is empty). */
  readonly commitOutbox: () => Effect.Effect<void, StoreError>
  /** A monotonic high-resolution clock (EngineOptions.stopwatch). */
  readonly stopwatch?: (() => number) | undefined
}

export interface Cycle {
  /**
   * Runs one cycle's plain code now and returns what is left of it: an Exit when every port
   * call has finished (nothing to run), else the Effect that completes it.
   */
  readonly run: () => Effect.Effect<void>
  /** Time spent in each phase so far; null without a stopwatch. */
  readonly phases: PhaseTimings | null
}

/** The Effect has already succeeded: it is an Exit (`Effect.void`, `Effect.succeed`), nothing to run. */
const isDone = (effect: Effect.Effect<unknown, unknown>): boolean => Exit.isExit(effect) && Exit.isSuccess(effect)

/** `effect`, then `next()`: inline when `effect` has already succeeded, else chained. */
const andThen = <E1, E2>(effect: Effect.Effect<void, E1>, next: () => Effect.Effect<void, E2>): Effect.Effect<void, E1 | E2> =>
  isDone(effect) ? next() : Effect.flatMap(effect, next)

export const makeCycle = (deps: CycleDeps): Cycle => {
  const { kernel, executor, journal, timers, now, stopwatch } = deps
  const phases: Record<Phase, { totalMs: number; maxMs: number }> | null =
    stopwatch === undefined ? null : (Object.fromEntries(PHASES.map((p) => [p, { totalMs: 0, maxMs: 0 }])) as Record<Phase, { totalMs: number; maxMs: number }>)
  let lap = 0
  const timed = (phase: Phase) => {
    if (stopwatch === undefined || phases === null) return
    const t = stopwatch()
    const ms = t - lap
    lap = t
    const entry = phases[phase]
    entry.totalMs += ms
    if (ms > entry.maxMs) entry.maxMs = ms
  }
  const journalled = () => timed("journal")

  const run = (): Effect.Effect<void> => {
    if (stopwatch !== undefined) lap = stopwatch()
    // 1. collect wake-ups
    const cycleNo = ++kernel.cycles
    const wakeups = [...kernel.wakeups].sort()
    kernel.wakeups.clear()
    timed("collect")
    // 2. snapshot
    const at = now()
    const snapshot = deps.snapshotAt(at)
    const inputs = { pending: kernel.pending.size, running: kernel.running.count, freeGpus: kernel.gpus.freeCount(), policyVersion: kernel.policy.version }
    timed("snapshot")
    // 3. decide
    const decision = decide(snapshot)
    timed("decide")
    // 4. apply: assume in memory, persist, on failure undo and requeue, then start
    const started: Array<Run> = []
    for (const start of decision.starts) {
      const run = kernel.runs.get(start.runId)!
      kernel.assumeStart(run, start.gpus)
      started.push(run)
    }
    // 5. journal
    const record = (): Effect.Effect<void> => {
      timed("apply")
      const recorded = journal.record({
        cycle: cycleNo,
        at,
        wakeups,
        inputs,
        starts: decision.starts,
        reservation: decision.reservation,
        waits: decision.waits,
        otherwise: decision.otherwise,
        examined: decision.examined
      })
      if (!isDone(recorded)) return Effect.tap(recorded, journalled)
      journalled()
      return recorded
    }
    /** Asks the executor to start the i-th run and the rest after it, then journals. */
    const startFrom = (i: number): Effect.Effect<void> => {
      if (i === started.length) return record()
      const run = started[i]!
      const spawn = executor.start({ run, gpus: run.assignedGpus }, (exit) => kernel.exited(run.id, exit))
      return andThen(
        isDone(spawn)
          ? Effect.void
          : Effect.catchAll(spawn, (error) => Effect.sync(() => kernel.sendToActive(run, { type: "SPAWN_FAILED", message: error.message }))),
        () => startFrom(i + 1)
      )
    }
    const persisted = deps.commitOutbox()
    return isDone(persisted) ? startFrom(0) : Effect.matchEffect(persisted, {
      // nothing was spawned: put the starts back, and try again later (the cycle's other
      // changes are back in the outbox and go with the next commit)
      onFailure: (error) =>
        Effect.suspend(() => {
          for (const run of started.reverse()) kernel.undoStart(run)
          timers.schedule(() => kernel.wake("store-retry"), STORE_RETRY_MS)
          return Effect.logError(`cycle ${cycleNo} not persisted; ${started.length} starts undone, retrying in ${STORE_RETRY_MS} ms`, error)
        }),
      onSuccess: () => startFrom(0)
    })
  }
  return { run, phases }
}
