/**
 * GPU fit (SPEC §4): which GPUs a request may use, which free ones it gets, and the
 * earliest time a blocked request is guaranteed its GPUs (the reservation's shadow time).
 */
import type { ActiveRun } from "./Snapshot.js"

export interface GpuRequest {
  readonly gpus: number
  readonly deviceIds: ReadonlyArray<number> | null
  readonly anyGpu: boolean
}

export interface AllowedGpus {
  /** Undrained GPUs the request may ever use, ascending. */
  readonly allowed: ReadonlyArray<number>
  /** Strict device ids: exactly these GPUs, all of them. */
  readonly strict: boolean
  /** With anyGpu, the device ids asked for are preferred when free. */
  readonly preferred: ReadonlySet<number> | null
}

/**
 * The GPUs a request may use: its strict device ids, else its queue's pool, else all;
 * drained GPUs never. Returns null when the request can never fit (gpu-unavailable).
 *
 * @param usable the undrained GPU indices of the machine, ascending
 */
export const allowedGpus = (
  request: GpuRequest,
  usable: ReadonlyArray<number>,
  pool: ReadonlyArray<number> | null
): AllowedGpus | null => {
  const allowed = pool === null ? usable : usable.filter((index) => pool.includes(index))
  if (request.deviceIds !== null && !request.anyGpu) {
    const ids = request.deviceIds
    if (ids.length !== request.gpus || new Set(ids).size !== ids.length || !ids.every((d) => allowed.includes(d))) return null
    return { allowed: [...request.deviceIds].sort((a, b) => a - b), strict: true, preferred: null }
  }
  if (allowed.length < request.gpus) return null
  const preferred = request.deviceIds === null ? null : new Set(request.deviceIds)
  return { allowed, strict: false, preferred }
}

/**
 * The free GPUs a request gets: the lowest free indices that satisfy it, taking preferred
 * devices first and, while a reservation is held, GPUs outside `protect` first.
 * Returns null when not enough are free.
 */
export const pickGpus = (
  request: GpuRequest,
  fit: AllowedGpus,
  isFree: (index: number) => boolean,
  protect: ReadonlySet<number> | null
): Array<number> | null => {
  if (fit.strict) return fit.allowed.every(isFree) ? [...fit.allowed] : null
  if (fit.preferred === null && protect === null) {
    // the common case: the lowest free indices, stopping as soon as there are enough
    const pick: Array<number> = []
    for (const index of fit.allowed) {
      if (!isFree(index)) continue
      pick.push(index)
      if (pick.length === request.gpus) return pick
    }
    return null
  }
  const free = fit.allowed.filter(isFree)
  if (free.length < request.gpus) return null
  if (fit.preferred !== null || protect !== null) {
    const rank = (index: number) =>
      (protect !== null && protect.has(index) ? 2 : 0) + (fit.preferred === null || fit.preferred.has(index) ? 0 : 1)
    free.sort((a, b) => rank(a) - rank(b) || a - b)
  }
  return free.slice(0, request.gpus).sort((a, b) => a - b)
}

export interface Shadow {
  /** When the reserved request is guaranteed its GPUs; null when no bound is known. */
  readonly at: number | null
  /** GPUs of the allowed set still free at that time beyond what the request needs. */
  readonly extra: number
}

/** GPUs of the allowed set that a holder frees at its end bound (null: no bound). */
export interface Release {
  readonly at: number | null
  readonly count: number
}

/**
 * EASY backfill's shadow time: walk the runs holding allowed GPUs by their end bound
 * until enough of the allowed set is free. A holder with no end bound makes it unknown.
 */
export const shadowOf = (
  request: GpuRequest,
  fit: AllowedGpus,
  isFree: (index: number) => boolean,
  holders: Iterable<ActiveRun>,
  now: number
): Shadow => {
  const allowed = new Set(fit.allowed)
  const releases: Array<Release> = []
  for (const run of holders) {
    let count = 0
    for (const g of run.gpus) if (allowed.has(g)) count++
    if (count > 0) releases.push({ at: run.endBy === null ? null : Math.max(now, run.endBy), count })
  }
  return shadowFrom(request, fit.strict, fit.allowed.filter(isFree).length, releases, now)
}

/**
 * `shadowOf` once the allowed set's free GPUs (`available`) and its holders' releases are
 * counted; decide() counts them its own way (CycleAdmission) and shares this part.
 * Sorts `releases` in place.
 */
export const shadowFrom = (
  request: GpuRequest,
  strict: boolean,
  available: number,
  releases: Array<Release>,
  now: number
): Shadow => {
  if (strict) {
    let at = now
    for (const r of releases) {
      if (r.at === null) return { at: null, extra: 0 }
      at = Math.max(at, r.at)
    }
    return { at, extra: 0 }
  }
  if (available >= request.gpus) return { at: now, extra: available - request.gpus }
  // if the bounded holders cannot free enough, no order of them will: skip the sort
  let bounded = available
  for (const r of releases) if (r.at !== null) bounded += r.count
  if (bounded < request.gpus) return { at: null, extra: 0 }
  releases.sort((a, b) => (a.at ?? Infinity) - (b.at ?? Infinity))
  for (let i = 0; i < releases.length; i++) {
    const release = releases[i]!
    if (release.at === null) return { at: null, extra: 0 }
    available += release.count
    if (available >= request.gpus) {
      // holders that end at the same instant free their GPUs together
      for (let j = i + 1; j < releases.length && releases[j]!.at === release.at; j++) available += releases[j]!.count
      return { at: release.at, extra: available - request.gpus }
    }
  }
  return { at: null, extra: 0 }
}
