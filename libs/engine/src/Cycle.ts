/**
 * The scheduling cycle (SPEC §5), five phases in order, like Kueue's `schedule()`:
 *
 *   1. collect   what woke it (coalesced wake-ups), and its number;
 *   2. snapshot  the immutable view decide() reads, and the journal's inputs;
 *   3. decide    `decide(snapshot)`: pure, in libs/core;
 *   4. apply     assume the starts in memory, commit the outbox in one Store commit (on a
 *                refused commit: undo the starts, retry later), then ask the Executor to
 *                start each run (a spawn error goes to the run's statechart);
 *   5. journal   the decision with its inputs and reasons.
 *
 * Each phase is timed when the engine has a stopwatch.
 *
 * Sync when possible (Sync.ts): the phases are plain code between their port calls, and a
 * port call that has already finished continues inline, so a cycle that starts nothing, or
 * starts runs through synchronous ports (the simulator), runs without a fiber.
 */
import { type Decision, decide, type Run, type Snapshot } from "@gantry/core"
import { Effect, Exit } from "effect"
import type { ExecutorService, RunExit } from "./Executor.js"
import type { JournalEntry, JournalService } from "./Journal.js"
import type { Kernel } from "./Kernel.js"
import type { StoreError } from "./Store.js"
import { continueWith, isDone } from "./Sync.js"
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

/** An apply phase whose starts were committed, as an Exit (continued inline). */
const COMMITTED: Effect.Effect<boolean> = Exit.succeed(true)

/** What phase 1 and 2 hand on. */
interface Collected {
  readonly cycle: number
  readonly wakeups: ReadonlyArray<string>
}
interface Snapshotted {
  readonly at: number
  readonly snapshot: Snapshot
  readonly inputs: JournalEntry["inputs"]
}

export const makeCycle = (deps: CycleDeps): Cycle => {
  const { kernel, executor, journal, timers, stopwatch } = deps
  const phases: Record<Phase, { totalMs: number; maxMs: number }> | null =
    stopwatch === undefined ? null : (Object.fromEntries(PHASES.map((p) => [p, { totalMs: 0, maxMs: 0 }])) as Record<Phase, { totalMs: number; maxMs: number }>)
  let lap = 0
  /** Ends the timing of `phase` (from the end of the one before). */
  const timed = (phase: Phase): void => {
    if (stopwatch === undefined || phases === null) return
    const t = stopwatch()
    const ms = t - lap
    lap = t
    const entry = phases[phase]
    entry.totalMs += ms
    if (ms > entry.maxMs) entry.maxMs = ms
  }

  // 1. collect: what woke this cycle
  const collect = (): Collected => kernel.beginCycle()

  // 2. snapshot: the immutable view decide() reads
  const snapshot = (): Snapshotted => {
    const at = kernel.now()
    return {
      at,
      snapshot: kernel.snapshotAt(at),
      inputs: { pending: kernel.pendingCount, running: kernel.activeCount, freeGpus: kernel.freeGpuCount(), policyVersion: kernel.policy.version }
    }
  }

  // 3. decide: pure
  const decidePhase = (s: Snapshotted): Decision => decide(s.snapshot)

  // 4. apply: assume in memory, commit, on failure undo and retry later, then start each run;
  //    whether the starts were committed
  const apply = (collected: Collected, decision: Decision): Effect.Effect<boolean> => {
    const started: Array<Run> = decision.starts.map((start) => kernel.assumeStart(start.runId, start.gpus))
    const persisted = deps.commitOutbox()
    const spawnFrom = (i: number): Effect.Effect<boolean> => {
      if (i === started.length) return COMMITTED
      const run = started[i]!
      const request = { run, gpus: run.assignedGpus }
      const onExit = (exit: RunExit) => kernel.exited(run.id, exit)
      const spawn = executor.startNow !== undefined ? executor.startNow(request, onExit) : executor.start(request, onExit)
      const spawned: Effect.Effect<void> = isDone(spawn)
        ? Effect.void
        : Effect.catchAll(spawn, (error) => Effect.sync(() => void kernel.sendToActive(run.id, { type: "SPAWN_FAILED", message: error.message })))
      return isDone(spawned) ? spawnFrom(i + 1) : Effect.flatMap(spawned, () => spawnFrom(i + 1))
    }
    if (isDone(persisted)) return spawnFrom(0)
    return Effect.matchEffect(persisted, {
      // nothing was spawned: put the starts back, and try again later (the cycle's other
      // changes are back in the outbox and go with the next commit)
      onFailure: (error) =>
        Effect.suspend(() => {
          for (const run of [...started].reverse()) kernel.undoStart(run.id)
          timers.schedule(() => kernel.wake("store-retry"), STORE_RETRY_MS)
          return Effect.as(Effect.logError(`cycle ${collected.cycle} not persisted; ${started.length} starts undone, retrying in ${STORE_RETRY_MS} ms`, error), false)
        }),
      onSuccess: () => spawnFrom(0)
    })
  }

  // 5. journal: the decision, its inputs and reasons
  const journalPhase = (collected: Collected, s: Snapshotted, decision: Decision): Effect.Effect<void> =>
    journal.record({
      cycle: collected.cycle,
      at: s.at,
      wakeups: collected.wakeups,
      inputs: s.inputs,
      starts: decision.starts,
      reservation: decision.reservation,
      waits: decision.waits,
      otherwise: decision.otherwise,
      examined: decision.examined
    })

  const run = (): Effect.Effect<void> => {
    if (stopwatch !== undefined) lap = stopwatch()
    const collected = collect()
    timed("collect")
    const snapshotted = snapshot()
    timed("snapshot")
    const decision = decidePhase(snapshotted)
    timed("decide")
    return continueWith(apply(collected, decision), (committed) => {
      timed("apply")
      // a cycle whose commit was refused decided nothing that happened: no journal entry
      if (!committed) return Effect.void
      return continueWith(journalPhase(collected, snapshotted, decision), () => {
        timed("journal")
        return Effect.void
      })
    })
  }
  return { run, phases }
}
