/**
 * `RunningSet.bounded()`, the runs the reservation's shadow time walks: after any sequence
 * of adds, replacements (a tighter end bound once stopping) and removals, it holds exactly
 * the active runs with an end bound, each as its current record, ascending by the bound.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { RunningSet } from "../src/internal.js"
import { anActiveRun } from "../src/Testing.js"
import { runs } from "./arbitraries.js"

type Op =
  | { readonly kind: "add"; readonly id: number; readonly endBy: number | null }
  | { readonly kind: "replace"; readonly id: number; readonly endBy: number | null }
  | { readonly kind: "remove"; readonly id: number }

const endByArb = fc.option(fc.integer({ min: 0, max: 6 }), { freq: 4 })
const idArb = fc.nat({ max: 9 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), id: idArb, endBy: endByArb }),
  fc.record({ kind: fc.constant("replace" as const), id: idArb, endBy: endByArb }),
  fc.record({ kind: fc.constant("remove" as const), id: idArb })
)

describe("RunningSet.bounded", () => {
  it("is the active runs with an end bound, current records, ascending by it (500 cases)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const set = new RunningSet()
        for (const op of ops) {
          const id = `r${op.id}`
          const active = set.get(id as never)
          if (op.kind === "add" && active === undefined) set.add(anActiveRun({ id, holds: [op.id], endBy: op.endBy }))
          else if (op.kind === "replace" && active !== undefined) set.replace({ ...active, endBy: op.endBy })
          else if (op.kind === "remove") set.remove(id as never)
          const bounded = set.bounded()
          const expected = [...set.values()].filter((r) => r.endBy !== null)
          expect(new Set(bounded)).toEqual(new Set(expected))
          expect(bounded).toHaveLength(expected.length)
          for (const run of bounded) expect(set.get(run.id)).toBe(run)
          for (let i = 1; i < bounded.length; i++) expect(bounded[i - 1]!.endBy!).toBeLessThanOrEqual(bounded[i]!.endBy!)
        }
      }),
      runs(500)
    )
  })
})
