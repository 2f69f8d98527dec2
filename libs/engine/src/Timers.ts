/**
 * One clock: every timer of the engine (XState `after:` delays, timeouts, the cycle
 * trigger) runs on the Effect `Clock` in force.
 *
 * A clock that also implements `TimerClock` (the simulator's SimClock, the runner's
 * wall clock) schedules callbacks directly; any other Effect clock gets a fiber per
 * timer, sleeping on that clock. XState's `clock` option is bridged to the same timers.
 */
import { Clock, Duration, Effect, Fiber, Runtime } from "effect"
import type { ActorOptions, AnyActorLogic } from "xstate"

type XStateClock = NonNullable<ActorOptions<AnyActorLogic>["clock"]>

export type TimerId = number

/** Delays at or beyond this never fire (a timer for "no limit"). */
export const NEVER_MS = 2 ** 50

export interface Timers {
  /**
   * Calls `callback` once, `delayMs` from now on this clock (0 = after what is already
   * due now). A delay of NEVER_MS or more schedules nothing.
   */
  schedule(callback: () => void, delayMs: number): TimerId
  cancel(id: TimerId): void
}

export interface TimerClock extends Clock.Clock {
  readonly timers: Timers
}

export const isTimerClock = (clock: Clock.Clock): clock is TimerClock =>
  typeof (clock as Partial<TimerClock>).timers === "object" && (clock as Partial<TimerClock>).timers !== undefined

/** Timers on any Effect clock, one fiber per timer: fine in real time, too slow for simulation. */
export const fiberTimers = (runtime: Runtime.Runtime<never>, clock: Clock.Clock): Timers => {
  const fibers = new Map<TimerId, Fiber.RuntimeFiber<void>>()
  let next = 1
  return {
    schedule(callback, delayMs) {
      const id = next++
      if (delayMs >= NEVER_MS) return id
      const fiber = Runtime.runFork(runtime)(
        clock.sleep(Duration.millis(Math.max(0, delayMs))).pipe(
          Effect.andThen(
            Effect.sync(() => {
              fibers.delete(id)
              callback()
            })
          )
        )
      )
      fibers.set(id, fiber)
      return id
    },
    cancel(id) {
      const fiber = fibers.get(id)
      if (fiber === undefined) return
      fibers.delete(id)
      Runtime.runFork(runtime)(Fiber.interrupt(fiber))
    }
  }
}

/** `Clock.sleep` for a clock whose timers are these (SimClock, the runner's WallClock). */
export const sleepOn = (timers: Timers, duration: Duration.DurationInput): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const id = timers.schedule(() => resume(Effect.void), Duration.toMillis(duration))
    return Effect.sync(() => timers.cancel(id))
  })

/** XState's clock option on these timers, so `after:` delays run in this clock's time. */
export const xstateClock = (timers: Timers): XStateClock => ({
  setTimeout: (callback: (...args: Array<unknown>) => void, delayMs: number) => timers.schedule(() => callback(), delayMs),
  clearTimeout: (id: unknown) => timers.cancel(id as TimerId)
})
