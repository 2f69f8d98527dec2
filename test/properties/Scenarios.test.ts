/**
 * Table-driven scenarios through the real engine on simulated time (Harness.ts): the
 * behaviours of SPEC §2–§5 a user relies on, each with exact instants.
 */
import { defaultPolicy, makeQueue, type Policy, type RunId, type RunStatus } from "@gantry/core"
import { simulate, type WorkloadJob } from "@gantry/sim"
import { describe, expect, it } from "vitest"
import { type Behaviour, Harness, type SubmitOptions } from "./Harness.js"

const MIN = 60_000

const policyWith = (o: Partial<Omit<Policy, "limits">> & { limits?: Partial<Policy["limits"]> } = {}): Policy => ({
  ...defaultPolicy,
  ...o,
  limits: { ...defaultPolicy.limits, ...o.limits }
})

describe("fair share in `limits` mode (the issue's example)", () => {
  // maxConcurrent 6, userMax 2, teamMax 3; 8 GPUs so that GPUs never decide.
  // Team Alpha: ana and ben submit 2 runs each; team Beta: cat submits 3. All at t=0.
  const setup = () => {
    const h = new Harness({
      gpus: 8,
      policy: policyWith({ limits: { maxConcurrent: 6, userMaxConcurrent: 2, teamMaxConcurrent: 3 }, fairShare: { mode: "limits", halfLifeMs: 86_400_000 } })
    })
    const ids: Record<string, RunId> = {}
    for (const [name, user, team] of [
      ["ana-1", "ana", "alpha"],
      ["ana-2", "ana", "alpha"],
      ["ben-1", "ben", "alpha"],
      ["ben-2", "ben", "alpha"],
      ["cat-1", "cat", "beta"],
      ["cat-2", "cat", "beta"],
      ["cat-3", "cat", "beta"]
    ] as const)
      ids[name] = h.submit({ user, team, gpus: 1, name }, { durationMs: 60 * MIN })
    h.run(0)
    return { h, ids }
  }

  it.each<[string, RunStatus, string | null]>([
    ["ana-1", "running", null],
    ["ana-2", "running", null],
    ["ben-1", "running", null],
    ["ben-2", "pending", "team-limit"],
    ["cat-1", "running", null],
    ["cat-2", "running", null],
    ["cat-3", "pending", "user-limit"]
  ])("%s is %s (journal reason: %s)", (name, status, reason) => {
    const { h, ids } = setup()
    expect(h.statusOf(ids[name]!)).toBe(status)
    const entry = h.journal.at(-1)!
    expect(entry.at).toBe(0)
    expect(entry.waits.find((w) => w.runId === ids[name])?.reason ?? null).toBe(reason)
  })

  it("Alpha has 3 running and 1 waiting, Beta 2 running and 1 waiting; 5 < maxConcurrent 6", () => {
    const { h } = setup()
    const entry = h.journal.at(-1)!
    expect(entry.starts).toHaveLength(5)
    expect(entry.waits.map((w) => w.reason).sort()).toEqual(["team-limit", "user-limit"])
    expect(entry.otherwise).not.toBe("global-limit")
  })

  it("when an Alpha run ends, Alpha's waiting run starts at that instant; Beta's keeps waiting on its user limit", () => {
    const { h, ids } = setup()
    h.at(10 * MIN, () => void h.cancel([ids["ana-1"]!]))
    h.run(10 * MIN)
    expect(h.startedAt(ids["ben-2"]!)).toBe(10 * MIN)
    expect(h.statusOf(ids["cat-3"]!)).toBe("pending")
    expect(h.lastWaitOf(ids["cat-3"]!)).toBe("user-limit")
  })
})

describe("aging lifts a starved run (SPEC §3)", () => {
  // 1 GPU. A lead's run holds it for 10 min; a researcher's run L (priority 10) waits from
  // t=1 ms; a lead's run (priority 20) arrives one second before each slot frees, six times.
  // Aging: +5 per 10 min waited beyond 20 min. L waits 50 min - 1 ms at the 5th slot:
  // 10 + 5 × floor(30 min - 1 ms / 10 min) = 20 = the newcomer's 20, and L is eligible
  // earlier, so L wins. Without aging every newcomer goes first and L starts last.
  const scenario = (aging: Policy["aging"]) => {
    const h = new Harness({ gpus: 1, policy: policyWith({ aging }) })
    const behaviour: Behaviour = { durationMs: 10 * MIN }
    h.submit({ user: "boss", level: "lead" }, behaviour)
    const low = h.submitAt(1, { user: "rae", level: "researcher" }, behaviour)
    const leads = [1, 2, 3, 4, 5, 6].map((i) => h.submitAt(i * 10 * MIN - 1_000, { user: "lee", level: "lead" }, behaviour))
    h.run()
    return { h, low: low.id!, leads: leads.map((r) => r.id!) }
  }

  it.each<[string, Policy["aging"], number]>([
    ["on (20 min threshold, +5 per 10 min)", { starvationThresholdMs: 20 * MIN, agingStep: 5, agingIntervalMs: 10 * MIN }, 50 * MIN],
    ["off", null, 70 * MIN]
  ])("aging %s: the researcher's run starts at the expected slot", (_label, aging, expected) => {
    const { h, low, leads } = scenario(aging)
    expect(h.startedAt(low)).toBe(expected)
    // the GPU never idles: the newcomers fill every other slot in arrival order
    const starts = [...leads.map((id) => h.startedAt(id)!), h.startedAt(low)!].sort((a, b) => a - b)
    expect(starts).toEqual([10, 20, 30, 40, 50, 60, 70].map((m) => m * MIN))
  })
})

describe("EASY backfill (SPEC §4)", () => {
  // 8 GPUs. X holds 4 with a 60 min time limit (it exits at 59 min). Big needs all 8 at t=1 s:
  // it reserves, guaranteed by X's limit at t=60 min. S (2 GPUs, 30 min limit) fits before
  // that and backfills; L (2 GPUs, 120 min limit) would delay Big and waits; a 0-GPU run is
  // never held back.
  const scenario = (backfill: boolean) => {
    const h = new Harness({ gpus: 8, policy: policyWith({ backfill }) })
    const x = h.submit({ user: "xan", gpus: 4, timeLimitMs: 60 * MIN }, { durationMs: 59 * MIN })
    const big = h.submitAt(1_000, { user: "bea", gpus: 8 }, { durationMs: 10 * MIN })
    const short = h.submitAt(2_000, { user: "sam", gpus: 2, timeLimitMs: 30 * MIN }, { durationMs: 20 * MIN })
    const long = h.submitAt(3_000, { user: "lou", gpus: 2, timeLimitMs: 120 * MIN }, { durationMs: 20 * MIN })
    const cpu = h.submitAt(4_000, { user: "cpu", gpus: 0 }, { durationMs: 5 * MIN })
    h.run()
    return { h, x, big: big.id!, short: short.id!, long: long.id!, cpu: cpu.id! }
  }

  it("Big's reservation is guaranteed at X's time limit (shadowAt = 60 min)", () => {
    const { h, big } = scenario(true)
    const entry = h.journal.find((e) => e.reservation?.runId === big)!
    expect(entry.at).toBe(1_000)
    expect(entry.reservation).toEqual({ runId: big, gpus: 8, allowed: [0, 1, 2, 3, 4, 5, 6, 7], shadowAt: 60 * MIN })
  })

  it.each<[string, boolean, Record<"short" | "long" | "big" | "cpu", number>]>([
    ["on", true, { short: 2_000, cpu: 4_000, big: 59 * MIN, long: 69 * MIN }],
    ["off", false, { short: 69 * MIN, cpu: 4_000, big: 59 * MIN, long: 69 * MIN }]
  ])("backfill %s: start instants", (_label, backfill, expected) => {
    const { h, short, long, big, cpu } = scenario(backfill)
    expect({ short: h.startedAt(short), long: h.startedAt(long), big: h.startedAt(big), cpu: h.startedAt(cpu) }).toEqual(expected)
  })

  it("the short run starts as a backfill on free GPUs and ends before the reservation's shadow; the long one waits gpu-reserved", () => {
    const { h, short, long, big } = scenario(true)
    expect(h.startOf(short)).toMatchObject({ at: 2_000, gpus: [4, 5], backfill: true })
    expect(h.eventsOf(short).at(-1)).toMatchObject({ to: "completed", at: 2_000 + 20 * MIN })
    const waits = h.journal.filter((e) => e.at === 3_000).flatMap((e) => e.waits)
    expect(waits.find((w) => w.runId === long)?.reason).toBe("gpu-reserved")
    // not delayed: Big starts the instant X exits, before its guaranteed 60 min
    expect(h.startOf(big)).toMatchObject({ at: 59 * MIN, gpus: [0, 1, 2, 3, 4, 5, 6, 7], backfill: false })
  })
})

describe("bulk cancel is one command (SPEC §5)", () => {
  it("cancel([6 ids]) at t=5 min: all cancelled at that instant, and the next cycle starts nothing", () => {
    const h = new Harness({ gpus: 2 })
    const ids = Array.from({ length: 6 }, (_, i) => h.submit({ user: `u${i}`, gpus: 1 }, { durationMs: 60 * MIN }))
    let answered: ReadonlyArray<RunId> = []
    h.at(5 * MIN, () => {
      answered = h.cancel(ids)
    })
    h.run()
    expect([...answered].sort()).toEqual([...ids].sort())
    for (const id of ids) {
      expect(h.statusOf(id)).toBe("cancelled")
      expect(h.eventsOf(id).at(-1)!.at).toBe(5 * MIN)
    }
    expect(h.events.filter((e) => e.to === "running").map((e) => e.at)).toEqual([0, 0])
    const after = h.journal.filter((e) => e.at >= 5 * MIN)
    expect(after.length).toBeGreaterThan(0)
    expect(after[0]).toMatchObject({ at: 5 * MIN, starts: [], inputs: { pending: 0, running: 0, freeGpus: 2 } })
  })
})

describe("retries (SPEC §2: back to pending while attempt < maxAttempts)", () => {
  it.each<[string, number, ReadonlyArray<number>, RunStatus, number, ReadonlyArray<string>]>([
    ["fails twice then succeeds", 3, [1, 1, 0], "completed", 3, ["∅ → pending", "pending → running", "running → pending", "pending → running", "running → pending", "pending → running", "running → completed"]],
    ["fails three times", 3, [1, 1, 1], "failed", 3, ["∅ → pending", "pending → running", "running → pending", "pending → running", "running → pending", "pending → running", "running → failed"]],
    ["maxAttempts 1 never retries", 1, [1, 0], "failed", 1, ["∅ → pending", "pending → running", "running → failed"]]
  ])("%s", (_label, maxAttempts, exitCodes, status, attempts, path) => {
    const h = new Harness({ gpus: 1 })
    const id = h.submit({ user: "ana", maxAttempts }, { durationMs: 10 * MIN, exitCodes })
    h.run()
    const run = h.runOf(id)
    expect(run.status).toBe(status)
    expect(run.attempt).toBe(attempts)
    if (status === "failed") expect(run.failReason).toBe("exit-code")
    expect(h.timelineOf(id).map(([, step]) => step)).toEqual(path)
    // each attempt starts the instant the previous one failed (eligible again at the retry time)
    expect(h.events.filter((e) => e.runId === id && e.to === "running").map((e) => [e.at, e.attempt])).toEqual(
      Array.from({ length: attempts }, (_, i) => [i * 10 * MIN, i + 1])
    )
  })

  it("a retry is eligible at its retry time: a run waiting since earlier goes first", () => {
    const h = new Harness({ gpus: 1 })
    const r = h.submit({ user: "ana", maxAttempts: 2 }, { durationMs: 10 * MIN, exitCodes: [1, 0] })
    const q = h.submitAt(1 * MIN, { user: "bob" }, { durationMs: 10 * MIN })
    h.run()
    expect(h.startedAt(q.id!)).toBe(10 * MIN)
    expect(h.startedAt(r, 2)).toBe(20 * MIN)
    expect(h.eventsOf(r).find((e) => e.to === "pending" && e.from === "running")).toMatchObject({ at: 10 * MIN, reason: "retry", attempt: 2 })
  })
})

describe("approvals (SPEC §4)", () => {
  it("approve → pending with eligible time = approval time; a later plain run that became eligible earlier goes first", () => {
    const h = new Harness({ gpus: 1 })
    h.submit({ user: "hog" }, { durationMs: 20 * MIN })
    const a = h.submit({ user: "ana", requiresApproval: true }, { durationMs: 10 * MIN })
    expect(h.statusOf(a)).toBe("blocked")
    const b = h.submitAt(5 * MIN, { user: "bob" }, { durationMs: 10 * MIN })
    h.at(10 * MIN, () => void h.approve(a))
    h.run()
    expect(h.eventsOf(a).find((e) => e.from === "blocked")).toMatchObject({ to: "pending", at: 10 * MIN, reason: "approved" })
    expect(h.runOf(a).eligibleAt).toBe(10 * MIN)
    expect(h.startedAt(b.id!)).toBe(20 * MIN)
    expect(h.startedAt(a)).toBe(30 * MIN)
  })

  it("reject → rejected with the reason, never started", () => {
    const h = new Harness({ gpus: 1 })
    const d = h.submit({ user: "dan", requiresApproval: true }, { durationMs: 10 * MIN })
    h.at(3 * MIN, () => void h.reject(d, "too big"))
    h.run()
    const run = h.runOf(d)
    expect(run.status).toBe("rejected")
    expect(run.rejectReason).toBe("too big")
    expect(h.timelineOf(d)).toEqual([
      [0, "∅ → blocked", "submitted"],
      [3 * MIN, "blocked → rejected", "rejected: too big"]
    ])
  })
})

describe("maxQueuedTime, deadline and timeLimit fire exactly at their instant (SPEC §4, §6.8)", () => {
  interface Row {
    readonly label: string
    /** A run holding the only GPU from t=0 for this long (0 = none). */
    readonly blockerMs: number
    readonly submitAtMs: number
    readonly run: SubmitOptions
    readonly behaviour: Behaviour
    readonly timeline: ReadonlyArray<readonly [number, string, string]>
    readonly failReason: string | null
  }
  const rows: ReadonlyArray<Row> = [
    {
      label: "pending past maxQueuedTime → failed(queue-timeout) at eligible + maxQueuedTime",
      blockerMs: 30 * MIN,
      submitAtMs: 1 * MIN,
      run: { user: "ana", maxQueuedTimeMs: 10 * MIN },
      behaviour: { durationMs: MIN },
      timeline: [
        [1 * MIN, "∅ → pending", "submitted"],
        [11 * MIN, "pending → failed", "queue-timeout"]
      ],
      failReason: "queue-timeout"
    },
    {
      label: "started before its maxQueuedTime → unaffected",
      blockerMs: 5 * MIN,
      submitAtMs: 1 * MIN,
      run: { user: "ana", maxQueuedTimeMs: 10 * MIN },
      behaviour: { durationMs: MIN },
      timeline: [
        [1 * MIN, "∅ → pending", "submitted"],
        [5 * MIN, "pending → running", "started"],
        [6 * MIN, "running → completed", "exit 0"]
      ],
      failReason: null
    },
    {
      label: "pending past its deadline → failed(deadline) at submit + deadline",
      blockerMs: 30 * MIN,
      submitAtMs: 2 * MIN,
      run: { user: "ana", deadlineMs: 15 * MIN },
      behaviour: { durationMs: MIN },
      timeline: [
        [2 * MIN, "∅ → pending", "submitted"],
        [17 * MIN, "pending → failed", "deadline"]
      ],
      failReason: "deadline"
    },
    {
      label: "running at its deadline → stopping → failed(deadline), at that instant",
      blockerMs: 0,
      submitAtMs: 0,
      run: { user: "ana", deadlineMs: 5 * MIN },
      behaviour: { durationMs: 10 * MIN },
      timeline: [
        [0, "∅ → pending", "submitted"],
        [0, "pending → running", "started"],
        [5 * MIN, "running → stopping", "deadline"],
        [5 * MIN, "stopping → failed", "deadline"]
      ],
      failReason: "deadline"
    },
    {
      label: "the deadline counts the queue wait",
      blockerMs: 10 * MIN,
      submitAtMs: 0,
      run: { user: "ana", deadlineMs: 15 * MIN },
      behaviour: { durationMs: 10 * MIN },
      timeline: [
        [0, "∅ → pending", "submitted"],
        [10 * MIN, "pending → running", "started"],
        [15 * MIN, "running → stopping", "deadline"],
        [15 * MIN, "stopping → failed", "deadline"]
      ],
      failReason: "deadline"
    },
    {
      label: "running past its timeLimit → stopping → failed(time-limit) at start + timeLimit",
      blockerMs: 4 * MIN,
      submitAtMs: 0,
      run: { user: "ana", timeLimitMs: 3 * MIN },
      behaviour: { durationMs: 10 * MIN },
      timeline: [
        [0, "∅ → pending", "submitted"],
        [4 * MIN, "pending → running", "started"],
        [7 * MIN, "running → stopping", "time-limit"],
        [7 * MIN, "stopping → failed", "time-limit"]
      ],
      failReason: "time-limit"
    }
  ]

  for (const row of rows)
    it(row.label, () => {
    const h = new Harness({ gpus: 1 })
    if (row.blockerMs > 0) h.submit({ user: "hog" }, { durationMs: row.blockerMs })
    const ref = h.submitAt(row.submitAtMs, row.run, row.behaviour)
    h.run()
    expect(h.timelineOf(ref.id!)).toEqual(row.timeline)
    expect(h.runOf(ref.id!).failReason).toBe(row.failReason)
  })
})

describe("GPU fit: strict deviceIds, anyGpu, lowest free indices (SPEC §4, §6.2)", () => {
  it("strict ids wait for exactly their GPUs; anyGpu takes another; allocation is exact", () => {
    const h = new Harness({ gpus: 4 })
    const a = h.submit({ user: "ana", gpus: 1, deviceIds: [0] }, { durationMs: 10 * MIN })
    const b = h.submitAt(1_000, { user: "bob", gpus: 1, deviceIds: [0] }, { durationMs: 10 * MIN })
    const c = h.submitAt(2_000, { user: "cat", gpus: 1, deviceIds: [0], anyGpu: true }, { durationMs: 10 * MIN })
    const d = h.submitAt(3_000, { user: "dan", gpus: 2, deviceIds: [2, 3] }, { durationMs: 10 * MIN })
    const e = h.submitAt(4_000, { user: "eve", gpus: 1 }, { durationMs: 10 * MIN })
    h.run()
    expect(h.startOf(a)).toMatchObject({ at: 0, gpus: [0] })
    expect(h.startOf(b.id!)).toMatchObject({ at: 10 * MIN, gpus: [0] })
    expect(h.startOf(c.id!)).toMatchObject({ at: 2_000, gpus: [1] })
    expect(h.startOf(d.id!)).toMatchObject({ at: 3_000, gpus: [2, 3] })
    // GPU 0 goes to bob when ana's run ends; every GPU is taken until cat's run ends
    expect(h.startOf(e.id!)).toMatchObject({ at: 2_000 + 10 * MIN, gpus: [1] })
  })
})

describe("simulate with hand-built workloads (WorkloadJob literals)", () => {
  it("a finite workload of finite runs ends with every run terminal, in the expected statuses", () => {
    const jobs: ReadonlyArray<WorkloadJob> = [
      { id: "j1", arrivalMs: 0, durationMs: 10 * MIN, exitCode: 0, user: "ana", level: "researcher", gpus: 1 },
      { id: "j2", arrivalMs: 0, durationMs: 10 * MIN, exitCode: 1, user: "bob", level: "researcher", gpus: 1, maxAttempts: 2 },
      { id: "j3", arrivalMs: MIN, durationMs: 10 * MIN, exitCode: 0, user: "cat", level: "lead", gpus: 2, cancelAfterMs: 5 * MIN },
      { id: "j4", arrivalMs: MIN, durationMs: 10 * MIN, exitCode: 0, user: "dan", level: "viewer", gpus: 1, requiresApproval: true, decision: { atMs: 2 * MIN, approve: false } },
      { id: "j5", arrivalMs: 2 * MIN, durationMs: 10 * MIN, exitCode: 0, user: "eve", level: "researcher", gpus: 1, maxQueuedTimeMs: 3 * MIN },
      { id: "j6", arrivalMs: 2 * MIN, durationMs: 10 * MIN, exitCode: 0, user: "fay", level: "researcher", gpus: 0, timeLimitMs: 4 * MIN }
    ]
    const report = simulate({ seed: 1, workload: { name: "hand-built", description: "scenario", jobs }, gpus: 2, queues: [makeQueue("default")] })
    expect(report.submitted).toBe(6)
    // j1 completes; j2 fails twice (maxAttempts 2); j3 is cancelled while pending; j4 rejected;
    // j5 times out in the queue (the GPUs stay busy); j6 (no GPU) is stopped by its time limit
    expect(report.metrics.byStatus).toEqual({ cancelled: 1, completed: 1, failed: 3, rejected: 1 })
  })
})
