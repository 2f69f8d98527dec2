/**
 * ChurnMap against a JS Map as the model: random sequences of set, delete, get, has, clear and
 * iterations (with entries deleted and added while iterating) give the same answers, the same
 * size and the same entries in the same (insertion) order, across the rebuilds churn causes.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { ChurnMap } from "../src/ChurnMap.js"

type Op =
  | { readonly op: "set"; readonly key: number; readonly value: number }
  | { readonly op: "delete"; readonly key: number }
  | { readonly op: "get"; readonly key: number }
  | { readonly op: "clear" }
  /** Iterate; at the `at`-th entry delete `del` and set `add` (a Map visits an entry added during the walk). */
  | { readonly op: "walk"; readonly at: number; readonly del: number; readonly add: number }

// a few keys, so sets hit existing entries and deletes find something; strings and numbers both
const key = fc.integer({ min: 0, max: 40 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), key, value: fc.integer() }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("delete" as const), key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("get" as const), key }) },
  { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("walk" as const), at: fc.nat(20), del: key, add: key }) }
)

const play = <K extends string | number>(ops: ReadonlyArray<Op>, keyOf: (k: number) => K): void => {
  const model = new Map<K, number>()
  const map = new ChurnMap<K, number>()
  for (const o of ops) {
    switch (o.op) {
      case "set":
        model.set(keyOf(o.key), o.value)
        map.set(keyOf(o.key), o.value)
        break
      case "delete":
        expect(map.delete(keyOf(o.key))).toBe(model.delete(keyOf(o.key)))
        break
      case "get":
        expect(map.get(keyOf(o.key))).toBe(model.get(keyOf(o.key)))
        expect(map.has(keyOf(o.key))).toBe(model.has(keyOf(o.key)))
        break
      case "clear":
        model.clear()
        map.clear()
        break
      case "walk": {
        const walk = <M extends { delete(k: K): boolean; set(k: K, v: number): unknown; entries(): IterableIterator<[K, number]> }>(m: M) => {
          const seen: Array<[K, number]> = []
          for (const entry of m.entries()) {
            if (seen.length === o.at) {
              m.delete(keyOf(o.del))
              // many sets while walking: they force a rebuild of the entries under the cursor
              for (let i = 0; i < 100; i++) m.set(keyOf(100 + i), i)
              for (let i = 0; i < 100; i++) m.delete(keyOf(100 + i))
              m.set(keyOf(o.add), -1)
            }
            seen.push(entry)
          }
          return seen
        }
        expect(walk(map)).toEqual(walk(model))
        break
      }
    }
    expect(map.size).toBe(model.size)
  }
  expect([...map]).toEqual([...model])
  expect([...map.keys()]).toEqual([...model.keys()])
  expect([...map.values()]).toEqual([...model.values()])
}

describe("ChurnMap", () => {
  it("property: behaves as a Map (answers, size, insertion order, changes during iteration), number keys", () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => play(ops, (k) => k)))
  })

  it("property: the same with string keys (run ids)", () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => play(ops, (k) => String(k))))
  })

  it("keeps its arrays bounded under churn: a million sets and deletes with 8 live entries", () => {
    const map = new ChurnMap<string, number>()
    for (let i = 0; i < 1_000_000; i++) {
      map.set(String(i), i)
      if (i >= 8) map.delete(String(i - 8))
    }
    expect(map.size).toBe(8)
    expect([...map.keys()]).toEqual(Array.from({ length: 8 }, (_, j) => String(999_992 + j)))
    // holes are dropped once they outnumber the entries (and 64): the arrays stay small
    const inside = map as unknown as { keyAt: Array<unknown>; index: Array<unknown> }
    expect(inside.keyAt.length).toBeLessThanOrEqual(8 + 64 + 1)
    expect(inside.index.length).toBeLessThanOrEqual(256)
  })

  it("an iteration left unfinished holds compaction off only up to a bound, and throws if resumed after it", () => {
    const map = new ChurnMap<number, number>()
    for (let i = 0; i < 8; i++) map.set(i, i)
    const abandoned = map.values()
    expect(abandoned.next().value).toBe(0)
    for (let i = 8; i < 1_000_000; i++) {
      map.set(i, i)
      map.delete(i - 8)
    }
    expect([...map.values()]).toEqual(Array.from({ length: 8 }, (_, j) => 999_992 + j))
    expect((map as unknown as { keyAt: Array<unknown> }).keyAt.length).toBeLessThanOrEqual(8 * 9 + 4096 + 1)
    expect(() => abandoned.next()).toThrow(/abandoned/)
  })
})
