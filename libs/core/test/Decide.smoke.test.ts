import { describe, expect, it } from "vitest"
import { decide, decideByScan, makeQueue, sharedPolicy, defaultPolicy } from "../src/index.js"
import { aRun, aSnapshot, anActiveRun } from "../src/Testing.js"

describe("decide (smoke)", () => {
  it("fair-share example: Alpha 3 running + 1 team-limit, Beta 2 running + 1 user-limit", () => {
    const policy = { ...sharedPolicy, limits: { ...sharedPolicy.limits, maxConcurrent: 6, userMaxConcurrent: 2, teamMaxConcurrent: 3 } }
    const pending = [
      aRun({ id: "a1", user: "alice", team: "alpha", gpus: 0, eligibleAt: 1 }),
      aRun({ id: "a2", user: "alice", team: "alpha", gpus: 0, eligibleAt: 2 }),
      aRun({ id: "a3", user: "arno", team: "alpha", gpus: 0, eligibleAt: 3 }),
      aRun({ id: "a4", user: "arno", team: "alpha", gpus: 0, eligibleAt: 4 }),
      aRun({ id: "b1", user: "bea", team: "beta", gpus: 0, eligibleAt: 5 }),
      aRun({ id: "b2", user: "bea", team: "beta", gpus: 0, eligibleAt: 6 }),
      aRun({ id: "b3", user: "bea", team: "beta", gpus: 0, eligibleAt: 7 })
    ]
    const s = aSnapshot({ policy, gpus: 0, pending })
    const d = decide(s)
    expect(d.starts.map((x) => x.runId)).toEqual(["a1", "a2", "a3", "b1", "b2"])
    expect(d.reasonOf("a4" as never)).toBe("team-limit")
    expect(d.reasonOf("b3" as never)).toBe("user-limit")
    expect(decideByScan(s).starts).toEqual(d.starts)
  })
  it("EASY backfill", () => {
    const running = [anActiveRun({ id: "big", holds: [0, 1, 2, 3], endBy: 1000 })]
    const pending = [
      aRun({ id: "eight", gpus: 8, eligibleAt: 1 }),
      aRun({ id: "short", gpus: 2, eligibleAt: 2, timeLimitMs: 500 }),
      aRun({ id: "long", gpus: 2, eligibleAt: 3, timeLimitMs: 5000 }),
      aRun({ id: "nolimit", gpus: 1, eligibleAt: 4 }),
      aRun({ id: "cpu", gpus: 0, eligibleAt: 5 })
    ]
    const s = aSnapshot({ policy: { ...defaultPolicy, limits: { ...defaultPolicy.limits, maxConcurrent: 10 } }, gpus: 8, running, pending, queues: [makeQueue("default")] })
    const d = decide(s)
    expect(d.reservation?.runId).toBe("eight")
    expect(d.reservation?.shadowAt).toBe(1000)
    expect(d.starts).toEqual([{ runId: "short", gpus: [4, 5], backfill: true }, { runId: "cpu", gpus: [], backfill: false }])
    expect(d.reasonOf("long" as never)).toBe("gpu-reserved")
    expect(decideByScan(s).starts).toEqual(d.starts)
  })
})
