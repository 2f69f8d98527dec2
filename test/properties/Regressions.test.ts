/**
 * Minimal regressions for engine bugs found while writing the SPEC §6 property tests; each
 * states the behaviour the spec asks for, and guards its fix.
 */
import { defaultPolicy, makeQueue, type Policy, QueueName, type RunStatus, UserName } from "@gantry/core"
import { generateWorkload, simulate } from "@gantry/sim"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Harness } from "./Harness.js"
import { runCase } from "./Model.js"

const MIN = 60_000
const TERMINAL: ReadonlyArray<RunStatus> = ["completed", "failed", "cancelled", "rejected"]

const policyWith = (limits: Partial<Policy["limits"]>): Policy => ({ ...defaultPolicy, limits: { ...defaultPolicy.limits, ...limits } })

describe("REGRESSION 1 (§6.9 liveness): a run larger than its GPU budget is accepted and waits forever", () => {
  // Found by "§6.9 liveness" (shrunk: gpus=2, localGpuMaxConcurrent=1, five 2-GPU jobs).
  // buildRun refuses a run larger than its queue's pool ("asks N GPUs; queue can use M") but
  // not one larger than localGpuMaxConcurrent or the queue's gpuQuota: Admission.countCheck
  // then answers gpu-limit / gpu-quota in every cycle, for ever.
  const endsOrIsRefused = (setup: { policy?: Policy; queue?: string; gpuQuota?: number }) => {
    const h = new Harness({
      gpus: 2,
      ...(setup.policy === undefined ? {} : { policy: setup.policy }),
      queues: setup.gpuQuota === undefined ? [] : [makeQueue("small", { gpuQuota: setup.gpuQuota })]
    })
    const outcome = Effect.runSync(
      Effect.either(
        h.engine.submit({ command: ["x"], user: UserName.make("ana"), gpus: 2, ...(setup.queue === undefined ? {} : { queue: QueueName.make(setup.queue) }) })
      )
    )
    if (outcome._tag === "Left") return "refused"
    if (outcome.right._tag !== "Accepted") return outcome.right._tag
    h.run()
    return h.statusOf(outcome.right.run.id)
  }

  it("2 GPUs asked, localGpuMaxConcurrent 1: refused at submission (or at least ends terminal)", () => {
    const result = endsOrIsRefused({ policy: policyWith({ localGpuMaxConcurrent: 1 }) })
    expect(result === "refused" || TERMINAL.includes(result as RunStatus), `the run ends ${result}`).toBe(true)
  })

  it("2 GPUs asked in a queue with gpuQuota 1: refused at submission (or at least ends terminal)", () => {
    const result = endsOrIsRefused({ queue: "small", gpuQuota: 1 })
    expect(result === "refused" || TERMINAL.includes(result as RunStatus), `the run ends ${result}`).toBe(true)
  })

  it("through simulate: every accepted run of a finite workload ends terminal", () => {
    const workload = generateWorkload({
      seed: 1, jobs: 3, arrivalRatePerHour: 60, users: 1, teams: 0, gpuMix: [[2, 1]], durationMedianMs: MIN, durationSigma: 0
    })
    const report = simulate({ seed: 1, workload, gpus: 2, policy: policyWith({ localGpuMaxConcurrent: 1 }) })
    expect(report.metrics.byStatus).not.toHaveProperty("pending")
  })
})

describe("REGRESSION 2 (§6.4 work conservation): a start that count-blocks the reservation holder leaves a stale reservation", () => {
  // Found by "§6.4 work conservation" (fixed-point form), e.g. a 0-GPU run of the holder's
  // user/team/queue starting after the holder took the reservation. The cycle ends with the
  // holder over a count limit (so, per §4, it holds no reservation), yet the runs refused
  // "gpu-reserved" for it stay waiting until some unrelated event triggers another cycle.
  // 4 GPUs, userMax 1: zed holds GPUs 0-1; at t=1 ana's 4-GPU run reserves, ana's 0-GPU run
  // starts (0-GPU runs are never held back) and carl's 1-GPU run is refused gpu-reserved.
  it("carl's 1-GPU run starts at t=1, once ana's reserved run is over her user limit", () => {
    const h = new Harness({ gpus: 4, policy: policyWith({ maxConcurrent: 10, userMaxConcurrent: 1 }) })
    h.submit({ user: "zed", gpus: 2 }, { durationMs: 60 * MIN })
    const big = h.submitAt(1, { user: "ana", gpus: 4 }, { durationMs: 10 * MIN })
    const cpu = h.submitAt(1, { user: "ana", gpus: 0 }, { durationMs: 30 * MIN })
    const carl = h.submitAt(1, { user: "carl", gpus: 1 }, { durationMs: 10 * MIN })
    h.run()
    expect(h.startedAt(cpu.id!)).toBe(1)
    expect(h.startedAt(carl.id!)).toBe(1)
    expect(h.journal.filter((e) => e.at === 1).flatMap((e) => e.waits).find((w) => w.runId === big.id)?.reason).toBe("user-limit")
  })

  it("the same, pinned from the property test (simulate seed 48029020, 8 GPUs, queue q1 with runConcurrency 2)", () => {
    // q1's 0-GPU run 24 starts after q1's 7-GPU run 9 reserved every GPU: run 9 is now at q1's
    // runConcurrency, yet run 12 (1 GPU, pool [0,2,3,5,6,7]) is left waiting gpu-reserved at t=2734348
    const { violations } = runCase(
      {
        seed: 48029020,
        gpus: 8,
        policy: { ...policyWith({ maxConcurrent: 4 }), aging: null, fairShare: { mode: "limits", halfLifeMs: 86_399_988 } },
        queues: [makeQueue("default", { gpuPool: [0, 2, 3, 5, 6, 7] }), makeQueue("q1", { runConcurrency: 2, depth: 11 })],
        workload: {
          seed: 48029020, jobs: 34, arrivalRatePerHour: 16.540728672702286, burstProbability: 0.5, burstSize: [2, 6], users: 2, teams: 3,
          queues: ["default", "q1"], gpuMix: [[0, 1], [1, 4], [4, 4], [5, 1], [7, 4], [8, 2]], durationMedianMs: 522_347,
          durationSigma: 0.019456961084038882, maxDurationMs: 14_400_000, maxAttempts: 2
        },
        lostProbability: 0
      },
      new Set([4])
    )
    expect(violations.map((v) => v.message)).toEqual([])
  })
})

describe("REGRESSION 3 (§6.11 conservation across restarts, §7 recovery): a running run is forgotten by a restarted engine", () => {
  // Engine.make restores only pending/held/blocked runs from the store: a run that was
  // running (or stopping) when the engine stopped is neither adopted nor marked failed(lost).
  // It stays "running" in the store for ever, nothing counts it, and its GPUs look free to
  // the new engine, which starts another run on them (two runs on one GPU, §6.2).
  const restart = () => {
    const first = new Harness({ gpus: 1 })
    const a = first.submit({ user: "ana", gpus: 1 }, { durationMs: 60 * MIN })
    const b = first.submit({ user: "bob", gpus: 1 }, { durationMs: 10 * MIN })
    first.run(10 * MIN) // the runner stops at t=10 min: a is running on GPU 0, b pending
    expect(first.statusOf(a)).toBe("running")
    const second = new Harness({ gpus: 1, store: first.store, startMs: 10 * MIN })
    second.run()
    return { second, a, b }
  }

  it("after the restart the running run ends terminal (adopted, or failed(lost) as §7 says)", () => {
    const { second, a } = restart()
    const run = second.runOf(a)
    expect(TERMINAL).toContain(run.status)
    if (run.status === "failed") expect(run.failReason).toBe("lost")
  })

  it("the restarted engine does not give the still-held GPU 0 to another run while the old run holds it", () => {
    const { second, a, b } = restart()
    // recovery happens while the engine starts, before any subscriber: read the stored timeline
    const aEnded = Effect.runSync(second.engine.timeline(a)).find((e) => TERMINAL.includes(e.to))?.at ?? Infinity
    const bStart = second.startedAt(b) ?? Infinity
    expect(bStart, `b started at ${bStart} on GPU 0 while a (${second.statusOf(a)}) still held it`).toBeGreaterThanOrEqual(aEnded)
  })
})

describe("REGRESSION 4 (§5 bulk cancel, §8 `cancel ID...`): one finished run in the list cancels nothing", () => {
  // Engine.cancel first resolves every id with liveRun(), which fails with IllegalTransition
  // for a run that has already ended; the whole command then fails and no run is cancelled.
  // A bulk cancel races with completions (`cancel --all` lists the runs, one ends meanwhile),
  // and Slurm's scancel or a GPU-server queue cancels the live runs and reports the rest.
  it("cancel([finished, running, pending]) cancels the running and the pending run", () => {
    const h = new Harness({ gpus: 1 })
    const done = h.submit({ user: "ana" }, { durationMs: 1_000 })
    const running = h.submitAt(2_000, { user: "bob" }, { durationMs: 60 * MIN })
    const pending = h.submitAt(2_000, { user: "cat" }, { durationMs: 60 * MIN })
    h.run(5_000)
    expect([h.statusOf(done), h.statusOf(running.id!), h.statusOf(pending.id!)]).toEqual(["completed", "running", "pending"])
    const outcome = Effect.runSync(Effect.either(h.engine.cancel([done, running.id!, pending.id!])))
    h.run()
    expect([h.statusOf(running.id!), h.statusOf(pending.id!)], `cancel answered ${JSON.stringify(outcome)}`).toEqual(["cancelled", "cancelled"])
  })
})

describe("REGRESSION 5 (§4 reservation, §6.10): a later run's start pushes the reserved run over the GPU budget, and the reservation is lost", () => {
  // The reservation protects the holder's GPUs but not the count limits it needs. 4 GPUs,
  // localGpuMaxConcurrent 3, queue "pair" may use GPUs 0-1. X holds GPU 0 until its 60 min
  // limit; R (pair, 2 GPUs) reserves GPUs 0-1 at t=1 s with shadowAt = 60 min (budget then:
  // 1 + 2 = 3, fine). At 3 s Y1 (1 GPU, no limit) starts on GPU 2, outside the reservation,
  // but the budget is now 2 held + 2 for R > 3: R fails "gpu-limit", holds no reservation, and
  // at 4 s Y2 (1 GPU, 120 min) takes GPU 1 of R's pool. R, guaranteed its GPUs at 60 min,
  // starts at 124 min. Y1 "took a GPU that would delay it" (§4) by way of the GPU budget.
  it("R starts by its shadow time (X exits at 60 min - 1 ms)", () => {
    const h = new Harness({
      gpus: 4,
      policy: policyWith({ localGpuMaxConcurrent: 3, maxConcurrent: 10 }),
      queues: [makeQueue("pair", { gpuPool: [0, 1] })]
    })
    h.submit({ user: "xan", gpus: 1, queue: "pair", timeLimitMs: 60 * MIN }, { durationMs: 60 * MIN - 1 })
    const r = h.submitAt(1_000, { user: "ron", gpus: 2, queue: "pair" }, { durationMs: 10 * MIN })
    const y1 = h.submitAt(3_000, { user: "yan", gpus: 1 }, { durationMs: 100 * MIN })
    const y2 = h.submitAt(4_000, { user: "yul", gpus: 1 }, { durationMs: 120 * MIN })
    h.run()
    expect(h.journal.find((e) => e.at === 1_000)?.reservation).toMatchObject({ runId: r.id, shadowAt: 60 * MIN })
    const starts = { r: h.startedAt(r.id!), y1: h.startedAt(y1.id!), y2: h.startedAt(y2.id!) }
    expect(starts.r, `starts: ${JSON.stringify(starts)}, y2 on ${JSON.stringify(h.startOf(y2.id!)?.gpus)}`).toBeLessThanOrEqual(60 * MIN)
  })
})
