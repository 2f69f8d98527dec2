/**
 * Sync when possible. A fiber costs ~1–8 µs to create and run, more than most cycles and
 * commands do, and under load most of them touch only synchronous ports (the memory store,
 * the simulator's executor, a journal that keeps nothing). So the engine's plain code runs in
 * the caller's stack between its port calls, and a port call that has already finished comes
 * back as an Exit (`Effect.void`, `noJournal`, a store's `commitNow`, an executor's
 * `startNow`), which `continueWith` continues inline; the first port call with work left makes the
 * rest one Effect, which the engine runs in one fiber, so an asynchronous store or executor
 * suspends it. The simulator, whose ports are all synchronous, runs a run's whole life
 * without a fiber of its own.
 */
import { Effect, Exit } from "effect"

/** The Effect has already succeeded: it is an Exit (`Effect.void`, `Effect.succeed`), nothing to run. */
export const isDone = (effect: Effect.Effect<unknown, unknown>): boolean => Exit.isExit(effect) && Exit.isSuccess(effect)

/**
 * `effect`, then `next(its value)`: inline when `effect` has already succeeded, else chained.
 * The one sync/async rule. (Not named `then`: a module that exports `then` is a thenable, and
 * `await import()` of it never resolves.)
 */
export const continueWith = <A, E1, B, E2>(effect: Effect.Effect<A, E1>, next: (a: A) => Effect.Effect<B, E2>): Effect.Effect<B, E1 | E2> =>
  isDone(effect) ? next((effect as Exit.Success<A, E1>).value) : Effect.flatMap(effect, next)
