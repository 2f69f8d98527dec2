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

const mix = (n: number): number => Math.imul(n ^ (n >>> 16), 0x45d9f3b) ^ (n >>> 7)

/**
 * Integers, and strings that read as one (run ids: V8 keeps the number of a string made from
 * one, so reading it is cheap), are mixed directly; other strings get FNV-1a over their UTF-16
 * code units (a long one over its first and last 24 and its length: a lane's key is ~50
 * characters and hashed at every add; keys alike in the middle only make longer probes).
 * Two keys with one hash ("7" and "07") are told apart by the probe, as any collision is.
 */
const hashOf = (key: string | number): number => {
  const asNumber = +key
  if ((asNumber | 0) === asNumber) return mix(asNumber)
  const s = typeof key === "string" ? key : String(key)
  const n = s.length
  let h = 0x811c9dc5 ^ n
  if (n <= 48) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
    return h
  }
  for (let i = 0; i < 24; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  for (let i = n - 24; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h
}

const EMPTY = 0
const TOMBSTONE = -1
/** Holes allowed before the entries are compacted (and more when there are more entries): a rebuild per 64 deletes at least. */
const MIN_HOLES = 64

/** The index size for `entries` entry slots: at most half full, a power of two. */
const indexSizeFor = (entries: number): number => {
  let capacity = 16
  while (capacity < entries * 2) capacity *= 2
  return capacity
}

export class ChurnMap<K extends string | number, V> implements Iterable<[K, V]> {
  /** Entries in insertion order; a deleted one leaves a HOLE until the next compaction. */
  private keyAt: Array<K | Hole> = []
  private valueAt: Array<V | undefined> = []
  /**
   * Open addressing over a power-of-two table: 0 empty, −1 deleted, else entry position + 1.
   * Every entry slot (holes included) has had one index slot since the last rebuild, so the
   * index stays at most half full while it is larger than twice the entry slots.
   */
  private index: Array<number> = new Array<number>(16).fill(EMPTY)
  private live = 0
  /**
   * Iterations in progress: while any is, entries are not compacted (positions stay put). An
   * iteration abandoned unfinished (neither run to its end nor closed, as `for … of` and a
   * spread always do) would hold compaction off for good: past a bound the entries are
   * compacted anyway, and such an iteration, if it is ever resumed, throws.
   */
  private iterating = 0
  /** Compactions so far (an iteration checks it did not miss one). */
  private compactions = 0

  get size(): number {
    return this.live
  }

  /** The index slot holding `key` (whose hash is `hash`), or −1. */
  private slotOf(key: K, hash: number = hashOf(key)): number {
    const index = this.index
    const mask = index.length - 1
    for (let i = hash & mask; ; i = (i + 1) & mask) {
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
    const hash = hashOf(key)
    const slot = this.slotOf(key, hash)
    if (slot >= 0) {
      this.valueAt[this.index[slot]! - 1] = value
      return this
    }
    const holes = this.keyAt.length - this.live
    if (holes > MIN_HOLES && holes > this.live && (this.iterating === 0 || holes > 8 * this.live + 4096)) this.compact()
    else if ((this.keyAt.length + 1) * 2 > this.index.length) this.reindex(indexSizeFor(this.keyAt.length + 1 + Math.max(MIN_HOLES, this.live)))
    this.keyAt.push(key)
    this.valueAt.push(value)
    this.live++
    this.place(hash, this.keyAt.length)
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
    if (this.iterating > 0) {
      // an iteration in progress goes on from its position: the entries become holes
      for (let i = 0; i < this.keyAt.length; i++) {
        this.keyAt[i] = HOLE
        this.valueAt[i] = undefined
      }
      this.index.fill(EMPTY)
      this.live = 0
      return
    }
    this.keyAt = []
    this.valueAt = []
    this.index = new Array<number>(16).fill(EMPTY)
    this.live = 0
  }

  private place(hash: number, entry: number): void {
    const index = this.index
    const mask = index.length - 1
    let i = hash & mask
    while (index[i] !== EMPTY && index[i] !== TOMBSTONE) i = (i + 1) & mask
    index[i] = entry
  }

  /** Entries without holes, and an index for them. */
  private compact(): void {
    const keys: Array<K | Hole> = []
    const values: Array<V | undefined> = []
    const oldKeys = this.keyAt
    const oldValues = this.valueAt
    for (let i = 0; i < oldKeys.length; i++)
      if (oldKeys[i] !== HOLE) {
        keys.push(oldKeys[i]!)
        values.push(oldValues[i])
      }
    this.keyAt = keys
    this.valueAt = values
    this.compactions++
    this.reindex(indexSizeFor(keys.length + 1 + Math.max(MIN_HOLES, this.live)))
  }

  private reindex(capacity: number): void {
    this.index = new Array<number>(capacity).fill(EMPTY)
    const keys = this.keyAt
    for (let i = 0; i < keys.length; i++) if (keys[i] !== HOLE) this.place(hashOf(keys[i] as K), i + 1)
  }

  /** Keys, values or entries in insertion order (one generator: a nested one cost twice as much a step). */
  private *walk(what: "keys" | "values" | "entries"): Generator<K | V | [K, V]> {
    this.iterating++
    const compactions = this.compactions
    try {
      for (let i = 0; i < this.keyAt.length; i++) {
        if (this.compactions !== compactions) throw new Error("ChurnMap: an iteration abandoned long ago was resumed after the map was compacted")
        const key = this.keyAt[i]!
        if (key === HOLE) continue
        yield what === "keys" ? key : what === "values" ? (this.valueAt[i] as V) : [key, this.valueAt[i] as V]
      }
    } finally {
      this.iterating--
    }
  }

  entries(): IterableIterator<[K, V]> {
    return this.walk("entries") as IterableIterator<[K, V]>
  }

  keys(): IterableIterator<K> {
    return this.walk("keys") as IterableIterator<K>
  }

  values(): IterableIterator<V> {
    return this.walk("values") as IterableIterator<V>
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries()
  }
}
