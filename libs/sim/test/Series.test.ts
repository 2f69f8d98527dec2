import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { coarsen, coveredMs, recordTransition, SeriesRecorder, type SeriesOverTime } from "../src/Series.js"
import { simulate } from "../src/Simulate.js"
import { generateWorkload } from "../src/Workload.js"

/**
 * Two runs on 4 buckets of 10 ms:
 *   t=0  a arrives                      queued 1
 *   t=5  b arrives                      queued 2
 *   t=10 a starts on 2 GPUs             queued 1, busy 2
 *   t=25 a ends                         busy 0
 *   t=30 b starts on 1 GPU              queued 0, busy 1
 * By hand: ∫queued = 1·5 + 2·5 + 1·20 = 35; ∫busy = 2·15 + 1·10 (to t=40) = 40.
 */
const example = (): SeriesRecorder => {
  const r = new SeriesRecorder({ maxBuckets: 4, initialBucketMs: 10 })
  recordTransition(r, 0, null, "pending", 2)
  recordTransition(r, 5, null, "pending", 1)
  recordTransition(r, 10, "pending", "running", 2)
  recordTransition(r, 25, "running", "completed", 2)
  recordTransition(r, 30, "pending", "running", 1)
  return r
}

describe("SeriesRecorder", () => {
  it("a hand-computed example: time-weighted means per bucket", () => {
    const s = example().finish(40)
    expect(s).toEqual({
      startMs: 0, endMs: 40, bucketMs: 10,
      // [0,10): busy 0; queued (1·5 + 2·5)/10. [10,20): busy 2, queued 1. [20,30): busy 2·5/10, queued 1. [30,40): busy 1.
      busyGpus: [0, 2, 1, 1],
      queued: [1.5, 1, 1, 0],
      busyGpuMs: 40,
      queuedMs: 35
    })
  })

  it("doubles its width and merges pairs when time outgrows the buckets; the last bucket's mean is over the part covered", () => {
    const s = example().finish(50)
    // width 20: [0,20): busy 20/20, queued 25/20; [20,40): busy 20/20, queued 10/20; [40,50): busy 1·10/10 (covered 10 of 20)
    expect(s).toEqual({ startMs: 0, endMs: 50, bucketMs: 20, busyGpus: [1, 1, 1], queued: [1.25, 0.5, 0], busyGpuMs: 50, queuedMs: 35 })
    expect(coveredMs(s, 2)).toBe(10)
  })

  it("a stopping run still holds its GPUs; held and blocked runs count as queued; an unstarted end leaves the queue", () => {
    const r = new SeriesRecorder({ maxBuckets: 2, initialBucketMs: 10 })
    recordTransition(r, 0, null, "held", 1)
    recordTransition(r, 0, null, "blocked", 1)
    recordTransition(r, 0, null, "pending", 3)
    recordTransition(r, 0, "pending", "running", 3)
    recordTransition(r, 5, "running", "stopping", 3)
    recordTransition(r, 10, "stopping", "cancelled", 3)
    recordTransition(r, 10, "held", "rejected", 1)
    recordTransition(r, 15, "blocked", "cancelled", 1)
    expect(r.busyGpus).toBe(0)
    expect(r.queuedRuns).toBe(0)
    expect(r.finish(20)).toMatchObject({ busyGpus: [3, 0], queued: [2, 0.5], busyGpuMs: 30, queuedMs: 25 })
  })

  it("refuses time going back and bad sizes; an empty record has no buckets", () => {
    const r = new SeriesRecorder()
    r.change(10, 1, 0)
    expect(() => r.change(9, 1, 0)).toThrow(RangeError)
    expect(() => new SeriesRecorder({ maxBuckets: 3 })).toThrow(RangeError)
    expect(() => new SeriesRecorder({ initialBucketMs: 0.5 })).toThrow(RangeError)
    expect(new SeriesRecorder().finish()).toEqual({ startMs: 0, endMs: 0, bucketMs: 1, busyGpus: [], queued: [], busyGpuMs: 0, queuedMs: 0 })
  })

  it("keeps at most maxBuckets buckets over a million transitions spanning a year", () => {
    const r = new SeriesRecorder()
    const yearMs = 365 * 86_400_000
    for (let i = 0; i < 1_000_000; i++) r.change(Math.floor((i * yearMs) / 1_000_000), i % 2 === 0 ? 8 : -8, 0)
    const s = r.finish(yearMs)
    expect(s.busyGpus.length).toBeLessThanOrEqual(512)
    expect(s.busyGpus.length).toBeGreaterThan(256)
    // busy 8 half of the time
    expect(s.busyGpuMs / (s.endMs - s.startMs)).toBeCloseTo(4, 6)
  })

  /** Whole-ms times and whole levels: the integral (and every area) is exact. */
  const steps = fc.array(fc.record({ dtMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 1_000_000 })), busy: fc.integer({ min: -16, max: 16 }), queued: fc.integer({ min: -5, max: 5 }) }), { maxLength: 200 })

  it("property: the buckets' areas add up to the exact integral of each level, for any events, bucket count and width", () => {
    fc.assert(
      fc.property(steps, fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 1_000 }), (events, half, initialBucketMs, t0, tail) => {
        const r = new SeriesRecorder({ maxBuckets: 2 * half, initialBucketMs })
        let t = t0
        let busy = 0
        let queued = 0
        let busyIntegral = 0
        let queuedIntegral = 0
        r.advance(t)
        for (const e of events) {
          busyIntegral += busy * e.dtMs
          queuedIntegral += queued * e.dtMs
          t += e.dtMs
          r.change(t, e.busy, e.queued)
          busy += e.busy
          queued += e.queued
        }
        busyIntegral += busy * tail
        queuedIntegral += queued * tail
        const s = r.finish(t + tail)
        expect(s.busyGpuMs).toBe(busyIntegral)
        expect(s.queuedMs).toBe(queuedIntegral)
        expect(s.busyGpus.length).toBeLessThanOrEqual(2 * half)
        expect(s.busyGpus.length).toBe(s.endMs > s.startMs ? Math.ceil((s.endMs - s.startMs) / s.bucketMs) : 0)
        // each bucket's mean times the part it covers is its area: the areas add up to the integral too
        const area = (xs: ReadonlyArray<number>) => xs.reduce((sum, x, i) => sum + x * coveredMs(s, i), 0)
        expect(area(s.busyGpus)).toBeCloseTo(busyIntegral, 3)
        expect(area(s.queued)).toBeCloseTo(queuedIntegral, 3)
      })
    )
  })

  it("property: coarsening to a wider grid keeps the integral and gives the series the recorder makes with that width", () => {
    fc.assert(
      fc.property(steps, fc.integer({ min: 1, max: 4 }), (events, k) => {
        const fine = new SeriesRecorder({ maxBuckets: 64, initialBucketMs: 7 })
        const wide = new SeriesRecorder({ maxBuckets: 64, initialBucketMs: 7 * 2 ** k })
        let t = 0
        for (const r of [fine, wide]) r.advance(0)
        for (const e of events) {
          t += e.dtMs
          for (const r of [fine, wide]) r.change(t, e.busy, e.queued)
        }
        const a = fine.finish()
        const b = wide.finish()
        const width = Math.max(a.bucketMs, b.bucketMs)
        const [ca, cb]: Array<SeriesOverTime> = [coarsen(a, width), coarsen(b, width)]
        expect(ca.busyGpus.length).toBe(cb.busyGpus.length)
        ca.busyGpus.forEach((x, i) => expect(x).toBeCloseTo(cb.busyGpus[i]!, 6))
        ca.queued.forEach((x, i) => expect(x).toBeCloseTo(cb.queued[i]!, 6))
      })
    )
  })
})

describe("simulate({ series: true })", () => {
  it("records busy GPUs whose integral is the GPU time the metrics count, never a negative level; the metrics are the same as without", () => {
    const workload = generateWorkload({
      seed: 3, jobs: 400, arrivalRatePerHour: 40, users: 5, teams: 2,
      gpuMix: [[1, 6], [2, 3], [4, 1]], durationMedianMs: 20 * 60_000, durationSigma: 1, timeLimitProbability: 0.5, failureProbability: 0.05, approvalProbability: 0.1, rejectProbability: 0.3
    })
    const with_ = simulate({ seed: 3, workload, gpus: 8, eventLog: false, series: true })
    const without = simulate({ seed: 3, workload, gpus: 8, eventLog: false })
    expect(without.series).toBeUndefined()
    expect(with_.metrics).toEqual(without.metrics)
    const s = with_.series!
    const m = with_.metrics
    expect(s.startMs).toBe(workload.jobs[0]!.arrivalMs)
    expect(s.endMs).toBe(with_.simulatedMs)
    expect(s.busyGpus.length).toBeLessThanOrEqual(512)
    // Σ gpus × runMs is what utilisation divides: gpuUtilisation × gpus × makespan
    expect(s.busyGpuMs).toBeCloseTo(m.gpuUtilisation * 8 * m.makespanMs, 0)
    expect(Math.max(...s.busyGpus)).toBeLessThanOrEqual(8)
    expect(Math.min(...s.queued, ...s.busyGpus)).toBeGreaterThanOrEqual(0)
  })
})
