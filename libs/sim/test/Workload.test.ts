import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { generateWorkload, mmcWorkload, type GenerateOptions, type Level, type WorkloadJob } from "../src/Workload.js"

const GPU_MIX = [[0, 1], [1, 70], [2, 15], [4, 8], [8, 6]] as const

const base: GenerateOptions = {
  seed: 1,
  jobs: 2_000,
  arrivalRatePerHour: 120,
  users: 20,
  teams: 4,
  gpuMix: GPU_MIX,
  durationMedianMs: 20 * 60_000,
  durationSigma: 1.2
}

const rich: GenerateOptions = {
  ...base,
  burstProbability: 0.1,
  burstSize: [2, 5],
  levels: [["admin", 1], ["lead", 2], ["researcher", 10], ["viewer", 1]],
  queues: ["default", "gpu", "batch"],
  maxDurationMs: 24 * 3_600_000,
  timeLimitProbability: 0.5,
  overrunProbability: 0.2,
  failureProbability: 0.1,
  approvalProbability: 0.1,
  rejectProbability: 0.3,
  cancelProbability: 0.05,
  maxQueuedTimeProbability: 0.2,
  deadlineProbability: 0.2,
  maxAttempts: 3
}

const isNonNegInt = (x: number | undefined): boolean => x === undefined || (Number.isInteger(x) && x >= 0)
const isPosInt = (x: number | undefined): boolean => x === undefined || (Number.isInteger(x) && x >= 1)

/** Every violation of WorkloadJob's documented constraints, as text (empty = none). */
const violations = (jobs: ReadonlyArray<WorkloadJob>): Array<string> => {
  const out: Array<string> = []
  const levels: ReadonlyArray<Level> = ["admin", "lead", "researcher", "viewer"]
  jobs.forEach((j, i) => {
    const bad = (what: string): void => void out.push(`${j.id}: ${what}`)
    if (j.id !== `j${String(i + 1).padStart(6, "0")}`) bad("id not sequential")
    if (!isNonNegInt(j.arrivalMs)) bad("arrivalMs")
    if (i > 0 && j.arrivalMs < jobs[i - 1]!.arrivalMs) bad("arrival decreases")
    if (!isPosInt(j.durationMs)) bad("durationMs")
    if (j.exitCode !== 0 && j.exitCode !== 1) bad("exitCode")
    if (!/^u\d{3,}$/.test(j.user)) bad("user")
    if (j.team !== undefined && !/^t\d{2,}$/.test(j.team)) bad("team")
    if (!levels.includes(j.level)) bad("level")
    if (!isNonNegInt(j.gpus)) bad("gpus")
    if (!isPosInt(j.timeLimitMs) || !isPosInt(j.maxQueuedTimeMs) || !isPosInt(j.deadlineMs)) bad("limits")
    if (!isPosInt(j.cancelAfterMs) || !isPosInt(j.maxAttempts)) bad("cancel/maxAttempts")
    if ((j.decision !== undefined) !== (j.requiresApproval === true)) bad("decision without approval")
    if (j.decision !== undefined && !isPosInt(j.decision.atMs)) bad("decision.atMs")
  })
  return out
}

const share = <T>(xs: ReadonlyArray<T>, pred: (x: T) => boolean): number => xs.filter(pred).length / xs.length
/** 4 standard deviations of a sample proportion with true value p over n draws. */
const fourSd = (p: number, n: number): number => 4 * Math.sqrt((p * (1 - p)) / n)

describe("generateWorkload", () => {
  it("gives deep-equal output for the same options, and a different one for another seed", () => {
    expect(generateWorkload(rich)).toEqual(generateWorkload({ ...rich }))
    expect(generateWorkload({ ...rich, seed: 2 }).jobs).not.toEqual(generateWorkload(rich).jobs)
  })

  it("produces exactly `jobs` jobs that all satisfy the WorkloadJob constraints", () => {
    const w = generateWorkload(rich)
    expect(w.jobs).toHaveLength(rich.jobs)
    expect(violations(w.jobs)).toEqual([])
    expect(w.name).toBe("synthetic-s1-n2000")
    expect(w.description).toContain("seed=1")
    expect(w.jobs.every((j) => j.maxAttempts === 3 && rich.queues!.includes(j.queue!))).toBe(true)
  })

  it("property: for any valid options, ids are sequential, arrivals non-decreasing and every job within its constraints", () => {
    const probability = fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined })
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer(),
          jobs: fc.integer({ min: 0, max: 60 }),
          arrivalRatePerHour: fc.double({ min: 0.01, max: 1e6, noNaN: true }),
          burstProbability: probability,
          users: fc.integer({ min: 1, max: 30 }),
          teams: fc.integer({ min: 0, max: 8 }),
          durationMedianMs: fc.double({ min: 1, max: 1e8, noNaN: true }),
          durationSigma: fc.double({ min: 0, max: 3, noNaN: true }),
          timeLimitProbability: probability,
          overrunProbability: probability,
          failureProbability: probability,
          approvalProbability: probability,
          cancelProbability: probability,
          deadlineProbability: probability,
          maxQueuedTimeProbability: probability
        }),
        (o) => {
          const w = generateWorkload({ ...o, gpuMix: GPU_MIX })
          return w.jobs.length === o.jobs && violations(w.jobs).length === 0 &&
            w.jobs.every((j) => (o.teams === 0) === (j.team === undefined))
        }
      ),
      { numRuns: 200 }
    )
  })

  it("has a mean inter-arrival time of 20k jobs within 3% of 1/rate", () => {
    // Inter-arrivals are exponential: the sd of the mean of n of them is mean/sqrt(n) ≈ 0.71% at
    // n = 20k, so 3% is > 4 sd. Rounding arrivals to whole ms moves the total by < 0.5 ms.
    const w = generateWorkload({ ...base, jobs: 20_000, arrivalRatePerHour: 360 })
    const meanGapMs = w.jobs[w.jobs.length - 1]!.arrivalMs / w.jobs.length
    expect(Math.abs(meanGapMs / 10_000 - 1)).toBeLessThan(0.03)
  })

  it("draws gpus with frequencies within 4 binomial sd of the gpuMix weights", () => {
    const n = 20_000
    const w = generateWorkload({ ...base, jobs: n })
    for (const [gpus, weight] of GPU_MIX) {
      const p = weight / 100
      expect(Math.abs(share(w.jobs, (j) => j.gpus === gpus) - p)).toBeLessThan(fourSd(p, n))
    }
  })

  it("draws lognormal durations with median durationMedianMs, capped at maxDurationMs", () => {
    // The share of durations below the true median is 1/2 with sd 0.5/sqrt(n).
    const n = 20_000
    const w = generateWorkload({ ...base, jobs: n, durationSigma: 2 })
    expect(Math.abs(share(w.jobs, (j) => j.durationMs < base.durationMedianMs) - 0.5)).toBeLessThan(fourSd(0.5, n))
    const capped = generateWorkload({ ...base, jobs: n, durationSigma: 2, maxDurationMs: 3_600_000 })
    expect(Math.max(...capped.jobs.map((j) => j.durationMs))).toBe(3_600_000)
  })

  it("puts each burst's jobs at one instant", () => {
    const w = generateWorkload({ ...base, jobs: 300, burstProbability: 1, burstSize: [3, 3] })
    for (let i = 0; i < 300; i += 3) {
      expect(w.jobs[i + 1]!.arrivalMs).toBe(w.jobs[i]!.arrivalMs)
      expect(w.jobs[i + 2]!.arrivalMs).toBe(w.jobs[i]!.arrivalMs)
    }
    expect(new Set(w.jobs.map((j) => j.arrivalMs)).size).toBe(100)
  })

  it("samples levels per user and maps each user to one team (user index mod teams)", () => {
    const w = generateWorkload(rich)
    const byUser = new Map<string, WorkloadJob>()
    for (const j of w.jobs) {
      const first = byUser.get(j.user) ?? j
      byUser.set(j.user, first)
      expect([j.level, j.team]).toEqual([first.level, first.team])
      const u = Number(j.user.slice(1)) - 1
      expect(j.team).toBe(`t${String((u % rich.teams) + 1).padStart(2, "0")}`)
    }
    expect(byUser.size).toBe(rich.users)
  })

  it("sets time limits: overruns below the duration at overrunProbability, the rest in (duration, 2·duration]", () => {
    const n = 20_000
    const w = generateWorkload({ ...rich, jobs: n })
    const limited = w.jobs.filter((j) => j.timeLimitMs !== undefined)
    expect(Math.abs(limited.length / n - 0.5)).toBeLessThan(fourSd(0.5, n))
    const overrun = limited.filter((j) => j.timeLimitMs! < j.durationMs)
    expect(Math.abs(overrun.length / limited.length - 0.2)).toBeLessThan(fourSd(0.2, limited.length))
    for (const j of overrun) expect(j.timeLimitMs!).toBeGreaterThanOrEqual(Math.floor(j.durationMs * 0.5))
    for (const j of limited.filter((x) => x.timeLimitMs! >= x.durationMs)) {
      expect(j.timeLimitMs!).toBeGreaterThan(j.durationMs)
      expect(j.timeLimitMs!).toBeLessThanOrEqual(Math.max(j.durationMs + 1, 2 * j.durationMs))
    }
  })

  it("applies failure, approval, reject, cancel, maxQueuedTime and deadline at their probabilities", () => {
    const n = 20_000
    const jobs = generateWorkload({ ...rich, jobs: n }).jobs
    expect(Math.abs(share(jobs, (j) => j.exitCode === 1) - 0.1)).toBeLessThan(fourSd(0.1, n))
    expect(Math.abs(share(jobs, (j) => j.requiresApproval === true) - 0.1)).toBeLessThan(fourSd(0.1, n))
    const decided = jobs.filter((j) => j.decision !== undefined)
    expect(Math.abs(share(decided, (j) => !j.decision!.approve) - 0.3)).toBeLessThan(fourSd(0.3, decided.length))
    expect(Math.abs(share(jobs, (j) => j.cancelAfterMs !== undefined) - 0.05)).toBeLessThan(fourSd(0.05, n))
    expect(Math.abs(share(jobs, (j) => j.maxQueuedTimeMs !== undefined) - 0.2)).toBeLessThan(fourSd(0.2, n))
    expect(Math.abs(share(jobs, (j) => j.deadlineMs !== undefined) - 0.2)).toBeLessThan(fourSd(0.2, n))
    for (const j of jobs) if (j.deadlineMs !== undefined) expect(j.deadlineMs).toBeGreaterThan(j.durationMs)
  })

  it("keeps arrivals, durations and gpus unchanged when only outcome probabilities change", () => {
    const shape = (js: ReadonlyArray<WorkloadJob>) => js.map((j) => [j.arrivalMs, j.durationMs, j.gpus, j.user])
    const a = generateWorkload(rich).jobs
    const b = generateWorkload({ ...rich, failureProbability: 0.9, cancelProbability: 0.5, approvalProbability: 0 }).jobs
    expect(shape(b)).toEqual(shape(a))
    expect(b).not.toEqual(a)
  })

  it.each<[string, Partial<GenerateOptions>, RegExp]>([
    ["a negative arrival rate", { arrivalRatePerHour: -1 }, /arrivalRatePerHour/],
    ["a zero arrival rate", { arrivalRatePerHour: 0 }, /arrivalRatePerHour/],
    ["a fractional job count", { jobs: 2.5 }, /jobs/],
    ["no users", { users: 0 }, /users/],
    ["a probability above 1", { failureProbability: 1.5 }, /failureProbability/],
    ["a NaN probability", { cancelProbability: Number.NaN }, /cancelProbability/],
    ["an inverted burst size", { burstSize: [5, 2] }, /burstSize/],
    ["an empty gpu mix", { gpuMix: [] }, /gpuMix/],
    ["negative gpus", { gpuMix: [[-1, 1]] }, /gpuMix/],
    ["all-zero level weights", { levels: [["admin", 0]] }, /levels/],
    ["a zero median duration", { durationMedianMs: 0 }, /durationMedianMs/],
    ["a negative sigma", { durationSigma: -1 }, /durationSigma/],
    ["no queues", { queues: [] }, /queues/],
    ["zero max attempts", { maxAttempts: 0 }, /maxAttempts/]
  ])("rejects %s with a RangeError naming the option", (_, patch, message) => {
    expect(() => generateWorkload({ ...base, ...patch })).toThrow(RangeError)
    expect(() => generateWorkload({ ...base, ...patch })).toThrow(message)
  })
})

describe("mmcWorkload", () => {
  const o = { seed: 7, jobs: 20_000, servers: 4, load: 0.8, meanServiceMs: 60_000 }

  it("has a sample mean service time within 3% of meanServiceMs", () => {
    // Service times are exponential: sd of the mean of 20k is 1/sqrt(20k) ≈ 0.71% of the mean,
    // so 3% is > 4 sd; rounding to whole ms (at least 1) shifts the mean by well under 0.01%.
    const jobs = mmcWorkload(o).jobs
    const meanServiceMs = jobs.reduce((s, j) => s + j.durationMs, 0) / jobs.length
    expect(Math.abs(meanServiceMs / o.meanServiceMs - 1)).toBeLessThan(0.03)
  })

  it("arrives at lambda = load·c/meanService within 3% (same 4-sd argument)", () => {
    const jobs = mmcWorkload(o).jobs
    const meanGapMs = jobs[jobs.length - 1]!.arrivalMs / jobs.length
    expect(Math.abs(meanGapMs / (o.meanServiceMs / (o.load * o.servers)) - 1)).toBeLessThan(0.03)
  })

  it("has 1 GPU each, one user, no limits or actions, and states lambda, mu and c", () => {
    const w = mmcWorkload({ ...o, jobs: 500 })
    expect(violations(w.jobs)).toEqual([])
    expect(new Set(w.jobs.map((j) => j.user))).toEqual(new Set(["u001"]))
    for (const j of w.jobs) {
      expect(j.gpus).toBe(1)
      expect(j.exitCode).toBe(0)
      expect([j.timeLimitMs, j.deadlineMs, j.maxQueuedTimeMs, j.cancelAfterMs, j.decision]).toEqual(
        [undefined, undefined, undefined, undefined, undefined]
      )
    }
    expect(w.description).toMatch(/lambda=192 jobs\/h/) // 0.8 × 4 / 1 min = 3.2/min = 192/h
    expect(w.description).toMatch(/mu=60 jobs\/h/)
    expect(w.description).toMatch(/c=4/)
    expect(mmcWorkload({ ...o, jobs: 500 })).toEqual(w)
  })

  it("rejects an unstable or nonsensical configuration", () => {
    expect(() => mmcWorkload({ ...o, load: 1 })).toThrow(RangeError)
    expect(() => mmcWorkload({ ...o, servers: 0 })).toThrow(/servers/)
    expect(() => mmcWorkload({ ...o, meanServiceMs: -5 })).toThrow(/meanServiceMs/)
  })
})
