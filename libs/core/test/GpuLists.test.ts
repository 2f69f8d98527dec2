/**
 * `GpuLists` (what the engine keeps as GPUs change, `Snapshot.gpuLists`) against the lists
 * derived from the views, and decide() with the kept lists against decide() deriving them.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { decide, GpuLists, gpuListsOf, type GpuView, type RunId, type Snapshot } from "../src/internal.js"
import { build, decisionReport, runs, type Scenario, scenarioArb, snapshotOf } from "./arbitraries.js"

type Op =
  | { readonly kind: "hold"; readonly gpu: number; readonly run: number }
  | { readonly kind: "free"; readonly gpu: number }
  | { readonly kind: "drain"; readonly gpu: number; readonly drained: boolean }

const opArb = (gpuCount: number): fc.Arbitrary<Op> => {
  const gpu = fc.nat({ max: gpuCount - 1 })
  return fc.oneof(
    fc.record({ kind: fc.constant("hold" as const), gpu, run: fc.nat({ max: 3 }) }),
    fc.record({ kind: fc.constant("free" as const), gpu }),
    fc.record({ kind: fc.constant("drain" as const), gpu, drained: fc.boolean() })
  )
}

const machineArb = fc.integer({ min: 1, max: 24 }).chain((gpuCount) =>
  fc.record({
    gpuCount: fc.constant(gpuCount),
    /** The order GPUs are added in (the kernel sorts its views; the lists must not depend on it). */
    addOrder: fc.shuffledSubarray(
      Array.from({ length: gpuCount }, (_, i) => i),
      { minLength: gpuCount, maxLength: gpuCount }
    ),
    drainedAtStart: fc.array(fc.boolean(), { minLength: gpuCount, maxLength: gpuCount }),
    ops: fc.array(opArb(gpuCount), { maxLength: 60 })
  })
)

/** Lists kept by `GpuLists` for the snapshot's views, built the way the kernel builds them. */
const keptListsOf = (gpus: ReadonlyArray<GpuView>): GpuLists => {
  const lists = new GpuLists()
  for (const g of [...gpus].reverse()) {
    lists.add(g.index, false)
    lists.change(g.index, false, false, g.drained, g.heldBy !== null)
  }
  return lists
}

const sameWithKeptLists = (sc: Scenario) => {
  const b = build(sc)
  const ids = [...b.pending.map((r) => r.id), ...b.running.map((r) => r.id)]
  const derived = snapshotOf(b)
  const base = snapshotOf(b)
  const kept: Snapshot = { ...base, gpuLists: keptListsOf(base.gpus) }
  expect(decisionReport(decide(kept), ids)).toEqual(decisionReport(decide(derived), ids))
}

describe("GpuLists", () => {
  it("after any sequence of holds, frees, drains and undrains, equals the lists derived from the views (500 cases)", () => {
    fc.assert(
      fc.property(machineArb, ({ gpuCount, addOrder, drainedAtStart, ops }) => {
        const views: Array<{ index: number; drained: boolean; heldBy: RunId | null }> = []
        const lists = new GpuLists()
        for (const index of addOrder) {
          views.push({ index, drained: drainedAtStart[index]!, heldBy: null })
          lists.add(index, drainedAtStart[index]!)
        }
        views.sort((a, b) => a.index - b.index)
        expect(views).toHaveLength(gpuCount)
        for (const op of ops) {
          const view = views[op.gpu]!
          const drained = op.kind === "drain" ? op.drained : view.drained
          const heldBy = op.kind === "hold" ? (`r${op.run}` as RunId) : op.kind === "free" ? null : view.heldBy
          lists.change(view.index, view.drained, view.heldBy !== null, drained, heldBy !== null)
          view.drained = drained
          view.heldBy = heldBy
          const derived = gpuListsOf(views)
          expect(lists.free).toEqual(derived.free)
          expect(lists.usable).toEqual(derived.usable)
        }
      }),
      runs(500)
    )
  })

  it("never changes a usable list it handed out (a reservation may keep it as `allowed`)", () => {
    const lists = new GpuLists()
    for (const index of [0, 1, 2]) lists.add(index, false)
    const before = lists.usable
    lists.change(1, false, false, true, false)
    expect(before).toEqual([0, 1, 2])
    expect(lists.usable).toEqual([0, 2])
    expect(lists.free).toEqual([0, 2])
  })
})

describe("decide with the snapshot's kept GPU lists", () => {
  it("reports exactly what decide() deriving them from the views reports (1000 cases)", () => {
    fc.assert(fc.property(scenarioArb(), sameWithKeptLists), runs(1000))
  })
})
