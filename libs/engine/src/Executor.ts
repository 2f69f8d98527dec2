/**
 * The Executor port: starts a run's process on its GPUs, signals it, and reports its exit.
 * The runner's adapter spawns real processes; the simulator's ends a run after its duration.
 */
import { Context, Data, type Effect, type Exit } from "effect"
import type { Run } from "@gantry/core"

export class SpawnError extends Data.TaggedError("SpawnError")<{ readonly message: string }> {}

/** How a run's process ended. `signal` is set when a signal killed it. */
export interface RunExit {
  readonly exitCode: number | null
  readonly signal: string | null
  /** The process is gone but its status could not be learnt (SPEC §2 `lost`). */
  readonly lost?: boolean
  /**
   * When the process ended (epoch ms, as the executor recorded it: the runner's wrapper
   * writes it in the exit file), so a run that ended while no runner watched gets its real
   * end time, not the time it was adopted. Absent: the time the engine hears of the exit.
   */
  readonly endedAt?: number
}

export interface StartRequest {
  readonly run: Run
  readonly gpus: ReadonlyArray<number>
}

export type StopSignal = "TERM" | "KILL"

export type AdoptOutcome = "adopted" | "lost" | "never-started"

export interface ExecutorService {
  /**
   * Starts the run; `onExit` is called exactly once, whenever the process ends, from any
   * context (it only records the exit and wakes the scheduler).
   */
  readonly start: (request: StartRequest, onExit: (exit: RunExit) => void) => Effect.Effect<void, SpawnError>
  /**
   * The same start, done now in the caller's stack, for an executor that starts synchronously
   * (the simulator's): the cycle then needs no fiber (Sync.ts).
   */
  readonly startNow?: ((request: StartRequest, onExit: (exit: RunExit) => void) => Exit.Exit<void, SpawnError>) | undefined
  /** Signals the run's whole process group; a run already gone is not an error. */
  readonly signal: (run: Run, signal: StopSignal) => Effect.Effect<void>
  /**
   * On start, takes over a run stored as running or stopping (SPEC §7):
   * - `adopted`: its process is still alive, or its exit status was captured while no runner
   *   watched; `onExit` is then called exactly once, possibly before `adopt` returns;
   * - `lost`: the process is gone and its status is unknown; the engine records `lost`;
   * - `never-started`: provably never spawned (the runner stopped between committing the
   *   start and spawning); the engine puts the run back in its place, attempt unchanged.
   */
  readonly adopt: (run: Run, onExit: (exit: RunExit) => void) => Effect.Effect<AdoptOutcome>
}

export class Executor extends Context.Tag("@gantry/engine/Executor")<Executor, ExecutorService>() {}
