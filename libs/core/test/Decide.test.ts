/**
 * decide(): the differential property against the full-scan reference, purity, the
 * invariants of one decision (SPEC §4, §6.1, §6.2, §6.4) and the work it does at scale.
 * Table-driven scenarios are in Decide.scenarios.test.ts.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { decide, decideByScan, defaultPolicy, type Policy, type Run, RunId, type Snapshot } from "../src/internal.js"
import { aRun, aSnapshot } from "../src/Testing.js"
import { ALL_REASONS, build, runs, scenarioArb, snapshotOf } from "./arbitraries.js"
import { afterStarts, falseReasons, reservationDelays, violations } from "./checks.js"

const scenarios = scenarioArb()

const stateOf = (s: Snapshot) => ({
  size: s.pending.size,
  runs: [...s.pending.runs()].map((r) => JSON.stringify(r)).sort(),
  classes: [...s.pending.classes()].map((c) => ({
    key: c.key,
    lanes: c.lanes.values().map((lane) => ({
      key: lane.key,
      heapIndex: lane.heapIndex,
      head: lane.head.run.id,
      entries: lane.runs.values().map((e) => [e.run.id, e.heapIndex])
    }))
  })),
  running: {
    count: s.running.count,
    gpusHeld: s.running.gpusHeld,
    localJobs: s.running.localJobs,
    localGpus: s.running.localGpus,
    runs: [...s.running.values()].map((r) => r.id),
    perName: ["u1", "u2", "u3", "u4", "u5", "t1", "t2", "t3", "default", "q1", "q2", "q3"].map((n) => [
      s.running.userCount(n as never),
      s.running.teamCount(n as never),
      s.running.queueCount(n as never),
      s.running.queueTopLevelCount(n as never),
      s.running.queueGpus(n as never)
    ])
  }
})

describe("decide: differential against decideByScan", () => {
  it("decide(s).starts deep-equals decideByScan(s).starts on random snapshots (1000 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const b = build(sc)
        const fast = decide(snapshotOf(b))
        const scan = decideByScan(snapshotOf(b))
        expect(fast.starts).toEqual(scan.starts)
      }),
      runs(1000)
    )
  })

  it("decide equals decideByScan in fair-share usage mode with per-user classes (500 cases)", () => {
    fc.assert(
      fc.property(scenarioArb({ modes: ["usage"] }), (sc) => {
        const s = snapshotOf(build(sc))
        expect(s.pending.usesPerUserClasses).toBe(true)
        expect(decide(s).starts).toEqual(decideByScan(s).starts)
      }),
      runs(500)
    )
  })

  it("decide's reservation equals decideByScan's (500 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const s = snapshotOf(build(sc))
        expect(decide(s).reservation).toEqual(decideByScan(s).reservation)
      }),
      runs(500)
    )
  })
})

describe("decide: purity", () => {
  it("decide does not mutate the snapshot: pending runs, sizes, lane heads and running counts unchanged (300 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const s = snapshotOf(build(sc))
        const before = stateOf(s)
        const d = decide(s)
        d.reasonOf("r1" as RunId)
        expect(stateOf(s)).toEqual(before)
        // and deciding again on the same snapshot gives the same answer
        expect(decide(s).starts).toEqual(d.starts)
      }),
      runs(300)
    )
  })
})

describe("decide: invariants of one decision", () => {
  it("no GPU twice, only free undrained GPUs, exactly `gpus` each, strict deviceIds and gpuPool honoured (500 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const s = snapshotOf(build(sc))
        const gpuRules = violations(s, decide(s).starts).filter((v) => /GPU|deviceIds|pool|got|started/.test(v))
        expect(gpuRules).toEqual([])
      }),
      runs(500)
    )
  })

  it("no §4 limit is exceeded once the starts are added to the running counts (500 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const s = snapshotOf(build(sc))
        expect(violations(s, decide(s).starts)).toEqual([])
      }),
      runs(500)
    )
  })

  it("reasonOf is null exactly for started and non-pending runs, a WaitReason for every other pending run (300 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const b = build(sc)
        const s = snapshotOf(b)
        const d = decide(s)
        const started = new Set(d.starts.map((x) => x.runId))
        for (const run of b.pending) {
          const reason = d.reasonOf(run.id)
          if (started.has(run.id)) expect(reason).toBeNull()
          else expect(ALL_REASONS).toContain(reason)
        }
        for (const active of b.running) expect(d.reasonOf(active.id)).toBeNull()
        expect(d.reasonOf(RunId.make("no-such-run"))).toBeNull()
      }),
      runs(300)
    )
  })

  it("every checkable wait reason is true at the end of the cycle (300 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const s = snapshotOf(build(sc))
        expect(falseReasons(s, decide(s))).toEqual([])
      }),
      runs(300)
    )
  })

  it("backfill never delays the reservation: its GPUs are ready at the shadow time (SPEC §6.10, 500 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const s = snapshotOf(build(sc))
        expect(reservationDelays(s, decide(s))).toEqual([])
      }),
      runs(500)
    )
  })

  // SPEC §6.4: a cycle is a fixed point
  it("work conservation: decideByScan after applying the starts starts nothing (500 cases)", () => {
    fc.assert(
      fc.property(scenarios, (sc) => {
        const b = build(sc)
        const d = decide(snapshotOf(b))
        const next = snapshotOf(afterStarts(b, d.starts))
        expect(decideByScan(next).starts).toEqual([])
        expect(decide(next).starts).toEqual([])
      }),
      runs(500)
    )
  })
})

describe("decide: work conservation with deadlines (regression)", () => {
  // Backfill eligibility and holders' end bounds must use the same bound: when a holder's
  // endBy counted its deadline but backfill used the time limit only, a run with a deadline
  // before the shadow was charged to the spare GPUs, and the next cycle found them free again.
  it("behind a reservation, runs with deadlines before their time limits: the next cycle starts nothing (300 cases)", () => {
    const bound = fc.constantFrom(null, 1, 50)
    const tail = fc.array(fc.record({ timeLimitMs: bound, deadlineAt: bound }), { minLength: 1, maxLength: 5 })
    const setup = fc.integer({ min: 4, max: 8 }).chain((gpuCount) =>
      fc.record({ gpuCount: fc.constant(gpuCount), held: fc.integer({ min: 2, max: gpuCount - 2 }), tail })
    )
    fc.assert(
      fc.property(setup, ({ gpuCount, held, tail }) => {
        const b = {
          now: 0,
          policy: defaultPolicy,
          gpuCount,
          drained: [],
          queues: [],
          usage: null,
          running: [],
          pending: [
            aRun({ id: "a", seq: 1, gpus: held, timeLimitMs: 1, deadlineAt: 1 }),
            aRun({ id: "big", seq: 2, gpus: gpuCount - 1 }),
            ...tail.map((o, i) => aRun({ id: `t${i + 1}`, seq: i + 3, gpus: 1, ...o }))
          ]
        }
        const d = decide(snapshotOf(b))
        expect(decideByScan(snapshotOf(afterStarts(b, d.starts))).starts).toEqual([])
      }),
      runs(300)
    )
  })
})

describe("decide at scale", () => {
  const USERS = 50
  const manyRuns = (n: number): Array<Run> =>
    Array.from({ length: n }, (_, i) =>
      aRun({
        id: `s${i}`,
        seq: i + 1,
        user: `user${i % USERS}`,
        team: `team${i % 5}`,
        gpus: 1 + (i % 2),
        eligibleAt: (i * 7919) % 1000
      })
    )
  const pending = manyRuns(20_000)
  const laneCount = (s: Snapshot) => [...s.pending.classes()].reduce((n, c) => n + c.lanes.size, 0)
  const withLimits = (limits: Partial<Policy["limits"]>, mode: Policy["fairShare"]["mode"] = "off"): Policy => ({
    ...defaultPolicy,
    limits: { ...defaultPolicy.limits, userMaxConcurrent: 1, ...limits },
    fairShare: { ...defaultPolicy.fairShare, mode }
  })

  it.each([
    { name: "global limit 4 stops the walk", policy: withLimits({ maxConcurrent: 4 }), stop: true },
    { name: "the 8 GPUs run out", policy: withLimits({}), stop: false },
    { name: "usage mode, a class per user", policy: withLimits({}, "usage"), stop: false }
  ])("20,000 pending runs of 50 users, userMax 1, 8 GPUs: examines at most lanes + starts ($name)", ({ policy, stop }) => {
    const usage = { user: (u: string) => Number(u.slice(4)) % 7, team: () => 0 }
    const s = aSnapshot({ policy, gpus: 8, pending, usage })
    expect(s.pending.size).toBe(20_000)
    const d = decide(s)
    const lanes = laneCount(s)
    expect(lanes).toBeLessThanOrEqual(2 * USERS)
    expect(d.starts.length).toBeGreaterThan(0)
    expect(d.examined).toBeLessThanOrEqual(lanes + d.starts.length)
    expect(d.examined).toBeLessThan(s.pending.size / 100)
    expect(decideByScan(s).starts).toEqual(d.starts)
    // one start per user; the walk ends at the global cap, or when every GPU is in use or
    // reserved for a 2-GPU run that no longer fits (no holder has an end bound: no backfill)
    expect(new Set(d.starts.map((x) => pending.find((r) => r.id === x.runId)!.user)).size).toBe(d.starts.length)
    if (stop) {
      expect(d.starts.length).toBe(4)
      expect(d.otherwise).toBe("global-limit")
    } else {
      const used = d.starts.reduce((n, x) => n + x.gpus.length, 0)
      expect(used === 8 || (used === 7 && d.reservation?.gpus === 2)).toBe(true)
    }
  })
})
