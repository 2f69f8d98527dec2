/**
 * `ChurnMap`: a Map for keys that come and go by the million (runs, timers), with the same
 * semantics as a JS Map for what the engine uses of one (get, has, set, delete, clear, size,
 * iteration in insertion order, entries deleted or added during an iteration skipped or
 * visited as a Map does).
 *
 * Why not a Map. V8's Map is an ordered hash table that, when it rehashes (it grows, shrinks,
 * is cleared, or fills with deleted entries — every few operations under churn), leaves a
 * pointer from the old table to the new one, for iterators that might still walk the old one.
 * Once a long-lived Map's table has reached the old generation (any full GC puts it there),
 * each dead table keeps its young successor alive through the next scavenges, the successor
 * is promoted, dies old, and keeps the next one alive: a chain that never ends, and every
 * entry the tables point to (runs, their actors, timers) is promoted with it. A million-job
 * replay spent a quarter of its time in scavenges and grew its heap by ~0.6 GB between full
 * GCs that way; a 20-line churn loop shows it (8 live entries, 200 MB promoted per 10⁷ sets).
 * Here the entries sit in plain arrays and a separate open-addressing index; a rebuild makes
 * new arrays and nothing points from the old ones to them.
 */

const HOLE: unique symbol = Symbol("ChurnMap.hole")
type Hole = typeof HOLE

/** FNV-1a over the UTF-16 code units; integers are mixed directly. */
const hashOf = (key: string | number): number => {
  if (typeof key === "number" && (key | 0) === key) return Math.imul(key ^ (key >>> 16), 0x45d9f3b) ^ (key >>> 7)
  const s = typeof key === "string" ? key : String(key)
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h
}

/** An iteration in progress: where it is in the entry arrays (moved when they are rebuilt). */
interface Cursor {
  position: number
}

const EMPTY = 0
const TOMBSTONE = -1
const MIN_INDEX = 8

export class ChurnMap<K extends string | number, V> implements Iterable<[K, V]> {
  /** Entries in insertion order; a deleted one leaves a HOLE until the next rebuild. */
  private keyAt: Array<K | Hole> = []
  private valueAt: Array<V | undefined> = []
  /** Open addressing over a power-of-two table: 0 empty, −1 deleted, else entry position + 1. */
  private index: Array<number> = new Array<number>(MIN_INDEX).fill(EMPTY)
  /** Index slots used (entries + tombstones). */
  private usedSlots = 0
  private live = 0
  private readonly cursors: Array<Cursor> = []

  get size(): number {
    return this.live
  }

  /** The index slot holding `key`, or −1. */
  private slotOf(key: K): number {
    const index = this.index
    const mask = index.length - 1
    for (let i = hashOf(key) & mask; ; i = (i + 1) & mask) {
      const at = index[i]!
      if (at === EMPTY) return -1
      if (at > 0 && this.keyAt[at - 1] === key) return i
    }
  }

  get(key: K): V | undefined {
    const slot = this.slotOf(key)
    return slot < 0 ? undefined : this.valueAt[this.index[slot]! - 1]
  }

  has(key: K): boolean {
    return this.slotOf(key) >= 0
  }

  set(key: K, value: V): this {
    const slot = this.slotOf(key)
    if (slot >= 0) {
      this.valueAt[this.index[slot]! - 1] = value
      return this
    }
    // holes outnumber entries: drop them (and the tombstones) before adding
    const holes = this.keyAt.length - this.live
    if (holes > 16 && holes > this.live) this.rebuild(true)
    else if ((this.usedSlots + 1) * 2 > this.index.length) this.rebuild(false)
    this.keyAt.push(key)
    this.valueAt.push(value)
    this.live++
    this.place(key, this.keyAt.length)
    return this
  }

  delete(key: K): boolean {
    const slot = this.slotOf(key)
    if (slot < 0) return false
    const at = this.index[slot]! - 1
    this.index[slot] = TOMBSTONE
    this.keyAt[at] = HOLE
    this.valueAt[at] = undefined
    this.live--
    return true
  }

  clear(): void {
    this.keyAt = []
    this.valueAt = []
    this.index = new Array<number>(MIN_INDEX).fill(EMPTY)
    this.usedSlots = 0
    this.live = 0
    for (const cursor of this.cursors) cursor.position = 0
  }

  private place(key: K, entry: number): void {
    const index = this.index
    const mask = index.length - 1
    let i = hashOf(key) & mask
    while (index[i] !== EMPTY && index[i] !== TOMBSTONE) i = (i + 1) & mask
    if (index[i] === EMPTY) this.usedSlots++
    index[i] = entry
  }

  /** A fresh index sized for the entries (and, with `compact`, fresh entry arrays without holes). */
  private rebuild(compact: boolean): void {
    if (compact) {
      const keys: Array<K | Hole> = []
      const values: Array<V | undefined> = []
      const oldKeys = this.keyAt
      for (const cursor of this.cursors) {
        // a cursor moves to the number of entries kept before its position
        let kept = 0
        for (let i = 0; i < cursor.position && i < oldKeys.length; i++) if (oldKeys[i] !== HOLE) kept++
        cursor.position = kept
      }
      for (let i = 0; i < oldKeys.length; i++)
        if (oldKeys[i] !== HOLE) {
          keys.push(oldKeys[i]!)
          values.push(this.valueAt[i])
        }
      this.keyAt = keys
      this.valueAt = values
    }
    let capacity = MIN_INDEX
    while (capacity < (this.live + 1) * 4) capacity *= 2
    this.index = new Array<number>(capacity).fill(EMPTY)
    this.usedSlots = 0
    const keys = this.keyAt
    for (let i = 0; i < keys.length; i++) if (keys[i] !== HOLE) this.place(keys[i] as K, i + 1)
  }

  *entries(): IterableIterator<[K, V]> {
    const cursor: Cursor = { position: 0 }
    this.cursors.push(cursor)
    try {
      while (cursor.position < this.keyAt.length) {
        const i = cursor.position++
        const key = this.keyAt[i]!
        if (key !== HOLE) yield [key, this.valueAt[i] as V]
      }
    } finally {
      this.cursors.splice(this.cursors.indexOf(cursor), 1)
    }
  }

  *keys(): IterableIterator<K> {
    for (const [key] of this.entries()) yield key
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries()
  }
}
