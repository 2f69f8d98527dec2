/**
 * A runner's history as a workload (FromHistory.ts): arrivals, durations and fates from the runs
 * and their timelines, what cannot be replayed said in the notes, the real start order from the
 * timeline's sequence; and a replay of it under the policy that decided it reproduces it.
 */
import { defaultPolicy, type Run, type RunEvent, RunId, type RunStatus } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import { describe, expect, it } from "vitest"
import { fidelity } from "../src/Fidelity.js"
import { replayOfHistory, type RunnerHistory } from "../src/FromHistory.js"
import { simulate } from "../src/Simulate.js"

const T0 = Date.UTC(2026, 11, 1, 10, 0, 0)

/** A run as stored, and its timeline: [status, at (ms after T0), reason?]. */
const stored = (
  seq: number,
  user: string,
  steps: ReadonlyArray<readonly [RunStatus, number, string?]>,
  o: Partial<Run> = {}
): { readonly run: Run; readonly events: Array<RunEvent> } => {
  const id = RunId.make(`r${seq}`)
  let from: RunStatus | null = null
  let attempt = 1
  const events = steps.map(([to, at, reason]): RunEvent => {
    if (from === "running" && to === "pending") attempt++
    const e: RunEvent = { runId: id, from, to, reason: reason ?? (from === null ? "submitted" : "x"), at: T0 + at, attempt }
    from = to
    return e
  })
  const starts = events.filter((e) => e.to === "running")
  const last = steps.at(-1)!
  const terminal = ["completed", "failed", "cancelled", "rejected"].includes(last[0])
  const run: Run = {
    ...aRun({ id, seq, user, gpus: 1, submittedAt: T0 + steps[0]![1] }),
    status: last[0],
    attempt,
    startedAt: starts.at(-1)?.at ?? null,
    endedAt: terminal ? T0 + last[1] : null,
    assignedGpus: starts.length > 0 ? [seq % 4] : [],
    ...o
  }
  return { run, events }
}

const historyOf = (items: ReadonlyArray<{ readonly run: Run; readonly events: ReadonlyArray<RunEvent> }>, snapshotAfterMs: number): RunnerHistory => ({
  source: "/data/gantry.db",
  snapshotAt: T0 + snapshotAfterMs,
  runs: items.map((i) => i.run),
  // the runner records events in time order
  events: items.flatMap((i) => i.events).sort((a, b) => a.at - b.at),
  policy: null,
  queues: [],
  gpuCount: 4
})

describe("a runner's history as a workload", () => {
  const items = [
    stored(1, "ana", [["pending", 0], ["running", 10], ["completed", 5_010]], { exitCode: 0, gpus: 2, team: "vision" as Run["team"], timeLimitMs: 60_000 }),
    stored(2, "bo", [["held", 100], ["pending", 2_000, "released"], ["running", 2_010]]),
    stored(3, "cy", [["blocked", 200], ["pending", 3_000, "approved"], ["running", 3_010], ["failed", 4_010]], { exitCode: 3, failReason: "exit-code" }),
    stored(4, "dee", [["blocked", 300], ["rejected", 3_500]]),
    stored(5, "eve", [["held", 400]]),
    stored(6, "fay", [["pending", 500]]),
    stored(7, "gus", [["pending", 600], ["cancelled", 700]]),
    stored(8, "hal", [["pending", 800], ["running", 810], ["pending", 1_810, "retry"], ["running", 1_820], ["completed", 2_820]], { exitCode: 0, maxAttempts: 2 }),
    stored(9, "ida", [["pending", 900], ["running", 910], ["completed", 1_910]], { exitCode: 0, priorityOverride: 50 })
  ]
  const h = historyOf(items, 10_000)
  const replay = replayOfHistory(h)
  const job = (id: string) => replay.workload.jobs.find((j) => j.id === id)

  it("keeps each run's submission, its measured duration, its fate; a held run arrives at its release", () => {
    expect(replay.originMs).toBe(T0)
    expect(replay.horizonMs).toBe(10_000)
    expect(job("r1")).toEqual({ id: "r1", arrivalMs: 0, durationMs: 5_000, exitCode: 0, user: "ana", team: "vision", level: "researcher", queue: "default", gpus: 2, timeLimitMs: 60_000 })
    // held, released at 2 s, still running at the snapshot: its elapsed time
    expect(job("r2")).toMatchObject({ arrivalMs: 2_000, durationMs: 7_990 })
    expect(job("r3")).toMatchObject({ arrivalMs: 200, durationMs: 1_000, exitCode: 3, requiresApproval: true, decision: { atMs: 2_800, approve: true } })
    expect(job("r4")).toMatchObject({ arrivalMs: 300, requiresApproval: true, decision: { atMs: 3_200, approve: false } })
    expect(job("r5")).toBeUndefined()
    // still waiting: the median measured duration of the runs that ended (1 s, 1 s, 1 s, 5 s)
    expect(job("r6")).toMatchObject({ arrivalMs: 500, durationMs: 1_000 })
    expect(job("r7")).toMatchObject({ arrivalMs: 600, cancelAfterMs: 100 })
    // retried: its last attempt
    expect(job("r8")).toMatchObject({ arrivalMs: 800, durationMs: 1_000 })
    expect(replay.workload.jobs.map((j) => j.arrivalMs)).toEqual([...replay.workload.jobs.map((j) => j.arrivalMs)].sort((a, b) => a - b))
    expect(replay.counts).toEqual({ runs: 9, jobs: 8, started: 5, stillRunning: 1, stillWaiting: 1, stillBlocked: 0, heldLeftOut: 1, retried: 1, priorityOverrides: 1 })
    expect(replay.notes).toEqual([
      "1 run still running: their elapsed time used as duration",
      "1 run still waiting: kept, with the median measured duration (1.0s)",
      "1 run held and never released: left out",
      "1 run retried: replayed as the last attempt",
      "1 priority override: not replayed"
    ])
  })

  it("takes the real start order from the timeline's sequence, first starts, GPUs only of runs started once", () => {
    expect(replay.real).toEqual([
      { jobId: "r1", startMs: 10, gpus: [1] },
      { jobId: "r8", startMs: 810, gpus: null },
      { jobId: "r9", startMs: 910, gpus: [1] },
      { jobId: "r2", startMs: 2_010, gpus: [2] },
      { jobId: "r3", startMs: 3_010, gpus: [3] }
    ])
  })

  it("with real-ends, each run that started ends at its real end instant (still running: the snapshot)", () => {
    const ends = replayOfHistory(h, { ends: "real-ends" })
    expect(ends.workload.jobs.find((j) => j.id === "r1")?.endAtMs).toBe(5_010)
    expect(ends.workload.jobs.find((j) => j.id === "r2")?.endAtMs).toBe(10_000)
    expect(ends.workload.jobs.find((j) => j.id === "r6")?.endAtMs).toBeUndefined()
    expect(ends.notes).toContain("runs end at their real end instants")
  })

  it("replays queues as configured now, unpaused, and a default one for a queue no longer configured", () => {
    const gone = stored(10, "ana", [["pending", 0], ["running", 5], ["completed", 100]], { queue: "old" as Run["queue"] })
    const r = replayOfHistory({ ...historyOf([gone], 200), queues: [{ name: "gpu" as Run["queue"], priority: 5, maxConcurrent: null, runConcurrency: null, depth: null, gpuPool: null, gpuQuota: null, paused: true }] })
    expect(r.queues.map((q) => [q.name, q.paused])).toEqual([["gpu", false], ["old", false]])
    expect(r.notes).toEqual(["paused queue gpu: replayed unpaused", "queue old no longer configured: replayed with the defaults"])
  })
})

describe("a replay of a history under the policy that decided it", () => {
  it("starts the same runs in the same order on the same GPUs (a serial history of 1-GPU runs on 2 GPUs)", () => {
    // six runs of 1 GPU on 2 GPUs, each submitted at once, each starting as soon as a GPU is free
    const ends = [3_000, 4_000, 5_500, 7_000, 9_000, 9_500]
    const starts = [5, 6, 3_001, 4_001, 5_501, 7_001]
    const gpus = [0, 1, 0, 1, 0, 1]
    const items = ends.map((end, i) => stored(i + 1, i % 2 === 0 ? "ana" : "bo", [["pending", i], ["running", starts[i]!], ["completed", end]], { exitCode: 0, assignedGpus: [gpus[i]!] }))
    const h = { ...historyOf(items, 20_000), gpuCount: 2 }
    for (const ends of ["measured", "real-ends"] as const) {
      const replay = replayOfHistory(h, { ends })
      const report = simulate({ seed: 1, workload: replay.workload, gpus: 2, policy: h.policy ?? defaultPolicy, queues: replay.queues, starts: true })
      expect(report.starts!.map((s) => [s.jobId, s.gpus])).toEqual(replay.real.map((r) => [r.jobId, r.gpus]))
      const f = fidelity(replay.real, report.starts!, { horizonMs: replay.horizonMs })
      expect(f).toMatchObject({ compared: 6, startOrder: 1, sameGpus: 1, onlyReal: 0, onlyReplay: 0 })
      expect(f.waitErrorMaxMs).toBeLessThanOrEqual(10)
    }
  })
})
