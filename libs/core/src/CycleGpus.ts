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
import { type AllowedGpus, type GpuRequest, type Release, type Shadow, shadowFrom, shadowOf } from "./GpuFit.js"
import type { GpuListsView } from "./GpuLists.js"
import type { ActiveRun, GpuView } from "./Snapshot.js"

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
   * scanning the 512 views per cycle was ~40% of the Philly replay.
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
    const reserved = this.protectAll || this.protect !== null
    if (preferred === null && !reserved) return candidates.slice(0, request.gpus)
    const rank = (index: number) => (reserved && this.isProtected(index) ? 2 : 0) + (preferred === null || preferred.has(index) ? 0 : 1)
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
   * `shadowOf(request, fit, isFree, holders, now)`. When the allowed set is every usable
   * GPU, a holder frees its undrained GPUs and every free GPU is allowed: counted with a
   * mark per GPU index instead of a Set of the allowed set (512 GPUs in the Philly replay).
   */
  shadow(request: GpuRequest, fit: AllowedGpus | null, holders: ReadonlyArray<ActiveRun>, now: number): Shadow {
    if (fit !== null && (fit.strict || !this.allowsAll(fit))) return shadowOf(request, fit, this.isFree, holders, now)
    const usable = this.usable()
    let size = 0
    for (const g of usable) if (g >= size) size = g + 1
    const isUsable = new Uint8Array(size)
    for (const g of usable) isUsable[g] = 1
    const releases: Array<Release> = []
    for (const run of holders) {
      let count = 0
      for (const g of run.gpus) if (g < size && isUsable[g] === 1) count++
      if (count > 0) releases.push({ at: run.endBy === null ? null : Math.max(now, run.endBy), count })
    }
    return shadowFrom(request, false, this.free.length, releases, now)
  }
}
