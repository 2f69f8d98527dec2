/**
 * The shadow fidelity of a replay (Fidelity.ts): the start-order share is 1 exactly when the
 * orders agree and loses one pair per discordant pair; wait errors and GPU sets per run; runs
 * started on one side only, the replay's counted only up to the horizon.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { fidelity, inversions, type RealStart } from "../src/Fidelity.js"
import type { SimStart } from "../src/Simulate.js"

const real = (ids: ReadonlyArray<string>, startMs: (i: number) => number = (i) => i * 1_000): Array<RealStart> =>
  ids.map((jobId, i) => ({ jobId, startMs: startMs(i), gpus: [i % 4] }))
const replay = (ids: ReadonlyArray<string>, startMs: (i: number) => number = (i) => i * 1_000, gpus: (id: string) => ReadonlyArray<number> = (id) => [Number(id.slice(1)) % 4]): Array<SimStart> =>
  ids.map((jobId, i) => ({ jobId, startMs: startMs(i), gpus: gpus(jobId) }))

describe("inversions", () => {
  test.prop([fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 60 })])("counts the pairs i < j with xs[i] > xs[j], as the quadratic count does", (xs) => {
    let brute = 0
    for (let i = 0; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) if (xs[i]! > xs[j]!) brute++
    expect(inversions(xs)).toBe(brute)
  })
})

describe("fidelity", () => {
  const ids = ["r0", "r1", "r2", "r3", "r4"]

  it("is exact when the replay starts the same runs in the same order on the same GPUs", () => {
    const f = fidelity(real(ids), replay(ids, (i) => i * 1_000 + 7))
    expect(f).toEqual({
      compared: 5, onlyReal: 0, onlyReplay: 0, startOrder: 1, pairs: 10, discordantPairs: 0,
      waitErrorMeanMs: 7, waitErrorP95Ms: 7, waitErrorMaxMs: 7, sameGpus: 1, sameGpuRuns: 5, gpuCompared: 5
    })
  })

  it("loses one pair of n(n-1)/2 for two neighbours swapped, and every pair for the reverse order", () => {
    expect(fidelity(real(ids), replay(["r0", "r2", "r1", "r3", "r4"])).startOrder).toBeCloseTo(1 - 1 / 10, 12)
    expect(fidelity(real(ids), replay([...ids].reverse())).startOrder).toBe(0)
    // one run moved from last to first: it is out of order with each of the other four
    expect(fidelity(real(ids), replay(["r4", "r0", "r1", "r2", "r3"])).discordantPairs).toBe(4)
  })

  test.prop([fc.shuffledSubarray(["a", "b", "c", "d", "e", "f", "g", "h"], { minLength: 8, maxLength: 8 })])(
    "the start order is 1 exactly when the orders are identical",
    (order) => {
      const f = fidelity(real(["a", "b", "c", "d", "e", "f", "g", "h"]), replay(order))
      expect(f.startOrder === 1).toBe(order.join() === "a,b,c,d,e,f,g,h")
      expect(f.startOrder).toBeGreaterThanOrEqual(0)
    }
  )

  it("measures wait errors per run (mean, p95, max) and GPU sets as sets", () => {
    const f = fidelity(real(["r0", "r1"], (i) => i * 100), [
      { jobId: "r0", startMs: 50, gpus: [0] },
      { jobId: "r1", startMs: 100, gpus: [2] }
    ])
    expect([f.waitErrorMeanMs, f.waitErrorP95Ms, f.waitErrorMaxMs]).toEqual([25, 50, 50])
    expect([f.sameGpus, f.sameGpuRuns, f.gpuCompared]).toEqual([0.5, 1, 2])
    const sets = fidelity([{ jobId: "x", startMs: 0, gpus: [3, 1] }, { jobId: "y", startMs: 0, gpus: null }], [
      { jobId: "x", startMs: 0, gpus: [1, 3] },
      { jobId: "y", startMs: 0, gpus: [0] }
    ])
    expect([sets.sameGpus, sets.gpuCompared]).toEqual([1, 1])
  })

  it("counts runs started on one side only; the replay's only up to the horizon", () => {
    const f = fidelity(real(["r0", "r1", "r2"]), [
      { jobId: "r0", startMs: 0, gpus: [0] },
      { jobId: "r2", startMs: 2_000, gpus: [2] },
      { jobId: "r7", startMs: 2_500, gpus: [3] },
      { jobId: "r8", startMs: 9_000, gpus: [0] }
    ], { horizonMs: 5_000 })
    expect([f.compared, f.onlyReal, f.onlyReplay, f.startOrder]).toEqual([2, 1, 1, 1])
  })

  it("is 1 (and errors 0) over fewer than two runs", () => {
    expect(fidelity([], [])).toMatchObject({ compared: 0, startOrder: 1, pairs: 0, waitErrorMeanMs: 0, sameGpus: 1 })
  })
})
