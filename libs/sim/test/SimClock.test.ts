import { NEVER_MS } from "@gantry/engine"
import { describe, expect, it } from "vitest"
import { makePrng } from "../src/Prng.js"
import { SimClock } from "../src/SimClock.js"

/** Fires a mix of arrivals and the timers they schedule; returns what fired, when, in order. */
const replay = (each: boolean, seed: number): Array<string> => {
  const prng = makePrng(seed)
  const clock = new SimClock()
  const fired: Array<string> = []
  // unsorted arrival times with many ties, one that never comes
  const delays = Array.from({ length: 200 }, (_, i) => (i === 7 ? NEVER_MS : Math.floor(prng.next() * 50)))
  clock.timers.schedule(() => fired.push(`early@${clock.now}`), 10)
  const arrive = (i: number) => {
    fired.push(`arrival ${i}@${clock.now}`)
    // what an arrival does: timers at the same instant and later, one of them cancelled
    clock.timers.schedule(() => fired.push(`after-0 of ${i}@${clock.now}`), 0)
    const late = clock.timers.schedule(() => fired.push(`late of ${i}@${clock.now}`), i % 5)
    if (i % 3 === 0) clock.timers.cancel(late)
  }
  if (each) clock.scheduleEach(delays.length, (i) => delays[i]!, arrive)
  else delays.forEach((delay, i) => clock.timers.schedule(() => arrive(i), delay))
  clock.timers.schedule(() => fired.push(`after-arrivals@${clock.now}`), 10)
  clock.run()
  expect(clock.pendingTimers).toBe(0)
  return fired
}

describe("SimClock.scheduleEach", () => {
  it("fires the same timers in the same order as scheduling each one", () => {
    for (const seed of [1, 2, 3]) {
      const fired = replay(true, seed)
      expect(fired.length).toBeGreaterThan(400)
      expect(fired).toEqual(replay(false, seed))
    }
  })

  it("counts its timers as pending until they fire", () => {
    const clock = new SimClock()
    clock.scheduleEach(3, (i) => i * 10, () => {})
    expect(clock.pendingTimers).toBe(3)
    clock.step()
    expect(clock.pendingTimers).toBe(2)
    clock.run()
    expect(clock.pendingTimers).toBe(0)
  })
})

describe("SimClock.run(untilMs)", () => {
  it("fires nothing due after untilMs, even with a cancelled timer on top of the heap", () => {
    const clock = new SimClock()
    const fired: Array<number> = []
    const cancelled = clock.timers.schedule(() => fired.push(-1), 5)
    clock.timers.schedule(() => fired.push(clock.now), 10)
    clock.timers.cancel(cancelled)
    expect(clock.run(5)).toBe(0)
    expect(fired).toEqual([])
    expect(clock.now).toBe(0)
    expect(clock.run(10)).toBe(1)
    expect(fired).toEqual([10])
  })
})
