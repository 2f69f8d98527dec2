/**
 * The runner's clock: wall time, with the engine's timers (`TimerClock`) on Node's own
 * timers instead of a fiber per timer. A 0 ms timer (the scheduler's "cycle after what is
 * due now") runs on `setImmediate`, so an exit reaches the next cycle without the 1 ms floor
 * of `setTimeout`. Delays beyond Node's 2^31−1 ms limit (~24.8 days: a long time limit) are
 * chained rather than firing at once.
 */
import { NEVER_MS, sleepOn, type TimerClock, type TimerId, type Timers } from "@gantry/engine"
import { Clock, Duration, Effect } from "effect"

const MAX_TIMEOUT_MS = 2 ** 31 - 1

export class WallClock implements TimerClock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private next = 1
  private readonly handles = new Map<TimerId, { readonly timeout: NodeJS.Timeout } | { readonly immediate: NodeJS.Immediate }>()

  readonly timers: Timers = {
    schedule: (callback, delayMs) => {
      const id = this.next++
      if (delayMs >= NEVER_MS) return id
      this.arm(id, Date.now() + Math.max(0, delayMs), callback)
      return id
    },
    cancel: (id) => {
      const handle = this.handles.get(id)
      if (handle === undefined) return
      this.handles.delete(id)
      if ("timeout" in handle) clearTimeout(handle.timeout)
      else clearImmediate(handle.immediate)
    }
  }

  private arm(id: TimerId, at: number, callback: () => void): void {
    const fire = () => {
      if (!this.handles.has(id)) return
      if (Date.now() < at) return this.arm(id, at, callback)
      this.handles.delete(id)
      callback()
    }
    const delay = at - Date.now()
    this.handles.set(id, delay <= 0 ? { immediate: setImmediate(fire) } : { timeout: setTimeout(fire, Math.min(delay, MAX_TIMEOUT_MS)) })
  }

  unsafeCurrentTimeMillis(): number {
    return Date.now()
  }
  readonly currentTimeMillis = Effect.sync(() => Date.now())
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(Date.now()) * 1_000_000n
  }
  readonly currentTimeNanos = Effect.sync(() => BigInt(Date.now()) * 1_000_000n)
  sleep(duration: Duration.DurationInput): Effect.Effect<void> {
    return sleepOn(this.timers, duration)
  }
}
