import { generateWorkload, simulate } from "@gantry/sim"
import { describe, expect, it } from "vitest"

const workload = (seed: number) =>
  generateWorkload({
    seed,
    jobs: 400,
    arrivalRatePerHour: 240,
    burstProbability: 0.1,
    users: 8,
    teams: 3,
    levels: [["researcher", 6], ["lead", 2], ["admin", 1]],
    gpuMix: [[0, 1], [1, 6], [2, 2], [4, 1], [8, 1]],
    durationMedianMs: 10 * 60_000,
    durationSigma: 1.2,
    timeLimitProbability: 0.5,
    overrunProbability: 0.1,
    failureProbability: 0.1,
    approvalProbability: 0.05,
    rejectProbability: 0.3,
    cancelProbability: 0.05,
    maxQueuedTimeProbability: 0.05,
    deadlineProbability: 0.05,
    maxAttempts: 2
  })

describe("determinism (SPEC §6.12)", () => {
  it("same seed and workload twice → byte-identical event logs", () => {
    const first = simulate({ seed: 11, workload: workload(11), gpus: 8, lostProbability: 0.02 })
    const second = simulate({ seed: 11, workload: workload(11), gpus: 8, lostProbability: 0.02 })
    expect(first.eventLog!.length).toBeGreaterThan(400)
    expect(second.eventLog!.join("\n")).toBe(first.eventLog!.join("\n"))
    expect(second.header).toBe(first.header)
  })

  it("a different seed gives a different log", () => {
    const a = simulate({ seed: 1, workload: workload(1), gpus: 8 })
    const b = simulate({ seed: 2, workload: workload(2), gpus: 8 })
    expect(a.eventLog!.join("\n")).not.toBe(b.eventLog!.join("\n"))
  })

  it("prints SEED and its derived options first", () => {
    const lines: Array<string> = []
    simulate({ seed: 5, workload: workload(5), gpus: 4, print: (line) => lines.push(line) })
    expect(lines[0]).toMatch(/^SEED=5 workload=\S+ jobs=400 gpus=4 /)
  })

  it("every accepted run ends terminal (a finite workload of finite runs)", () => {
    const report = simulate({ seed: 3, workload: workload(3), gpus: 8 })
    const live = Object.entries(report.metrics.byStatus).filter(([status]) => !["completed", "failed", "cancelled", "rejected"].includes(status))
    expect(report.submitted).toBe(400)
    expect(live).toEqual([])
  })
})
