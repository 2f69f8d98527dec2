/**
 * Simulated time: an Effect Clock with a heap of timers that jumps straight to the next
 * due one. Installed with `Effect.withClock`, it drives every timer of the engine,
 * XState's `after:` delays included, so a month of history replays in seconds.
 */
import { BinaryHeap, ChurnMap } from "@gantry/core"
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
  private readonly live = new ChurnMap<TimerId, Timer>()
  /** Timers of `scheduleEach` not fired yet (one of them in the heap). */
  private eachLeft = 0
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

  /**
   * `timers.schedule(() => fire(i), delayMs(i))` for i = 0 … count−1, called now in that
   * order, without holding them all: the ids (hence the order among equal times) are
   * reserved now, and only the next one due waits in the heap, pushed when the one before
   * it fires. The same timers fire in the same order; the heap stays the size of what is
   * really pending (an M/M/8 replay held every future arrival in it: a closure and a heap
   * entry per job, and a heap ~16 levels deep instead of ~5). Not cancellable.
   */
  scheduleEach(count: number, delayMs: (i: number) => number, fire: (i: number) => void): void {
    const first = this.seq + 1
    this.seq += count
    const at: Array<number> = []
    const order: Array<number> = []
    for (let i = 0; i < count; i++) {
      const delay = delayMs(i)
      at.push(this.nowMs + Math.max(0, delay))
      if (delay < NEVER_MS) order.push(i)
    }
    // the order the heap would fire them in: by time, then by id (= i)
    order.sort((a, b) => at[a]! - at[b]! || a - b)
    this.eachLeft += order.length
    let next = 0
    const pushNext = (): void => {
      if (next === order.length) return
      const i = order[next++]!
      this.heap.push({
        at: at[i]!,
        seq: first + i,
        callback: () => {
          this.eachLeft--
          pushNext()
          fire(i)
        }
      })
    }
    pushNext()
  }

  get now(): number {
    return this.nowMs
  }

  get pendingTimers(): number {
    return this.live.size + this.eachLeft
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

  /** Fires the next due timer, moving time to it; false when none is left (or none is due by `untilMs`). */
  step(untilMs = Infinity): boolean {
    for (;;) {
      const timer = this.heap.peek()
      if (timer === undefined) return false
      const callback = timer.callback
      if (callback === null) {
        this.heap.pop()
        continue
      }
      if (timer.at > untilMs) return false
      this.heap.pop()
      this.live.delete(timer.seq)
      this.nowMs = timer.at
      this.fired++
      callback()
      return true
    }
  }

  /**
   * Runs until no timer is left (or none is due by `untilMs`); returns timers fired. A
   * cancelled timer on top of the heap is dropped before the comparison: `step()` would skip
   * it and fire the next one, however late (time jumped past `untilMs`).
   */
  run(untilMs = Infinity): number {
    const before = this.fired
    while (this.step(untilMs));
    return this.fired - before
  }
}
