/**
 * BinaryHeap and IndexedHeap against a sorted-array model: random push/pop/remove/update
 * sequences, the non-mutating `inOrder()` walk, and removal of an item the heap does not hold.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { BinaryHeap, type HeapSlot, IndexedHeap } from "../src/internal.js"
import { runs } from "./arbitraries.js"

interface Item extends HeapSlot {
  key: number
  readonly id: number
}

/** A total order: key, then id (so the model's sorted order is unique). */
const less = (a: Item, b: Item): boolean => a.key < b.key || (a.key === b.key && a.id < b.id)
const byOrder = (a: Item, b: Item): number => (less(a, b) ? -1 : less(b, a) ? 1 : 0)
const item = (id: number, key: number): Item => ({ heapIndex: -1, key, id })

type Op =
  | { readonly kind: "push"; readonly key: number }
  | { readonly kind: "pop" }
  | { readonly kind: "remove"; readonly pick: number }
  | { readonly kind: "update"; readonly pick: number; readonly key: number }

const key = fc.integer({ min: -20, max: 20 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("push" as const), key }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("pop" as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("update" as const), pick: fc.nat(), key }), weight: 2 }
)
const opsArb = fc.array(opArb, { maxLength: 120 })

/** Heap order and slot bookkeeping of an IndexedHeap, as a list of problems. */
const structureProblems = (heap: IndexedHeap<Item>): Array<string> => {
  const out: Array<string> = []
  const items = heap.values()
  if (items.length !== heap.size) out.push(`values() has ${items.length} items, size ${heap.size}`)
  items.forEach((x, i) => {
    if (x.heapIndex !== i) out.push(`item ${x.id} at ${i} has heapIndex ${x.heapIndex}`)
    if (heap.at(i) !== x) out.push(`at(${i}) is not values()[${i}]`)
    if (i > 0 && less(x, items[(i - 1) >> 1]!)) out.push(`item ${x.id} at ${i} precedes its parent`)
  })
  return out
}

/** Applies ops to an IndexedHeap and a sorted-array model; returns both. */
const replay = (ops: ReadonlyArray<Op>, check?: (heap: IndexedHeap<Item>, model: Array<Item>) => void) => {
  const heap = new IndexedHeap<Item>(less)
  const model: Array<Item> = []
  const gone: Array<Item> = []
  let nextId = 0
  for (const op of ops) {
    if (op.kind === "push") {
      const x = item(nextId++, op.key)
      heap.push(x)
      model.push(x)
    } else if (op.kind === "pop") {
      const top = heap.pop()
      expect(top).toBe(model[0])
      if (top !== undefined) {
        model.shift()
        gone.push(top)
      }
    } else if (model.length > 0) {
      const x = model[op.pick % model.length]!
      if (op.kind === "remove") {
        heap.remove(x)
        model.splice(model.indexOf(x), 1)
        gone.push(x)
      } else {
        x.key = op.key
        heap.update(x)
      }
    }
    model.sort(byOrder)
    check?.(heap, model)
  }
  for (const x of gone) expect(x.heapIndex).toBe(-1)
  return { heap, model }
}

const stateOf = (heap: IndexedHeap<Item>) => heap.values().map((x) => [x.id, x.key, x.heapIndex])

describe("IndexedHeap", () => {
  it("matches a sorted-array model on random push/pop/remove/update sequences: size, peek, heap order, heapIndex (500 cases)", () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        replay(ops, (heap, model) => {
          expect(heap.size).toBe(model.length)
          expect(heap.peek()).toBe(model[0])
          expect(structureProblems(heap)).toEqual([])
        })
      }),
      runs(500)
    )
  })

  it("popping everything yields the model's sorted order (500 cases)", () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const { heap, model } = replay(ops)
        const popped: Array<Item> = []
        for (let x = heap.pop(); x !== undefined; x = heap.pop()) popped.push(x)
        expect(popped).toEqual(model)
        expect(popped.every((x, i) => x === model[i])).toBe(true)
        expect(heap.size).toBe(0)
        expect(heap.pop()).toBeUndefined()
      }),
      runs(500)
    )
  })

  it("inOrder() yields every item sorted and leaves size, positions and heapIndex unchanged (500 cases)", () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const { heap, model } = replay(ops)
        const before = stateOf(heap)
        const walked = [...heap.inOrder()]
        expect(walked.map((x) => x.id)).toEqual(model.map((x) => x.id))
        expect(stateOf(heap)).toEqual(before)
        expect(heap.size).toBe(model.length)
      }),
      runs(500)
    )
  })

  it("a partly consumed inOrder() yields the sorted prefix, two walks interleave, nothing moves (300 cases)", () => {
    fc.assert(
      fc.property(opsArb, fc.nat(40), (ops, k) => {
        const { heap, model } = replay(ops)
        const before = stateOf(heap)
        const a = heap.inOrder()
        const b = heap.inOrder()
        const fromA: Array<number> = []
        const fromB: Array<number> = []
        for (let i = 0; i < k; i++) {
          const x = a.next()
          const y = b.next()
          if (!x.done) fromA.push(x.value.id)
          if (!y.done) fromB.push(y.value.id)
        }
        const prefix = model.slice(0, k).map((x) => x.id)
        expect(fromA).toEqual(prefix)
        expect(fromB).toEqual(prefix)
        expect(stateOf(heap)).toEqual(before)
      }),
      runs(300)
    )
  })

  it("inOrder() of an empty heap yields nothing", () => {
    expect([...new IndexedHeap<Item>(less).inOrder()]).toEqual([])
  })

  describe("remove of an item the heap does not hold throws and changes nothing", () => {
    const setup = () => {
      const heap = new IndexedHeap<Item>(less)
      const other = new IndexedHeap<Item>(less)
      const mine = [item(1, 5), item(2, 3), item(3, 8)]
      for (const x of mine) heap.push(x)
      const theirs = [item(10, 1), item(11, 2)]
      for (const x of theirs) other.push(x)
      return { heap, other, mine, theirs }
    }
    const cases = [
      { name: "never pushed (heapIndex -1)", foreign: () => item(99, 0) },
      { name: "held by another heap at an index in range", foreign: (t: ReturnType<typeof setup>) => t.theirs[1]! },
      { name: "heapIndex past the end", foreign: () => ({ heapIndex: 7, key: 0, id: 98 }) },
      {
        name: "already removed",
        foreign: (t: ReturnType<typeof setup>) => {
          const x = t.mine[0]!
          t.heap.remove(x)
          return x
        }
      }
    ]
    for (const { name, foreign } of cases)
      it(name, () => {
        const t = setup()
        const x = foreign(t)
        const before = stateOf(t.heap)
        const otherBefore = stateOf(t.other)
        expect(() => t.heap.remove(x)).toThrow(/not in this heap/)
        expect(stateOf(t.heap)).toEqual(before)
        expect(stateOf(t.other)).toEqual(otherBefore)
        expect(structureProblems(t.heap)).toEqual([])
      })
  })
})

describe("BinaryHeap", () => {
  const binaryOps = fc.array(fc.oneof({ arbitrary: key, weight: 3 }, { arbitrary: fc.constant(null), weight: 2 }), {
    maxLength: 150
  })

  it("matches a sorted-array model on random push/pop sequences with duplicate keys (500 cases)", () => {
    fc.assert(
      fc.property(binaryOps, (ops) => {
        const heap = new BinaryHeap<number>((a, b) => a < b)
        const model: Array<number> = []
        for (const op of ops) {
          if (op === null) {
            expect(heap.pop()).toBe(model.shift())
          } else {
            heap.push(op)
            model.push(op)
            model.sort((a, b) => a - b)
          }
          expect(heap.size).toBe(model.length)
          expect(heap.peek()).toBe(model[0])
        }
        const rest: Array<number> = []
        while (heap.size > 0) rest.push(heap.pop()!)
        expect(rest).toEqual(model)
        expect(heap.pop()).toBeUndefined()
      }),
      runs(500)
    )
  })

  it("orders objects by the given less, ties in any order (300 cases)", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ key, id: fc.nat() }), { maxLength: 60 }), (xs) => {
        const heap = new BinaryHeap<{ key: number; id: number }>((a, b) => a.key > b.key) // a max-heap
        for (const x of xs) heap.push(x)
        const out: Array<{ key: number; id: number }> = []
        while (heap.size > 0) out.push(heap.pop()!)
        expect(out.map((x) => x.key)).toEqual(xs.map((x) => x.key).sort((a, b) => b - a))
        expect([...out].sort((a, b) => a.id - b.id || a.key - b.key)).toEqual(
          [...xs].sort((a, b) => a.id - b.id || a.key - b.key)
        )
      }),
      runs(300)
    )
  })
})
