/**
 * This cycle's GPUs as `decide()` sees them (CycleAdmission): which are free, which the
 * reservation protects, the picks and the reservation's shadow time. Same answers as
 * GpuFit's `pickGpus` and `shadowOf` over the snapshot, computed from a free list:
 *
 * - "enough free GPUs?" is O(1) before any pick (the Philly replay, 512 GPUs: the per-GPU
 *   `isFree` calls of every blocked candidate were 13% of the run);
 * - a request with no pool and no device ids may use every usable GPU (`fit` null below):
 *   its pick is the first free GPUs, and its reservation protects every GPU without a Set
 *   of them or, for the shadow time, a Set to test holders' GPUs against.
 */
import { type AllowedGpus, type GpuRequest, type Shadow, shadowOf } from "./GpuFit.js"
import type { GpuListsView } from "./GpuLists.js"
import type { ActiveRun, GpuView, RunningSet } from "./Snapshot.js"

export class CycleGpus {
  /**
   * Free undrained GPUs, ascending. Never changed in place, because it may be the
   * snapshot's own list (`Snapshot.gpuLists`): `take` makes a new one.
   */
  free: ReadonlyArray<number>
  /** Undrained GPUs. */
  readonly usableCount: number
  private usableList: ReadonlyArray<number> | null = null
  /** The reservation's allowed set; null with none, or when it is every usable GPU (`protectAll`). */
  private protect: ReadonlySet<number> | null = null
  private protectAll = false

  /**
   * With `lists` (the engine keeps them as GPUs change) nothing is derived from the views:
   * scanning the 512 views per cycle cost the Philly replay ~5% (4.96 → 4.73 s wall).
   */
  constructor(
    private readonly gpus: ReadonlyArray<GpuView>,
    lists: GpuListsView | undefined
  ) {
    if (lists !== undefined) {
      this.free = lists.free
      this.usableList = lists.usable
      this.usableCount = lists.usable.length
      return
    }
    const free: Array<number> = []
    let usable = 0
    for (const g of gpus) {
      if (g.drained) continue
      usable++
      if (g.heldBy === null) free.push(g.index)
    }
    this.free = free
    this.usableCount = usable
  }

  /** Undrained GPU indices in the snapshot's order, listed once something needs them. */
  usable(): ReadonlyArray<number> {
    if (this.usableList === null) {
      const list: Array<number> = []
      for (const g of this.gpus) if (!g.drained) list.push(g.index)
      this.usableList = list
    }
    return this.usableList
  }

  readonly isFree = (index: number): boolean => this.free.includes(index)

  /** True when `allowed` (from `allowedGpus` over `usable()`) is every usable GPU. */
  private allowsAll(fit: AllowedGpus | null): boolean {
    return fit === null || fit.allowed === this.usableList
  }

  /**
   * `pickGpus(request, fit, isFree, protect)`: the lowest free GPUs of the allowed set
   * (`fit` null: every usable GPU) that satisfy the request, preferred devices first and,
   * under a reservation, GPUs outside it first. Null when not enough are free.
   */
  pick(request: GpuRequest, fit: AllowedGpus | null): Array<number> | null {
    const free = this.free
    // the allowed set is undrained, so it cannot hold more free GPUs than there are
    if (free.length < request.gpus) return null
    if (fit !== null && fit.strict) return fit.allowed.every(this.isFree) ? [...fit.allowed] : null
    // free GPUs of the allowed set, in GPU order (free ⊆ usable)
    const candidates = fit === null || this.allowsAll(fit) ? free : free.filter((g) => fit.allowed.includes(g))
    if (candidates.length < request.gpus) return null
    const preferred = fit === null ? null : fit.preferred
    // every candidate protected ranks the same as none protected: the lowest ones, no sort
    // (a reservation over every GPU is the Philly replay's common case)
    const protect = this.protect
    if (preferred === null && protect === null) return candidates.slice(0, request.gpus)
    const rank = (index: number) => (protect !== null && protect.has(index) ? 2 : 0) + (preferred === null || preferred.has(index) ? 0 : 1)
    const ranked = candidates.slice().sort((a, b) => rank(a) - rank(b) || a - b)
    return ranked.slice(0, request.gpus).sort((a, b) => a - b)
  }

  /** The reservation's allowed set for a fit (`fit` null: every usable GPU). */
  allowedOf(fit: AllowedGpus | null): ReadonlyArray<number> {
    return fit === null ? this.usable() : fit.allowed
  }

  /** Protects the reservation's allowed set (`fit` null: every usable GPU). */
  protectFor(fit: AllowedGpus | null): void {
    if (this.allowsAll(fit)) this.protectAll = true
    else this.protect = new Set(fit!.allowed)
  }

  unprotect(): void {
    this.protect = null
    this.protectAll = false
  }

  isProtected(index: number): boolean {
    return this.protectAll || (this.protect !== null && this.protect.has(index))
  }

  take(gpus: ReadonlyArray<number>): void {
    this.free = this.free.filter((g) => !gpus.includes(g))
  }

  /**
   * `shadowOf(request, fit, isFree, holders, now)`, the holders being the running runs and
   * this cycle's starts (`started`). When the allowed set is every usable GPU, a holder frees
   * its undrained GPUs and every free GPU is allowed, so no Set of the allowed set is needed
   * (512 GPUs in the Philly replay), nor a mark per GPU when the usable GPUs are 0..n-1
   * (nothing drained); and the holders are walked from the earliest end bound in the
   * running set's own order (`RunningSet.bounded`) until enough GPUs are free, instead of
   * copying every active run into releases and sorting them: the same walk as `shadowFrom`,
   * whose sorted releases it reads in the same order. Philly replay: 4.73 → 3.82 s wall.
   */
  shadow(request: GpuRequest, fit: AllowedGpus | null, running: RunningSet, started: ReadonlyArray<ActiveRun>, now: number): Shadow {
    if (fit !== null && (fit.strict || !this.allowsAll(fit))) return shadowOf(request, fit, this.isFree, [...running.values(), ...started], now)
    let available = this.free.length
    if (available >= request.gpus) return { at: now, extra: available - request.gpus }
    const countUsable = this.usableCounter()
    const bounded = running.bounded()
    // this cycle's starts with an end bound, in the same order (stable: as started)
    const extra = started.filter((r) => r.endBy !== null).sort((a, b) => a.endBy! - b.endBy!)
    let i = 0
    let j = 0
    /** The next holder by end bound, the running set's first on a tie (shadowFrom's stable sort). */
    const next = (): ActiveRun | undefined =>
      j < extra.length && (i >= bounded.length || extra[j]!.endBy! < bounded[i]!.endBy!) ? extra[j++] : bounded[i++]
    for (let run = next(); run !== undefined; run = next()) {
      const count = countUsable(run)
      if (count === 0) continue
      const at = Math.max(now, run.endBy!)
      available += count
      if (available < request.gpus) continue
      // holders that end at the same instant free their GPUs together
      for (let more = next(); more !== undefined && Math.max(now, more.endBy!) === at; more = next()) available += countUsable(more)
      return { at, extra: available - request.gpus }
    }
    return { at: null, extra: 0 }
  }

  /** How many of a run's GPUs are usable. */
  private usableCounter(): (run: ActiveRun) => number {
    const usable = this.usable()
    // usable is ascending without repeats: it is 0..n-1 when its ends are 0 and n-1
    const n = usable.length
    if (n === 0 || (usable[0] === 0 && usable[n - 1] === n - 1)) {
      return (run) => {
        let count = 0
        for (const g of run.gpus) if (g >= 0 && g < n) count++
        return count
      }
    }
    const isUsable = new Uint8Array(usable[n - 1]! + 1)
    for (const g of usable) isUsable[g] = 1
    return (run) => {
      let count = 0
      for (const g of run.gpus) if (isUsable[g] === 1) count++
      return count
    }
  }
}
