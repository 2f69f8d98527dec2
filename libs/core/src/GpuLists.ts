/**
 * The free and the usable (undrained) GPUs of a machine as ascending index lists, kept up
 * to date as GPU views change, so `decide()` need not derive them from every view on every
 * cycle. The engine's kernel keeps one and hands it to decide() as `Snapshot.gpuLists`.
 *
 * Why: in the Philly replay (82k jobs, 512 GPUs) decide() runs on ~every event and scanned
 * the 512 views for the free ones each time (~5% of the wall time: 4.96 → 4.73 s); a hold
 * or a free changes one entry of a short list instead.
 */
import type { GpuView } from "./Snapshot.js"

/** What decide() reads; both lists ascending by index. */
export interface GpuListsView {
  /** GPUs neither drained nor held by a run. Read within one cycle; it may change after. */
  readonly free: ReadonlyArray<number>
  /** Undrained GPUs. Never changed in place (a decision may keep it as a reservation's `allowed`). */
  readonly usable: ReadonlyArray<number>
}

/** The lists of views ascending by index (`Snapshot.gpus`), derived: what `GpuLists` must always equal. */
export const gpuListsOf = (gpus: ReadonlyArray<GpuView>): GpuListsView => {
  const free: Array<number> = []
  const usable: Array<number> = []
  for (const g of gpus) {
    if (g.drained) continue
    usable.push(g.index)
    if (g.heldBy === null) free.push(g.index)
  }
  return { free, usable }
}

/** The first position in an ascending list whose value is not below `index` (binary search). */
const lowerBound = (list: ReadonlyArray<number>, index: number): number => {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (list[mid]! < index) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Inserts `index` into an ascending list (no-op when present). */
const insert = (list: Array<number>, index: number): void => {
  const lo = lowerBound(list, index)
  if (list[lo] !== index) list.splice(lo, 0, index)
}

/** Removes `index` from an ascending list (no-op when absent). */
const remove = (list: Array<number>, index: number): void => {
  const lo = lowerBound(list, index)
  if (list[lo] === index) list.splice(lo, 1)
}

/**
 * The lists, changed as GPUs are added, held, freed, drained or undrained: O(free GPUs)
 * per hold or free (a binary search and a splice), a new usable list per drain (rare).
 */
export class GpuLists implements GpuListsView {
  private readonly freeList: Array<number> = []
  private usableList: ReadonlyArray<number> = []

  get free(): ReadonlyArray<number> {
    return this.freeList
  }

  get usable(): ReadonlyArray<number> {
    return this.usableList
  }

  /** A GPU added to the machine, free unless drained. */
  add(index: number, drained: boolean): void {
    // as if it had been drained and held: neither listed before
    this.change(index, true, true, drained, false)
  }

  /** A GPU's state changed: drained, and whether a run holds it, before and after. */
  change(index: number, wasDrained: boolean, wasHeld: boolean, drained: boolean, held: boolean): void {
    const wasFree = !wasDrained && !wasHeld
    const isFree = !drained && !held
    if (wasFree !== isFree) {
      if (isFree) insert(this.freeList, index)
      else remove(this.freeList, index)
    }
    if (wasDrained !== drained) this.setUsable(index, !drained)
  }

  private setUsable(index: number, usable: boolean): void {
    const next = [...this.usableList]
    if (usable) insert(next, index)
    else remove(next, index)
    this.usableList = next
  }
}
