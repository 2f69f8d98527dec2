import { describe, expect, it } from "vitest"
import { presetPolicy } from "../src/Policies.js"
import { COMPARED_METRICS, formatWhatIf, verdictOf, whatIf } from "../src/WhatIf.js"
import { generateWorkload } from "../src/Workload.js"

const workload = generateWorkload({
  seed: 5, jobs: 300, arrivalRatePerHour: 30, users: 6, teams: 3,
  gpuMix: [[1, 6], [2, 3], [4, 1]], durationMedianMs: 20 * 60_000, durationSigma: 1.2, timeLimitProbability: 0.7
})
const metric = (key: string) => COMPARED_METRICS.find((c) => c.key === key)!

describe("whatIf", () => {
  it("replays each policy with the wait threshold, a label per policy, and series only when asked", () => {
    const r = whatIf({
      workload, gpus: 8, seed: 5, waitThresholdMs: 30 * 60_000, series: true,
      policies: [{ name: "fifo", policy: presetPolicy.fifo }, { name: "backfill", label: "v2", policy: presetPolicy.backfill }]
    })
    expect(r.waitThresholdMs).toBe(1_800_000)
    expect(r.policies.map((p) => [p.name, p.label, p.metrics.longWaits.thresholdMs])).toEqual([["fifo", null, 1_800_000], ["backfill", "v2", 1_800_000]])
    for (const p of r.policies) expect(p.series!.busyGpus.length).toBeGreaterThan(0)
    const plain = whatIf({ workload, gpus: 8, seed: 5, policies: [{ name: "fifo", policy: presetPolicy.fifo }] })
    expect(plain.waitThresholdMs).toBe(3_600_000)
    expect(plain.policies[0]!.series).toBeUndefined()
  })

  it("judges each difference by the metric's direction: lower waits, higher utilisation and fairness are better", () => {
    expect(verdictOf(metric("waitP95Ms"), 10, 20)).toBe("better")
    expect(verdictOf(metric("waitP95Ms"), 30, 20)).toBe("worse")
    expect(verdictOf(metric("gpuUtilisation"), 0.9, 0.8)).toBe("better")
    expect(verdictOf(metric("jainFairnessTeams"), 0.5, 0.8)).toBe("worse")
    expect(verdictOf(metric("longWaits"), 3, 3)).toBe("same")
  })

  it("marks the table's differences against the first policy ✓ better or ✗ worse", () => {
    const r = whatIf({ workload, gpus: 8, seed: 5, policies: [{ name: "fifo", policy: presetPolicy.fifo }, { name: "backfill", policy: presetPolicy.backfill }] })
    const text = formatWhatIf(r)
    expect(text).toMatch(/^workload synthetic-s5-n300 \(300 jobs\), 8 GPUs, seed 5\nlong waits: jobs that waited over 1\.0h to start$/m)
    expect(text).toMatch(/^policy +jobs +started +wait p50 +wait p95 .* jain users +jain teams +long waits$/m)
    const diff = text.split("\n").findLast((l) => l.startsWith("backfill "))!
    const [fifo, backfill] = r.policies.map((p) => p.metrics.overall.waitMeanMs)
    // backfill's mean wait is no longer than fifo's (the same runs, another order)
    expect(backfill!).toBeLessThan(fifo!)
    expect(diff).toMatch(/ -\S+ ✓/)
    expect(text).toContain("(✓ better, ✗ worse than fifo)")
  })
})
