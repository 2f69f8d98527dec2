import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { computeMetrics, formatDurationMs, formatMetrics, percentile, WAIT_HISTOGRAM_EDGES_MS, waitBinOf, type JobOutcome } from "../src/Metrics.js"

/** A finished job: arrives at `arrivalMs`, waits `waitMs`, runs `runMs`. */
const done = (jobId: string, user: string, arrivalMs: number, waitMs: number, runMs: number, extra: Partial<JobOutcome> = {}): JobOutcome => ({
  jobId, user, queue: "default", gpus: 1, arrivalMs, startMs: arrivalMs + waitMs, endMs: arrivalMs + waitMs + runMs,
  status: "completed", runMs, ...extra
})

describe("percentile", () => {
  it("is nearest-rank (the textbook example 15, 20, 35, 40, 50)", () => {
    const xs = [15, 20, 35, 40, 50]
    expect([0, 5, 30, 40, 50, 100].map((p) => percentile(xs, p))).toEqual([15, 15, 20, 20, 35, 50])
  })

  it("is 0 for an empty array and rejects p outside [0, 100]", () => {
    expect(percentile([], 50)).toBe(0)
    expect(() => percentile([1], 101)).toThrow(RangeError)
    expect(() => percentile([1], -1)).toThrow(RangeError)
  })

  it("property: returns an element of the array and never decreases as p grows", () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { minLength: 1 }), fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (raw, p, q) => {
        const xs = [...raw].sort((a, b) => a - b)
        const [lo, hi] = p <= q ? [p, q] : [q, p]
        return xs.includes(percentile(xs, lo)) && percentile(xs, lo) <= percentile(xs, hi)
      })
    )
  })
})

describe("computeMetrics", () => {
  const outcomes: ReadonlyArray<JobOutcome> = [
    done("j1", "bob", 0, 0, 20_000, { team: "t2", gpus: 2 }),
    done("j2", "ana", 1_000, 4_000, 10_000, { team: "t1", queue: "gpu" }),
    done("j3", "ana", 2_000, 8_000, 30_000, { team: "t1", status: "failed" }),
    { jobId: "j4", user: "cy", queue: "gpu", gpus: 4, arrivalMs: 3_000, startMs: 10_000, endMs: 15_000, status: "cancelled", runMs: 5_000 },
    { jobId: "j5", user: "cy", queue: "default", gpus: 1, arrivalMs: 4_000, status: "pending", runMs: 0 },
    { jobId: "j6", user: "bob", team: "t2", queue: "default", gpus: 1, arrivalMs: 5_000, endMs: 9_000, status: "failed", runMs: 0 }
  ]
  const m = computeMetrics(outcomes, { gpuCount: 4 })

  it("computes wait over started jobs and JCT over completed/failed jobs that started", () => {
    // waits: j1 0, j2 4 s, j3 8 s, j4 7 s -> sorted 0, 4, 7, 8 s; JCTs: j1 20 s, j2 14 s, j3 38 s.
    expect(m.overall).toEqual({
      count: 6, started: 4, finished: 3,
      waitP50Ms: 4_000, waitP95Ms: 8_000, waitP99Ms: 8_000, waitMeanMs: 4_750, maxWaitMs: 8_000,
      jctP50Ms: 20_000, jctP95Ms: 38_000, jctP99Ms: 38_000, jctMeanMs: (20_000 + 14_000 + 38_000) / 3
    })
  })

  it("computes makespan, GPU utilisation and counts by status with sorted keys", () => {
    expect(m.jobs).toBe(6)
    expect(m.makespanMs).toBe(40_000) // j3 ends at 2 + 8 + 30 s; first arrival at 0
    // gpu·ms: 2·20 s + 10 s + 30 s + 4·5 s = 100 s over 4 GPUs × 40 s = 160 s.
    expect(m.gpuUtilisation).toBeCloseTo(100 / 160, 12)
    expect(m.byStatus).toEqual({ cancelled: 1, completed: 2, failed: 2, pending: 1 })
    expect(Object.keys(m.byStatus)).toEqual(["cancelled", "completed", "failed", "pending"])
  })

  it("groups by user, team and queue with sorted keys, leaving teamless jobs out of byTeam", () => {
    expect(Object.keys(m.byUser)).toEqual(["ana", "bob", "cy"])
    expect(Object.keys(m.byTeam)).toEqual(["t1", "t2"])
    expect(Object.keys(m.byQueue)).toEqual(["default", "gpu"])
    expect(m.byUser["ana"]!.jctMeanMs).toBe(26_000)
    expect(m.byUser["cy"]).toMatchObject({ count: 2, started: 1, finished: 0, jctMeanMs: 0 })
    expect(m.byQueue["gpu"]).toMatchObject({ count: 2, waitP50Ms: 4_000, maxWaitMs: 7_000 })
  })

  it("computes Jain's index from per-user mean bounded slowdowns", () => {
    // bounded slowdown = max(1, jct / max(run, 10 s)). bob: j1 20/20 = 1 -> x = 1.
    // ana: j2 14/10 = 1.4, j3 38/30 ≈ 1.2667 -> mean 1.3333 -> x = 0.75. cy: no finished job.
    // J = (1 + 0.75)² / (2 · (1 + 0.5625)) = 3.0625 / 3.125 = 0.98.
    expect(m.jainFairness).toBeCloseTo(0.98, 12)
    // Two users with x = 1 and 1/3: (4/3)² / (2 · 10/9) = 0.8.
    const skewed = computeMetrics([done("a", "u1", 0, 0, 10_000), done("b", "u2", 0, 20_000, 10_000)], { gpuCount: 1 })
    expect(skewed.jainFairness).toBeCloseTo(0.8, 12)
  })

  it("computes Jain's index over teams the same way, leaving teamless jobs out", () => {
    // t2: j1 slowdown 1 -> x = 1 (j6 never started). t1: j2 1.4, j3 ≈ 1.2667 -> x = 0.75. J = 0.98 as above;
    // cy's jobs have no team and do not count.
    expect(m.jainFairnessTeams).toBeCloseTo(0.98, 12)
    const oneTeam = computeMetrics([done("a", "u1", 0, 0, 10_000, { team: "t" }), done("b", "u2", 0, 20_000, 10_000, { team: "t" })], { gpuCount: 1 })
    expect([oneTeam.jainFairness, oneTeam.jainFairnessTeams]).toEqual([expect.closeTo(0.8, 12), 1])
    expect(computeMetrics([done("a", "u1", 0, 0, 1)], { gpuCount: 1 }).jainFairnessTeams).toBe(1)
  })

  it("counts long waits: started after the threshold, or ended unstarted after it; share of all jobs", () => {
    // waits: j1 0, j2 4 s, j3 8 s, j4 7 s; j6 ended unstarted 4 s after arriving; j5 still pending (no end)
    expect(m.longWaits).toEqual({ thresholdMs: 3_600_000, count: 0, share: 0 })
    expect(computeMetrics(outcomes, { gpuCount: 4, waitThresholdMs: 5_000 }).longWaits).toEqual({ thresholdMs: 5_000, count: 2, share: 2 / 6 })
    expect(computeMetrics(outcomes, { gpuCount: 4, waitThresholdMs: 3_000 }).longWaits).toEqual({ thresholdMs: 3_000, count: 4, share: 4 / 6 })
    // longer than: a wait of exactly the threshold is not long
    expect(computeMetrics(outcomes, { gpuCount: 4, waitThresholdMs: 4_000 }).longWaits.count).toBe(2)
    expect(computeMetrics([], { gpuCount: 1 }).longWaits).toEqual({ thresholdMs: 3_600_000, count: 0, share: 0 })
    expect(() => computeMetrics([], { gpuCount: 1, waitThresholdMs: -1 })).toThrow(RangeError)
  })

  it("counts started jobs' waits in fixed log-spaced bins, 8 a decade from 1 s to 10⁷ s", () => {
    const edges = WAIT_HISTOGRAM_EDGES_MS
    expect([edges.length, edges[0], edges[1], edges[8], edges[16], edges[56]]).toEqual([57, 1_000, 1_334, 10_000, 100_000, 1e10])
    edges.slice(1).forEach((e, i) => expect(e).toBeGreaterThan(edges[i]!))
    expect([0, 999, 1_000, 1_333, 1_334, 9_999, 10_000, 9_999_999_999, 1e10, 1e12].map(waitBinOf)).toEqual([0, 0, 1, 1, 2, 8, 9, 56, 57, 57])
    expect(m.waitHistogram).toHaveLength(58)
    // waits 0 (bin 0), 4 s (bin 5: [3 162, 4 217)), 7 s (bin 7: [5 623, 7 499)), 8 s (bin 8: [7 499, 10 000))
    const counted = m.waitHistogram.flatMap((n, i) => (n === 0 ? [] : [[i, n]]))
    expect(counted).toEqual([[0, 1], [5, 1], [7, 1], [8, 1]])
  })

  it("applies the 10 s bound: short jobs count as 10 s of running", () => {
    // A 1 s job that waited 9 s has JCT 10 s and bounded slowdown 10/10 = 1, the same as a
    // 100 s job that did not wait: equally served, J = 1.
    const r = computeMetrics([done("a", "u1", 0, 9_000, 1_000), done("b", "u2", 0, 0, 100_000)], { gpuCount: 2 })
    expect(r.jainFairness).toBe(1)
  })

  it("gives zeros (and J = 1) for no outcomes, and rejects a negative gpuCount", () => {
    const e = computeMetrics([], { gpuCount: 8 })
    expect([e.jobs, e.makespanMs, e.gpuUtilisation, e.jainFairness, e.overall.waitP99Ms]).toEqual([0, 0, 0, 1, 0])
    expect(e.byStatus).toEqual({})
    expect(() => computeMetrics([], { gpuCount: -1 })).toThrow(RangeError)
  })

  it("property: Jain's index lies in [1/n, 1] over the n users with a finished job, and utilisation is >= 0", () => {
    const outcome = fc.record({
      user: fc.constantFrom("a", "b", "c", "d"),
      arrivalMs: fc.integer({ min: 0, max: 1e6 }),
      waitMs: fc.integer({ min: 0, max: 1e6 }),
      runMs: fc.integer({ min: 0, max: 1e6 })
    })
    fc.assert(
      fc.property(fc.array(outcome, { maxLength: 40 }), (xs) => {
        const r = computeMetrics(xs.map((x, i) => done(`j${i}`, x.user, x.arrivalMs, x.waitMs, x.runMs)), { gpuCount: 2 })
        const n = new Set(xs.map((x) => x.user)).size
        const lower = n === 0 ? 1 : 1 / n
        return r.jainFairness >= lower - 1e-12 && r.jainFairness <= 1 + 1e-12 && r.gpuUtilisation >= 0
      })
    )
  })
})

describe("formatMetrics", () => {
  const many = Array.from({ length: 30 }, (_, i) =>
    done(`j${i}`, `u${String(i % 12).padStart(2, "0")}`, i * 1_000, (i % 5) * 60_000, 90_000, { team: `t${i % 3}`, queue: i % 2 === 0 ? "default" : "gpu" })
  )
  const m = computeMetrics(many, { gpuCount: 8 })

  it("prints totals, the overall row and aligned tables, deterministically", () => {
    const text = formatMetrics(m)
    expect(text).toBe(formatMetrics(computeMetrics([...many].reverse(), { gpuCount: 8 })))
    const lines = text.split("\n")
    expect(lines[0]).toMatch(/^jobs 30 {2}makespan \d+\.\dm {2}gpu utilisation \d+\.\d% {2}jain \d\.\d{3}$/)
    expect(lines[1]).toBe("status completed=30")
    expect(text).toMatch(/^overall +count +started +done +wait p50/m)
    expect(text).toMatch(/^all +30 +30 +30 +2\.0m /m)
    const tableHeads = lines.filter((l) => /^(overall|team|queue|user) /.test(l))
    expect(tableHeads.map((l) => l.split(" ")[0])).toEqual(["overall", "team", "queue", "user"])
    // Every row of one table has the same width up to trailing spaces of the last column.
    const team = lines.slice(lines.findIndex((l) => l.startsWith("team ")), lines.findIndex((l) => l.startsWith("team ")) + 4)
    expect(new Set(team.map((l) => l.length)).size).toBe(1)
  })

  it("keeps only the top maxRows groups by job count and says how many it left out", () => {
    const text = formatMetrics(m, { maxRows: 2 })
    expect(text).toContain("… 10 more") // 12 users, 2 shown
    expect(text).toContain("… 1 more") // 3 teams, 2 shown
    expect(text).not.toContain("u11")
    expect(() => formatMetrics(m, { maxRows: -1 })).toThrow(RangeError)
  })

  it("formats durations in fixed units", () => {
    expect([850, 12_340, 270_000, 7_560_000, 3 * 86_400_000].map(formatDurationMs)).toEqual(["850ms", "12.3s", "4.5m", "2.1h", "3.0d"])
  })
})
