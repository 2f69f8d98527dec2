/**
 * Simulated time: an Effect Clock with a heap of timers that jumps straight to the next
 * due one. Installed with `Effect.withClock`, it drives every timer of the engine,
 * XState's `after:` delays included, so a month of history replays in seconds.
 */
import { BinaryHeap } from "@gantry/core"
import { NEVER_MS, sleepOn, type TimerClock, type TimerId, type Timers } from "@gantry/engine"
import { Clock, Duration, Effect } from "effect"

interface Timer {
  readonly at: number
  readonly seq: number
  /** Null once cancelled: it stays in the heap and is skipped when it comes up. */
  callback: (() => void) | null
}

export class SimClock implements TimerClock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private nowMs: number
  private seq = 0
  private readonly heap = new BinaryHeap<Timer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  /**
   * Timers not yet fired or cancelled, by id. A cancel marks the timer itself; a set of
   * cancelled ids (as before) kept every id cancelled after its timer had fired, forever.
   */
  private readonly live = new Map<TimerId, Timer>()
  /** Timer events fired so far. */
  fired = 0

  constructor(startMs = 0) {
    this.nowMs = startMs
  }

  readonly timers: Timers = {
    schedule: (callback, delayMs) => {
      const id = ++this.seq
      if (delayMs >= NEVER_MS) return id
      const timer: Timer = { at: this.nowMs + Math.max(0, delayMs), seq: id, callback }
      this.heap.push(timer)
      this.live.set(id, timer)
      return id
    },
    cancel: (id) => {
      const timer = this.live.get(id)
      if (timer === undefined) return
      this.live.delete(id)
      timer.callback = null
    }
  }

  get now(): number {
    return this.nowMs
  }

  get pendingTimers(): number {
    return this.live.size
  }

  unsafeCurrentTimeMillis(): number {
    return this.nowMs
  }
  readonly currentTimeMillis = Effect.sync(() => this.nowMs)
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.nowMs) * 1_000_000n
  }
  readonly currentTimeNanos = Effect.sync(() => BigInt(this.nowMs) * 1_000_000n)
  sleep(duration: Duration.DurationInput): Effect.Effect<void> {
    return sleepOn(this.timers, duration)
  }

  /** Fires the next due timer, moving time to it; false when none is left. */
  step(): boolean {
    for (;;) {
      const timer = this.heap.pop()
      if (timer === undefined) return false
      const callback = timer.callback
      if (callback === null) continue
      this.live.delete(timer.seq)
      this.nowMs = timer.at
      this.fired++
      callback()
      return true
    }
  }

  /** Runs until no timer is left (or `untilMs` is reached); returns timers fired. */
  run(untilMs = Infinity): number {
    const before = this.fired
    for (;;) {
      const next = this.heap.peek()
      if (next === undefined || next.at > untilMs) break
      this.step()
    }
    return this.fired - before
  }
}
