/**
 * dispatch: the cost of one `decide()` at 10k / 100k pending runs (1,000 users, 50 teams,
 * 8 queues, 64 GPUs, every limit on), against the full-scan reference in the same run.
 * The state is a steady one: all GPUs busy but a few, so a cycle starts a handful of runs.
 */
import { decide, decideByScan, makeQueue, type Policy, sharedPolicy, type Snapshot } from "@gantry/core"
import { aRun, aSnapshot, anActiveRun } from "@gantry/core/testing"
import { makePrng } from "@gantry/sim"

export interface DispatchRow {
  readonly pending: number
  readonly decideUs: number
  readonly scanUs: number | null
  readonly starts: number
  readonly examined: number
}

const GPUS = 64
/** decide() calls per timed sample. */
const BATCH = 100

export const dispatchSnapshot = (pendingCount: number, seed = 1): Snapshot => {
  const prng = makePrng(seed)
  const queues = Array.from({ length: 8 }, (_, i) => makeQueue(`q${i}`, { priority: i % 3, maxConcurrent: 40, gpuQuota: 48 }))
  const policy: Policy = {
    ...sharedPolicy,
    limits: { maxConcurrent: 80, userMaxConcurrent: 2, teamMaxConcurrent: 8, localGpuMaxConcurrent: 64, localJobMaxConcurrent: 100 }
  }
  const running = Array.from({ length: 60 }, (_, i) =>
    anActiveRun({ id: `busy${i}`, user: `u${i}`, team: `t${i % 50}`, queue: `q${i % 8}`, holds: [i], endBy: 3_600_000 + i * 1000 })
  )
  const pending = Array.from({ length: pendingCount }, (_, i) => {
    const user = prng.int(0, 999)
    return aRun({
      id: `p${i}`,
      seq: i + 1,
      user: `u${user}`,
      team: `t${user % 50}`,
      queue: `q${prng.int(0, 7)}`,
      gpus: prng.weighted([[1, 80], [2, 12], [4, 6], [8, 2]] as const),
      level: prng.weighted([["researcher", 8], ["lead", 2]] as const),
      eligibleAt: i,
      timeLimitMs: prng.chance(0.5) ? prng.int(60_000, 7_200_000) : null
    })
  })
  return aSnapshot({ now: pendingCount + 1, policy, gpus: GPUS, queues, running, pending })
}

const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const time = (f: () => unknown, repeats: number): number => {
  const samples: Array<number> = []
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now()
    f()
    samples.push((performance.now() - t0) * 1000)
  }
  return median(samples)
}

export const runDispatch = (sizes: ReadonlyArray<number>, o: { readonly repeats: number; readonly scanUpTo: number }): Array<DispatchRow> =>
  sizes.map((pending) => {
    const snapshot = dispatchSnapshot(pending)
    const decision = decide(snapshot)
    // warm up until the JIT has optimised the walk (with 20 calls the first size was timed
    // before that, which made the cost seem to fall as the pending count grew)
    for (let i = 0; i < 2_000; i++) decide(snapshot)
    // one sample is a batch of calls: a single call (a few µs) is too close to the timer's resolution
    const decideUs = time(() => {
      for (let i = 0; i < BATCH; i++) decide(snapshot)
    }, o.repeats) / BATCH
    const scanUs = pending <= o.scanUpTo ? time(() => decideByScan(snapshot), Math.max(3, Math.floor(o.repeats / 20))) : null
    return { pending, decideUs, scanUs, starts: decision.starts.length, examined: decision.examined }
  })
