import { describe, expect, it } from "vitest"
import { batchMeans, runMmc, studentT975 } from "../src/Mmc.js"

describe("studentT975", () => {
  it("matches the table of Student's t at 0.975 (to 1e-3)", () => {
    // from any statistics table
    const table: ReadonlyArray<readonly [number, number]> = [[1, 12.706], [4, 2.776], [5, 2.571], [10, 2.228], [29, 2.045], [100, 1.984], [1000, 1.962]]
    for (const [df, t] of table) expect(studentT975(df)).toBeCloseTo(t, 2)
  })
  it("refuses a df below 1", () => {
    expect(() => studentT975(0)).toThrow(RangeError)
  })
})

describe("batchMeans", () => {
  it("computes the interval by hand on a small example: 4 batches of 2 after a warm-up of 2", () => {
    // warm-up 0.2 of 10 = 2 values left out; batches [1,3] [5,7] [2,2] [4,8]: means 2, 6, 2, 6
    const r = batchMeans([100, 100, 1, 3, 5, 7, 2, 2, 4, 8], { batches: 4, warmupFraction: 0.2 })
    expect(r.mean).toBe(4)
    expect(r.warmup).toBe(2)
    expect(r.used).toBe(8)
    // s² = (4+4+4+4)/3, half width = t(3)·sqrt(s²/4)
    expect(r.halfWidth).toBeCloseTo(3.182 * Math.sqrt(16 / 3 / 4), 3)
  })
  it("leaves out NaNs (jobs that never started)", () => {
    expect(batchMeans([NaN, 1, NaN, 1, 1, 1], { batches: 2, warmupFraction: 0 }).mean).toBe(1)
  })
  it("refuses too few values for the batches", () => {
    expect(() => batchMeans([1, 2, 3], { batches: 4, warmupFraction: 0 })).toThrow(RangeError)
  })
})

describe("runMmc", () => {
  it("M/M/4 at load 0.7: the interval is a real interval around the estimate, and Erlang C is computed for the same queue", () => {
    const c = runMmc({ servers: 4, load: 0.7, jobs: 20_000, seed: 3 })
    expect(c.estimate.halfWidth).toBeGreaterThan(0)
    expect(c.estimate.batches).toBe(30)
    // Erlang C for c=4, a=2.8 (Erlang B by hand: 0.7368, 0.5078, 0.3215, 0.18373), C = 0.42866, Wq = C · 60 s / (4 − 2.8) = 21.43 s
    expect(c.erlangCMs / 1000).toBeCloseTo(21.43, 1)
    expect(c.inside).toBe(Math.abs(c.estimate.mean - c.erlangCMs) <= c.estimate.halfWidth)
  })
})
