/**
 * decide() reservation and EASY backfill scenarios (SPEC §4, §6.10), table-driven.
 */
import { makeQueue, type Policy } from "../src/internal.js"
import { active, type Case, checkCases, go, policy, reserved, run } from "./scenarioKit.js"

const EIGHT = [0, 1, 2, 3, 4, 5, 6, 7]
const easy = (extra: Partial<Policy> = {}) => ({
  policy: policy({}, extra),
  gpus: 8,
  running: [active("big", { holds: [0, 1, 2, 3], endBy: 1000 })]
})

const cases: ReadonlyArray<Case> = [
  {
    name: "EASY backfill: runs ending by the shadow (1000) backfill, longer ones wait gpu-reserved, 0-GPU runs start",
    snapshot: () => ({
      ...easy(),
      pending: [
        run("eight", { gpus: 8 }),
        run("short", { gpus: 2, timeLimitMs: 500 }),
        run("long", { gpus: 2, timeLimitMs: 5000 }),
        run("over", { gpus: 2, timeLimitMs: 1001 }),
        run("exact", { gpus: 2, timeLimitMs: 1000 }),
        run("nolimit", { gpus: 1 }),
        run("cpu", { gpus: 0 })
      ]
    }),
    starts: [go("short", [4, 5], true), go("exact", [6, 7], true), go("cpu")],
    reasons: { eight: "gpu-busy", long: "gpu-reserved", over: "gpu-reserved", nolimit: "gpu-reserved", short: null, cpu: null },
    reservation: reserved("eight", 8, EIGHT, 1000)
  },
  {
    name: "backfill off: the short run waits gpu-reserved, the 0-GPU run still starts",
    snapshot: () => ({
      ...easy({ backfill: false }),
      pending: [run("eight", { gpus: 8 }), run("short", { gpus: 2, timeLimitMs: 500 }), run("cpu", { gpus: 0 })]
    }),
    starts: [go("cpu")],
    reasons: { eight: "gpu-busy", short: "gpu-reserved" },
    reservation: reserved("eight", 8, EIGHT, 1000)
  },
  {
    name: "unknown shadow (holder without endBy): no backfill into the reserved set, another queue's disjoint pool starts",
    snapshot: () => ({
      gpus: 8,
      queues: [makeQueue("big", { priority: 1, gpuPool: [0, 1, 2, 3, 4, 5] }), makeQueue("side", { gpuPool: [6, 7] })],
      running: [active("holder", { queue: "big", holds: [0, 1, 2, 3], endBy: null })],
      pending: [
        run("six", { queue: "big", gpus: 6 }),
        run("short", { queue: "big", gpus: 2, timeLimitMs: 1 }),
        run("side1", { queue: "side", gpus: 2 })
      ]
    }),
    starts: [go("side1", [6, 7])],
    reasons: { six: "gpu-busy", short: "gpu-reserved", side1: null },
    reservation: reserved("six", 6, [0, 1, 2, 3, 4, 5], null)
  },
  {
    name: "a run without a time limit backfills into the reservation's spare GPUs (extra), only as many as spare",
    snapshot: () => ({
      gpus: 4,
      running: [active("a0", { holds: [0, 1], endBy: 100 }), active("a1", { user: "bo", holds: [2], endBy: 200 })],
      pending: [run("need2", { gpus: 2 }), run("long1", { user: "cy", gpus: 1 })]
    }),
    starts: [go("long1", [3], true)],
    reasons: { need2: "gpu-busy", long1: null },
    reservation: reserved("need2", 2, [0, 1, 2, 3], 100)
  },
  {
    name: "holders ending at the same instant all count toward the spare GPUs: two unbounded runs backfill, a third waits",
    snapshot: () => ({
      gpus: 6,
      running: [0, 1, 2].map((g) => active(`h${g}`, { user: `h${g}`, holds: [g], endBy: 100 })),
      pending: [
        run("need4", { gpus: 4 }),
        run("l1", { user: "bo", gpus: 1 }),
        run("l2", { user: "cy", gpus: 1 }),
        run("l3", { user: "dan", gpus: 1 })
      ]
    }),
    starts: [go("l1", [3], true), go("l2", [4], true)],
    reasons: { need4: "gpu-busy", l3: "gpu-reserved" },
    reservation: reserved("need4", 4, [0, 1, 2, 3, 4, 5], 100)
  },
  {
    name: "no GPU free at all: no reservation is taken, nothing could start to delay it",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 5 }),
      gpus: 2,
      running: [active("a0", { holds: [0, 1], endBy: 100 })],
      pending: [run("p1"), run("cpu", { gpus: 0 })]
    }),
    starts: [go("cpu")],
    reasons: { p1: "gpu-busy" },
    reservation: null
  },
  {
    name: "a reservation whose holder a later start count-blocks lapses: the walk repeats and the run it held back starts",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 10, userMaxConcurrent: 1 }),
      gpus: 4,
      running: [active("a0", { user: "zed", holds: [0, 1] })],
      pending: [run("big", { user: "ana", gpus: 4 }), run("cpu", { user: "ana", gpus: 0 }), run("carl", { user: "carl" })]
    }),
    starts: [go("cpu"), go("carl", [2])],
    reasons: { big: "user-limit", cpu: null, carl: null },
    reservation: null
  },
  {
    name: "busy strict deviceIds reserve just those GPUs; a later run takes an unreserved one",
    snapshot: () => ({
      gpus: 4,
      running: [active("a0", { holds: [1], endBy: 50 })],
      pending: [run("strict", { gpus: 2, deviceIds: [1, 3] }), run("other", { user: "bo", gpus: 1 })]
    }),
    starts: [go("other", [0])],
    reasons: { strict: "gpu-busy", other: null },
    reservation: reserved("strict", 2, [1, 3], 50)
  },
  {
    name: "the reservation protects its holder's count slots: the holder's user's GPU run waits, even off the reserved GPUs",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 10, userMaxConcurrent: 1 }),
      gpus: 6,
      queues: [makeQueue("big", { gpuPool: [0, 1, 2, 3] })],
      running: [active("z", { user: "zed", queue: "big", holds: [0, 1], endBy: 100 })],
      pending: [run("big4", { user: "ana", queue: "big", gpus: 4 }), run("ana2", { user: "ana" }), run("bob1", { user: "bob" })]
    }),
    starts: [go("bob1", [4])],
    reasons: { big4: "gpu-busy", ana2: "gpu-reserved", bob1: null },
    reservation: reserved("big4", 4, [0, 1, 2, 3], 100)
  },
  {
    name: "a run refused for the holder's slot gives back the spare GPU it was counted on; another user's run takes it",
    snapshot: () => ({
      policy: policy({ maxConcurrent: 10, userMaxConcurrent: 1 }),
      gpus: 6,
      running: [0, 1, 2].map((g) => active(`h${g}`, { user: `h${g}`, holds: [g], endBy: 100 })),
      pending: [run("big5", { user: "ana", gpus: 5 }), run("ana2", { user: "ana" }), run("bob1", { user: "bob" })]
    }),
    starts: [go("bob1", [3], true)],
    reasons: { big5: "gpu-busy", ana2: "gpu-reserved", bob1: null },
    reservation: reserved("big5", 5, [0, 1, 2, 3, 4, 5], 100)
  }
]

checkCases("decide: reservation and backfill", cases)
