/**
 * Binary heaps for the dispatch hot path.
 *
 * - `BinaryHeap<T>`: a plain min-heap under a `less` order (the per-cycle walk).
 * - `IndexedHeap<T>`: an intrusive min-heap whose items carry their own position
 *   (`heapIndex`), so removal and re-keying of any item are O(log n) with no lookup.
 *   Its `inOrder()` walks items in heap order *without mutating* the heap, in
 *   O(k log k) for the first k items: this is how the pure `decide()` reads the
 *   engine's persistent indexes.
 * - `HeapCursor<T>`: the same walk as `inOrder()`, as a plain object instead of a
 *   generator, for decide()'s hot path.
 */

export type Less<T> = (a: T, b: T) => boolean

export class BinaryHeap<T> {
  private readonly items: Array<T> = []
  constructor(private readonly less: Less<T>) {}

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    const items = this.items
    let i = items.length
    items.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(item, items[parent]!)) break
      items[i] = items[parent]!
      i = parent
    }
    items[i] = item
  }

  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      const n = items.length
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && this.less(items[r]!, items[l]!) ? r : l
        if (!this.less(items[c]!, last)) break
        items[i] = items[c]!
        i = c
      }
      items[i] = last
    }
    return top
  }
}

export interface HeapSlot {
  /** Position inside the one IndexedHeap that holds this item; -1 when in none. */
  heapIndex: number
}

export class IndexedHeap<T extends HeapSlot> {
  private readonly items: Array<T> = []
  constructor(readonly less: Less<T>) {}

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  /** The item at a heap position (0 = top); children of i are 2i+1 and 2i+2. */
  at(index: number): T {
    return this.items[index]!
  }

  push(item: T): void {
    item.heapIndex = this.items.length
    this.items.push(item)
    this.up(item.heapIndex)
  }

  pop(): T | undefined {
    const top = this.items[0]
    if (top !== undefined) this.remove(top)
    return top
  }

  remove(item: T): void {
    const i = item.heapIndex
    if (i < 0 || this.items[i] !== item) throw new Error("IndexedHeap.remove: item is not in this heap")
    const last = this.items.pop()!
    item.heapIndex = -1
    if (last !== item) {
      this.items[i] = last
      last.heapIndex = i
      this.update(last)
    }
  }

  /** Restores heap order after `item`'s key changed. */
  update(item: T): void {
    this.up(item.heapIndex)
    this.down(item.heapIndex)
  }

  /** Every item, in no particular order. */
  values(): ReadonlyArray<T> {
    return this.items
  }

  /** Items in ascending order, lazily, without changing the heap. */
  *inOrder(): Generator<T> {
    const cursor = new HeapCursor(this)
    for (let item = cursor.next(); item !== undefined; item = cursor.next()) yield item
  }

  private up(index: number): void {
    const items = this.items
    const item = items[index]!
    let i = index
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent]!
      if (!this.less(item, p)) break
      items[i] = p
      p.heapIndex = i
      i = parent
    }
    items[i] = item
    item.heapIndex = i
  }

  private down(index: number): void {
    const items = this.items
    const n = items.length
    const item = items[index]!
    let i = index
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && this.less(items[r]!, items[l]!) ? r : l
      const child = items[c]!
      if (!this.less(child, item)) break
      items[i] = child
      child.heapIndex = i
      i = c
    }
    items[i] = item
    item.heapIndex = i
  }
}

/**
 * Walks an `IndexedHeap` in ascending order without changing it, like `inOrder()`, but
 * as a plain object: decide() keeps one per lane it continues after a start, and a
 * generator there (its allocation and resumption) was a visible share of a simulator cycle.
 * The frontier is a min-heap of positions in the walked heap: the next item is the least
 * of the children of the items already returned. The heap must not change during the walk.
 */
export class HeapCursor<T extends HeapSlot> {
  /** Positions in the walked heap whose items are next in line, least first. */
  private readonly frontier: BinaryHeap<number>

  constructor(private readonly heap: IndexedHeap<T>) {
    this.frontier = new BinaryHeap<number>((a, b) => heap.less(heap.at(a), heap.at(b)))
    if (heap.size > 0) this.frontier.push(0)
  }

  /** The next item in ascending order, or undefined when every item was returned. */
  next(): T | undefined {
    const top = this.frontier.pop()
    if (top === undefined) return undefined
    const heap = this.heap
    const l = 2 * top + 1
    if (l < heap.size) this.frontier.push(l)
    if (l + 1 < heap.size) this.frontier.push(l + 1)
    return heap.at(top)
  }
}
