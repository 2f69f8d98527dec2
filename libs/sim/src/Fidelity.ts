/**
 * Shadow fidelity (issue 12): how closely a replay of a runner's history reproduces what really
 * happened. The evidence that the simulator can be trusted before a rollout (replayed under the
 * policy in force), and a measure of how much a candidate policy would change.
 *
 * The runs compared are those that started both in reality and in the replay (each run's first
 * start). Over them:
 *
 * - **start order** (`startOrder`): the share of pairs of runs that the replay starts in the
 *   same relative order as reality did: 1 − (discordant pairs) / (n choose 2), i.e. the
 *   normalised Kendall tau distance between the two start orders, subtracted from 1. Each order
 *   is strict: reality's is the order in which the runner recorded the starts (its timeline's
 *   sequence, which orders the starts of one cycle as the cycle decided them, even within one
 *   millisecond); the replay's is the order of its start transitions. It is exactly 1 iff the
 *   two orders are identical, and it degrades by one pair at a time (a run started one place
 *   early costs one pair out of n(n−1)/2); 1 when fewer than two runs are compared. Computed in
 *   O(n log n) (inversions counted by a merge sort).
 * - **wait error**: per run, |replayed wait − real wait|, where both waits are measured from
 *   the run's arrival in the workload (so it equals |replayed start − real start| on the
 *   workload's clock); its mean, 95th percentile (nearest rank) and maximum.
 * - **same GPUs** (`sameGpus`): the share of the runs whose real GPU set is known (`gpus` not
 *   null) that the replay started on exactly the same set of GPU indices.
 *
 * Runs started in only one of the two are counted apart: `onlyReal` (started in reality, not in
 * the replay) and `onlyReplay` (started in the replay before `horizonMs`, not in reality; a
 * replay start after the horizon, the instant the history was read, is beyond what was
 * observed and not counted).
 */
import { percentile } from "./Metrics.js"
import type { SimStart } from "./Simulate.js"

/** A run's first start as it really happened. */
export interface RealStart {
  readonly jobId: string
  /** The start instant on the workload's clock (ms from its origin). */
  readonly startMs: number
  /** The GPU indices it held; null when not comparable (e.g. a run retried on other GPUs). */
  readonly gpus: ReadonlyArray<number> | null
}

export interface Fidelity {
  /** Runs started both in reality and in the replay. */
  readonly compared: number
  readonly onlyReal: number
  readonly onlyReplay: number
  /** 1 − discordantPairs / pairs (1 when pairs is 0). */
  readonly startOrder: number
  readonly pairs: number
  readonly discordantPairs: number
  readonly waitErrorMeanMs: number
  readonly waitErrorP95Ms: number
  readonly waitErrorMaxMs: number
  /** sameGpuRuns / gpuCompared (1 when gpuCompared is 0). */
  readonly sameGpus: number
  readonly sameGpuRuns: number
  readonly gpuCompared: number
}

/** Pairs i < j of `xs` with xs[i] > xs[j] (merge sort; `xs` is not changed). */
export const inversions = (xs: ReadonlyArray<number>): number => {
  let a = [...xs]
  let b = new Array<number>(a.length)
  let count = 0
  for (let width = 1; width < a.length; width *= 2) {
    for (let lo = 0; lo < a.length; lo += 2 * width) {
      const mid = Math.min(lo + width, a.length)
      const hi = Math.min(lo + 2 * width, a.length)
      let i = lo
      let j = mid
      let k = lo
      while (i < mid && j < hi) {
        if (a[j]! < a[i]!) {
          count += mid - i
          b[k++] = a[j++]!
        } else b[k++] = a[i++]!
      }
      while (i < mid) b[k++] = a[i++]!
      while (j < hi) b[k++] = a[j++]!
    }
    ;[a, b] = [b, a]
  }
  return count
}

const sameSet = (x: ReadonlyArray<number>, y: ReadonlyArray<number>): boolean => {
  if (x.length !== y.length) return false
  const a = [...x].sort((p, q) => p - q)
  const b = [...y].sort((p, q) => p - q)
  return a.every((v, i) => v === b[i])
}

/**
 * The fidelity of a replay. `real`: the real first starts, in the order they happened;
 * `replay`: the replay's first starts in the order it made them (`SimReport.starts`).
 */
export const fidelity = (
  real: ReadonlyArray<RealStart>,
  replay: ReadonlyArray<SimStart>,
  o: { readonly horizonMs?: number } = {}
): Fidelity => {
  const replayed = new Map<string, { readonly rank: number; readonly start: SimStart }>()
  replay.forEach((start, rank) => {
    if (!replayed.has(start.jobId)) replayed.set(start.jobId, { rank, start })
  })
  const realIds = new Set(real.map((r) => r.jobId))
  const ranks: Array<number> = []
  const errors: Array<number> = []
  let sameGpuRuns = 0
  let gpuCompared = 0
  let onlyReal = 0
  for (const r of real) {
    const sim = replayed.get(r.jobId)
    if (sim === undefined) {
      onlyReal++
      continue
    }
    ranks.push(sim.rank)
    errors.push(Math.abs(sim.start.startMs - r.startMs))
    if (r.gpus !== null) {
      gpuCompared++
      if (sameSet(r.gpus, sim.start.gpus)) sameGpuRuns++
    }
  }
  const horizon = o.horizonMs ?? Number.POSITIVE_INFINITY
  let onlyReplay = 0
  for (const [jobId, { start }] of replayed) if (!realIds.has(jobId) && start.startMs <= horizon) onlyReplay++
  const n = ranks.length
  const pairs = n < 2 ? 0 : (n * (n - 1)) / 2
  const discordantPairs = inversions(ranks)
  errors.sort((p, q) => p - q)
  return {
    compared: n,
    onlyReal,
    onlyReplay,
    startOrder: pairs === 0 ? 1 : 1 - discordantPairs / pairs,
    pairs,
    discordantPairs,
    waitErrorMeanMs: n === 0 ? 0 : errors.reduce((s, e) => s + e, 0) / n,
    waitErrorP95Ms: percentile(errors, 95),
    waitErrorMaxMs: errors.at(-1) ?? 0,
    sameGpus: gpuCompared === 0 ? 1 : sameGpuRuns / gpuCompared,
    sameGpuRuns,
    gpuCompared
  }
}
