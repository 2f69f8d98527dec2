/**
 * decide() against the frozen copy of its walk from before the per-cycle tuning
 * (reference/DecideBefore.ts, over the plain Admission): not only the starts and the
 * reservation, which decideByScan checks, but everything a decision reports — `waits`,
 * `otherwise`, `examined` and `reasonOf` of every run.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { decide } from "../src/internal.js"
import { build, decisionReport, runs, type Scenario, scenarioArb, snapshotOf } from "./arbitraries.js"
import { decideBefore } from "./reference/DecideBefore.js"

const sameAsBefore = (sc: Scenario) => {
  const b = build(sc)
  const ids = [...b.pending.map((r) => r.id), ...b.running.map((r) => r.id)]
  const s = snapshotOf(b)
  expect(decisionReport(decide(s), ids)).toEqual(decisionReport(decideBefore(snapshotOf(b)), ids))
}

/** Every pending run needs a GPU, and running runs hold most of them. */
const gpuBoundArb = scenarioArb().map((sc) => ({
  ...sc,
  pending: sc.pending.map((p) => ({ ...p, gpus: Math.max(1, p.gpus) })),
  running: sc.running.map((r) => ({ ...r, holdCount: Math.max(1, r.holdCount) }))
}))

/** Many GPUs and no global cap in the way: cycles with more than a handful of starts. */
const manyStartsArb = scenarioArb().map((sc) => ({
  ...sc,
  gpuCount: 32,
  gpuOrder: Array.from({ length: 32 }, (_, i) => i),
  policy: { ...sc.policy, limits: { ...sc.policy.limits, maxConcurrent: 40, localJobMaxConcurrent: null, localGpuMaxConcurrent: null } }
}))

describe("decide: the same report as the walk before tuning", () => {
  it("starts, reservation, waits, otherwise, examined and reasonOf of every run equal the frozen walk's (1000 cases)", () => {
    fc.assert(fc.property(scenarioArb(), sameAsBefore), runs(1000))
  })

  it("when every pending run needs a GPU and none is left, ending the walk early records what popping every item would (500 cases)", () => {
    fc.assert(fc.property(gpuBoundArb, sameAsBefore), runs(500))
  })

  it("with more than 8 starts in a cycle, the per-name counts kept in Maps give the same answers as the scanned ones (300 cases)", () => {
    fc.assert(fc.property(manyStartsArb, sameAsBefore), runs(300))
  })
})
