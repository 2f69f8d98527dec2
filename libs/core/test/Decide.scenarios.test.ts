/**
 * decide() scenarios of SPEC §4, table-driven: count limits, GPU fit and picks, priority.
 * Reservation and backfill rows are in Decide.reservation.test.ts.
 */
import { makeQueue, RunId, sharedPolicy } from "../src/internal.js"
import { active, type Case, checkCases, go, policy, run } from "./scenarioKit.js"

const fairShare = policy({ maxConcurrent: 6, userMaxConcurrent: 2, teamMaxConcurrent: 3 }, {}, sharedPolicy)
const fairShareRuns = () => [
  run("al1", { user: "alice", team: "alpha", gpus: 0 }),
  run("ar1", { user: "arno", team: "alpha", gpus: 0 }),
  run("al2", { user: "alice", team: "alpha", gpus: 0 }),
  run("ar2", { user: "arno", team: "alpha", gpus: 0 }),
  run("b1", { user: "bea", team: "beta", gpus: 0 }),
  run("b2", { user: "bea", team: "beta", gpus: 0 }),
  run("b3", { user: "bea", team: "beta", gpus: 0 })
]

const cases: ReadonlyArray<Case> = [
  {
    name: "fair share (limits): alpha runs 3 and its 4th waits team-limit; beta runs 2 and its 3rd waits user-limit",
    snapshot: () => ({ policy: fairShare, gpus: 0, pending: fairShareRuns() }),
    starts: [go("al1"), go("ar1"), go("al2"), go("b1"), go("b2")],
    reasons: { al1: null, ar1: null, al2: null, ar2: "team-limit", b1: null, b2: null, b3: "user-limit" }
  },
  {
    name: "fair share off: no team cap, the 7th run meets the global limit of 6",
    snapshot: () => ({
      policy: { ...fairShare, fairShare: { ...fairShare.fairShare, mode: "off" } },
      gpus: 0,
      pending: fairShareRuns()
    }),
    starts: [go("al1"), go("ar1"), go("al2"), go("ar2"), go("b1"), go("b2")],
    reasons: { ar2: null, b3: "global-limit" },
    otherwise: "global-limit"
  },
  {
    name: "a lane's wait counts only its runs still waiting, not those started this cycle",
    snapshot: () => ({
      policy: policy({ userMaxConcurrent: 1 }),
      gpus: 4,
      pending: [run("w1"), run("w2"), run("w3")]
    }),
    starts: [go("w1", [0])],
    reasons: { w2: "user-limit", w3: "user-limit" },
    waits: [{ runId: RunId.make("w2"), reason: "user-limit", runs: 2 }]
  },
  {
    name: "strict deviceIds: a repeated index never fits, [] for one GPU never fits, ids on a 0-GPU run never fit",
    snapshot: () => ({
      gpus: 4,
      pending: [
        run("dup", { gpus: 2, deviceIds: [1, 1] }),
        run("empty", { gpus: 1, deviceIds: [] }),
        run("zero", { gpus: 0, deviceIds: [2] }),
        run("any")
      ]
    }),
    starts: [go("any", [0])],
    reasons: { dup: "gpu-unavailable", empty: "gpu-unavailable", zero: "gpu-unavailable", any: null }
  },
  {
    name: "gpu-unavailable: more GPUs than the undrained set, a drained strict device, a too small pool; no reservation",
    snapshot: () => ({
      gpus: 4,
      drained: [3],
      queues: [makeQueue("small", { gpuPool: [0] })],
      pending: [
        run("four", { gpus: 4 }),
        run("strictDrained", { gpus: 2, deviceIds: [2, 3] }),
        run("pooled", { queue: "small", gpus: 2 }),
        run("one", { gpus: 1 })
      ]
    }),
    starts: [go("one", [0])],
    reasons: { four: "gpu-unavailable", strictDrained: "gpu-unavailable", pooled: "gpu-unavailable", one: null },
    reservation: null
  },
  {
    name: "paused and unknown queues wait queue-paused; the default queue runs",
    snapshot: () => ({
      gpus: 2,
      queues: [makeQueue("frozen", { paused: true, priority: 5 })],
      pending: [run("f1", { queue: "frozen" }), run("g1", { queue: "ghost" }), run("d1")]
    }),
    starts: [go("d1", [0])],
    reasons: { f1: "queue-paused", g1: "queue-paused", d1: null }
  },
  {
    name: "global limit stops the walk: later runs wait global-limit without being examined",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 2 }),
      gpus: 4,
      pending: [run("g1", { user: "ana" }), run("g2", { user: "bo" }), run("g3", { user: "cy" }), run("c4", { user: "dan", gpus: 0 })]
    }),
    starts: [go("g1", [0]), go("g2", [1])],
    reasons: { g3: "global-limit", c4: "global-limit" },
    otherwise: "global-limit",
    examined: 3
  },
  {
    name: "local job limit stops the walk too",
    snapshot: () => ({
      policy: policy({ localJobMaxConcurrent: 1 }),
      gpus: 2,
      pending: [run("j1", { gpus: 0 }), run("j2", { user: "bo", gpus: 0 })]
    }),
    starts: [go("j1")],
    reasons: { j2: "local-job-limit" },
    otherwise: "local-job-limit"
  },
  {
    name: "queue-limit: the queue's maxConcurrent counts its running runs; other queues go on",
    snapshot: () => ({
      gpus: 4,
      queues: [makeQueue("q", { maxConcurrent: 1, priority: 1 })],
      running: [active("a0", { queue: "q", holds: [0] })],
      pending: [run("q1", { queue: "q" }), run("d1")]
    }),
    starts: [go("d1", [1])],
    reasons: { q1: "queue-limit", d1: null }
  },
  {
    name: "queue-run-limit caps top-level runs only: children of a running run still start",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 10 }),
      gpus: 2,
      queues: [makeQueue("wf", { runConcurrency: 1 })],
      running: [active("a0", { queue: "wf" })],
      pending: [
        run("top1", { queue: "wf", gpus: 0 }),
        run("kid1", { queue: "wf", gpus: 0, parentId: "a0" }),
        run("kid2", { queue: "wf", gpus: 0, parentId: "a0" })
      ]
    }),
    starts: [go("kid1"), go("kid2")],
    reasons: { top1: "queue-run-limit", kid1: null, kid2: null }
  },
  {
    name: "queue-run-limit: running children do not use the queue's run slots",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 10 }),
      gpus: 2,
      queues: [makeQueue("wf", { runConcurrency: 1 })],
      running: [active("kid0", { queue: "wf", parentId: "p" }), active("kid00", { queue: "wf", parentId: "p" })],
      pending: [run("top1", { queue: "wf", gpus: 0 }), run("top2", { queue: "wf", gpus: 0 })]
    }),
    starts: [go("top1")],
    reasons: { top1: null, top2: "queue-run-limit" }
  },
  {
    name: "gpu-quota: a queue's running GPUs plus the request may not pass its quota; a smaller request fits",
    snapshot: () => ({
      gpus: 4,
      queues: [makeQueue("g", { gpuQuota: 3 })],
      running: [active("a0", { queue: "g", holds: [0, 1] })],
      pending: [run("two", { queue: "g", gpus: 2 }), run("one", { queue: "g", gpus: 1 })]
    }),
    starts: [go("one", [2])],
    reasons: { two: "gpu-quota", one: null }
  },
  {
    name: "gpu-limit: localGpuMaxConcurrent bounds the GPUs held by running runs",
    snapshot: () => ({
      policy: policy({ localGpuMaxConcurrent: 2 }),
      gpus: 4,
      running: [active("a0", { holds: [0] })],
      pending: [run("two", { gpus: 2 }), run("one", { gpus: 1 })]
    }),
    starts: [go("one", [1])],
    reasons: { two: "gpu-limit", one: null }
  },
  {
    name: "user-limit: a user at userMaxConcurrent waits, another user starts",
    snapshot: () => ({
      policy: policy({ userMaxConcurrent: 1 }),
      gpus: 4,
      running: [active("a0", { user: "ana", holds: [0] })],
      pending: [run("ana1", { user: "ana" }), run("bo1", { user: "bo" })]
    }),
    starts: [go("bo1", [1])],
    reasons: { ana1: "user-limit", bo1: null }
  },
  {
    name: "priority: a lead's run goes before an earlier researcher's",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 5 }),
      gpus: 1,
      pending: [run("res", { level: "researcher" }), run("lead", { user: "lea", level: "lead" })]
    }),
    starts: [go("lead", [0])],
    reasons: { res: "gpu-busy", lead: null }
  },
  {
    name: "priority override: a researcher's run with override 25 goes before a lead's (20)",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 5 }),
      gpus: 1,
      pending: [run("lead", { user: "lea", level: "lead" }), run("res", { level: "researcher", priority: 25 })]
    }),
    starts: [go("res", [0])],
    reasons: { lead: "gpu-busy", res: null }
  },
  {
    name: "the lowest free indices are picked",
    snapshot: () => ({
      gpus: 6,
      running: [active("a0", { holds: [1, 3] })],
      pending: [run("two", { gpus: 2 }), run("one", { gpus: 1 })]
    }),
    starts: [go("two", [0, 2]), go("one", [4])],
    reasons: {}
  },
  {
    name: "drained GPUs are never picked",
    snapshot: () => ({ gpus: 3, drained: [0], pending: [run("one")] }),
    starts: [go("one", [1])],
    reasons: {}
  },
  {
    name: "anyGpu with deviceIds takes those devices when free",
    snapshot: () => ({ gpus: 4, pending: [run("pref", { gpus: 2, deviceIds: [2, 3], anyGpu: true })] }),
    starts: [go("pref", [2, 3])],
    reasons: {}
  },
  {
    name: "anyGpu with deviceIds falls back to the lowest other free GPUs",
    snapshot: () => ({
      gpus: 4,
      running: [active("a0", { holds: [3] })],
      pending: [run("pref", { gpus: 2, deviceIds: [2, 3], anyGpu: true })]
    }),
    starts: [go("pref", [0, 2])],
    reasons: {}
  },
  {
    name: "strict deviceIds get exactly those GPUs",
    snapshot: () => ({ gpus: 4, pending: [run("strict", { gpus: 2, deviceIds: [3, 1] })] }),
    starts: [go("strict", [1, 3])],
    reasons: {}
  }
]

checkCases("decide: SPEC §4 scenarios", cases)
