/**
 * Regression: a reservation protects its holder's count slots even against a run that would
 * end by the shadow time (else the reservation lapses and the runs it held back take its
 * GPUs). Other fixed bugs are guarded in Decide.scenarios.test.ts, PendingIndex.test.ts and
 * Order.test.ts.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { decide, decideByScan, defaultPolicy, type Policy } from "../src/internal.js"
import { anActiveRun, aRun, aSnapshot } from "../src/Testing.js"
import { runs } from "./arbitraries.js"

const policy: Policy = { ...defaultPolicy, limits: { ...defaultPolicy.limits, maxConcurrent: 20, userMaxConcurrent: 1 } }

describe("BUG: a run backfilled on its time limit takes the slot the holder needs, the reservation lapses (SPEC §6.10)", () => {
  // 4 GPUs; zed holds [0, 1] until 100. ana's `big` needs 4: it reserves them all, shadowAt 100.
  // ana's `short` (1 GPU, time limit 50) ends by the shadow, so it is let through both the GPU
  // and the count protection, and takes ana's only slot (userMax 1). `big` can no longer start
  // this cycle: its reservation lapses, the walk repeats without it, and bob's unbounded `long`
  // takes GPU 3. At 100 `big` finds 3 GPUs: the backfill delayed the reservation, for as long
  // as `long` runs. Without `short`, `long` waits gpu-reserved and `big` starts at 100.
  const snapshot = () =>
    aSnapshot({
      policy,
      gpus: 4,
      running: [anActiveRun({ id: "z", seq: 0, user: "zed", holds: [0, 1], endBy: 100 })],
      pending: [
        aRun({ id: "big", seq: 1, user: "ana", gpus: 4 }),
        aRun({ id: "short", seq: 2, user: "ana", gpus: 1, timeLimitMs: 50 }),
        aRun({ id: "long", seq: 3, user: "bob", gpus: 1 })
      ]
    })

  it("big keeps its reservation and no unbounded run takes its GPUs", () => {
    const d = decide(snapshot())
    expect(d.reservation).toEqual({ runId: "big", gpus: 4, allowed: [0, 1, 2, 3], shadowAt: 100 })
    expect(d.starts.map((x) => x.runId)).not.toContain("long")
    expect(decideByScan(snapshot()).starts).toEqual(d.starts)
  })

  it("a GPU run of the holder's user never starts while the holder reserves; only 0-GPU runs may void it (300 cases)", () => {
    const tailRun = fc.record({
      user: fc.constantFrom("ana", "bob"),
      gpus: fc.integer({ min: 0, max: 2 }),
      timeLimitMs: fc.constantFrom(null, 50, 500)
    })
    const setup = fc.record({ gpuCount: fc.integer({ min: 4, max: 8 }), tail: fc.array(tailRun, { minLength: 1, maxLength: 6 }) })
    fc.assert(
      fc.property(setup, ({ gpuCount, tail }) => {
        const s = aSnapshot({
          policy,
          gpus: gpuCount,
          running: [anActiveRun({ id: "z", seq: 0, user: "zed", holds: [0, 1], endBy: 100 })],
          pending: [
            aRun({ id: "big", seq: 1, user: "ana", gpus: gpuCount }),
            ...tail.map((o, i) => aRun({ id: `t${i + 1}`, seq: i + 2, ...o }))
          ]
        })
        const d = decide(s)
        const started = d.starts.map((x) => s.pending.get(x.runId)!.run)
        expect(started.filter((r) => r.user === "ana" && r.gpus > 0).map((r) => r.id)).toEqual([])
        if (!started.some((r) => r.user === "ana")) expect(d.reservation?.runId).toBe("big")
      }),
      runs(300)
    )
  })
})
