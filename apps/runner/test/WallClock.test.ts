import { NEVER_MS } from "@gantry/engine"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { WallClock } from "../src/WallClock.js"

describe("WallClock", () => {
  it("fires timers in due order, 0 ms ones first, and never a cancelled one", async () => {
    const clock = new WallClock()
    const fired: Array<string> = []
    const done = new Promise<void>((resolve) => {
      clock.timers.schedule(() => fired.push("20ms"), 20)
      const cancelled = clock.timers.schedule(() => fired.push("cancelled"), 5)
      clock.timers.schedule(() => fired.push("0ms"), 0)
      clock.timers.schedule(() => fired.push("never"), NEVER_MS)
      clock.timers.cancel(cancelled)
      clock.timers.schedule(() => resolve(), 40)
    })
    await done
    expect(fired).toEqual(["0ms", "20ms"])
  })

  it("is wall time and sleeps on it", async () => {
    const clock = new WallClock()
    const before = Date.now()
    await Effect.runPromise(clock.sleep("15 millis"))
    expect(clock.unsafeCurrentTimeMillis()).toBeGreaterThanOrEqual(before + 15)
    expect(Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)).toBeGreaterThanOrEqual(before + 15)
  })
})
