/**
 * The Model's checks are not vacuous: fed hand-made event streams and journal entries that
 * break an invariant, it reports exactly that invariant (and nothing on a clean stream).
 */
import { defaultPolicy, makeQueue, type Policy, type Run, type RunEvent, RunId, type RunStatus, type Start } from "@gantry/core"
import type { EngineService, JournalEntry } from "@gantry/engine"
import type { WorkloadJob } from "@gantry/sim"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Model } from "./Model.js"

const job = (n: number, o: Partial<WorkloadJob> = {}): WorkloadJob => ({
  id: `j${n}`,
  arrivalMs: 0,
  durationMs: 100,
  exitCode: 0,
  user: "ana",
  level: "researcher",
  gpus: 1,
  ...o
})

/** A Model over `jobs` on `gpus` GPUs, and helpers to feed it events and cycles. */
const feed = (jobs: ReadonlyArray<WorkloadJob>, o: { gpus?: number; policy?: Policy } = {}) => {
  const model = new Model({
    gpus: o.gpus ?? 2,
    policy: o.policy ?? defaultPolicy,
    queues: [makeQueue("default")],
    workload: { name: "self-test", description: "", jobs },
    lostProbability: 0
  })
  // the model only asks getRun for the submitted run's name and seq
  const engine = {
    getRun: (id: RunId) => {
      const n = Number(id)
      const j = jobs[n - 1]!
      return Effect.succeed({ id, name: j.id, seq: n, queue: "default", gpus: j.gpus, user: j.user, maxAttempts: j.maxAttempts ?? 1 } as unknown as Run)
    },
    stats: Effect.succeed({ pending: 0, held: 0, blocked: 0, active: 0, gpus: { total: 2, free: 2, allocated: 0, drained: 0 }, cycles: 0, policyVersion: 1 })
  } as unknown as EngineService
  let cycle = 0
  return {
    model,
    event: (at: number, run: number, from: RunStatus | null, to: RunStatus, reason: string, attempt = 1) =>
      model.onEvent({ runId: RunId.make(String(run)), from, to, reason, at, attempt } satisfies RunEvent, engine),
    cycle: (at: number, starts: ReadonlyArray<readonly [number, ReadonlyArray<number>]>, reservation: JournalEntry["reservation"] = null) =>
      model.onCycle(
        {
          cycle: ++cycle,
          at,
          wakeups: [],
          inputs: { pending: 0, running: 0, freeGpus: 0, policyVersion: 1 },
          starts: starts.map(([id, gpus]): Start => ({ runId: RunId.make(String(id)), gpus, backfill: false })),
          reservation,
          waits: [],
          otherwise: "gpu-busy",
          examined: 0
        },
        engine
      ),
    broken: () => [...new Set(model.violations.map((v) => v.invariant))].sort((a, b) => a - b)
  }
}

describe("the Model reports what breaks an invariant, and only that", () => {
  it("a clean stream: submit, start, complete", () => {
    const f = feed([job(1)])
    f.event(0, 1, null, "pending", "submitted")
    f.event(0, 1, "pending", "running", "started")
    f.cycle(0, [[1, [0]]])
    f.event(100, 1, "running", "completed", "exit 0")
    f.cycle(100, [])
    expect(f.model.violations).toEqual([])
  })

  it("§6.1: two runs of one user with userMaxConcurrent 1", () => {
    const f = feed([job(1), job(2)], { policy: { ...defaultPolicy, limits: { ...defaultPolicy.limits, userMaxConcurrent: 1 } } })
    f.event(0, 1, null, "pending", "submitted")
    f.event(0, 2, null, "pending", "submitted")
    f.event(0, 1, "pending", "running", "started")
    f.event(0, 2, "pending", "running", "started")
    f.cycle(0, [[1, [0]], [2, [1]]])
    expect(f.broken()).toContain(1)
    expect(f.model.violations.find((v) => v.invariant === 1)?.message).toMatch(/runs of user ana \(userMaxConcurrent\) = 2 > 1/)
  })

  it("§6.2: one GPU given to two runs", () => {
    const f = feed([job(1), job(2)])
    f.event(0, 1, null, "pending", "submitted")
    f.event(0, 2, null, "pending", "submitted")
    f.event(0, 1, "pending", "running", "started")
    f.event(0, 2, "pending", "running", "started")
    f.cycle(0, [[1, [0]], [2, [0]]])
    expect(f.broken()).toEqual([2])
  })

  it("§6.3: an illegal transition, pending → completed", () => {
    const f = feed([job(1)])
    f.event(0, 1, null, "pending", "submitted")
    f.event(5, 1, "pending", "completed", "exit 0")
    expect(f.broken()).toContain(3)
  })

  it("§6.4: a cycle leaves a startable run waiting (a free GPU, no reservation)", () => {
    const f = feed([job(1)])
    f.event(0, 1, null, "pending", "submitted")
    f.cycle(0, [])
    expect(f.broken()).toEqual([4])
  })

  it("§6.5: a later run starts on GPUs the earlier, waiting one could have used", () => {
    const f = feed([job(1, { arrivalMs: 10 }), job(2, { arrivalMs: 10, gpus: 2 })], { policy: { ...defaultPolicy, limits: { ...defaultPolicy.limits, maxConcurrent: 5 } } })
    f.event(10, 1, null, "pending", "submitted")
    f.event(10, 2, null, "pending", "submitted")
    f.event(10, 2, "pending", "running", "started")
    f.cycle(10, [[2, [0, 1]]])
    expect(f.broken()).toEqual([5])
  })

  it("§6.6: a run stopped for a time limit it does not have", () => {
    const f = feed([job(1)])
    f.event(0, 1, null, "pending", "submitted")
    f.event(0, 1, "pending", "running", "started")
    f.cycle(0, [[1, [0]]])
    f.event(50, 1, "running", "stopping", "time-limit")
    expect(f.broken()).toEqual([6])
  })

  it("§6.8: a run still pending after its maxQueuedTime", () => {
    const f = feed([job(1, { maxQueuedTimeMs: 30 })], { gpus: 1 })
    f.event(0, 1, null, "pending", "submitted")
    f.cycle(0, [], { runId: RunId.make("1"), gpus: 1, allowed: [0], shadowAt: null })
    f.event(31, 1, "pending", "cancelled", "cancelled")
    expect(f.broken()).toContain(8)
  })

  it("§6.10: a reservation whose GPUs are not free after its shadow time", () => {
    // run 1 holds GPU 0 with a 50 ms limit; run 2 reserves it with shadow 50; at 60 it still runs
    const f = feed([job(1, { timeLimitMs: 50, durationMs: 100 }), job(2)], { gpus: 1 })
    f.event(0, 1, null, "pending", "submitted")
    f.event(0, 1, "pending", "running", "started")
    f.cycle(0, [[1, [0]]])
    f.event(1, 2, null, "pending", "submitted")
    f.cycle(1, [], { runId: RunId.make("2"), gpus: 1, allowed: [0], shadowAt: 50 })
    f.event(60, 1, "running", "completed", "exit 0")
    expect(f.broken()).toContain(10)
  })
})
