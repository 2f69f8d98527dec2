/**
 * The Store contract: the same table of cases runs against the engine's MemoryStore (the
 * reference behaviour) and the SQLite store on a real file; both must give the same
 * answers, and those answers must be the expected ones.
 */
import * as path from "node:path"
import { it } from "@effect/vitest"
import { defaultPolicy, makeQueue, type Run, type RunEvent, RunId, type RunStatus, sharedPolicy } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import { emptyBatch, MemoryStore, Store, type StoreError, type StoreService } from "@gantry/engine"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { SqliteStore } from "../src/index.js"
import { tempDir } from "./TempDb.js"

interface Case<A> {
  readonly name: string
  readonly run: (store: StoreService) => Effect.Effect<A, StoreError>
  readonly expected: (result: A) => void
}
const contractCase = <A>(name: string, run: Case<A>["run"], expected: Case<A>["expected"]): Case<unknown> =>
  ({ name, run, expected }) as Case<unknown>

/** A run with every field away from its default, so a lost or renamed field shows. */
const everyField = (o: { id: string; seq: number; status?: RunStatus }): Run => ({
  ...aRun({ id: o.id, seq: o.seq, user: "bob", team: "vision", queue: "gpu", gpus: 2, deviceIds: [1, 3], priority: 7, timeLimitMs: 60_000, deadlineAt: 900_000, parentId: "parent-1", maxAttempts: 3, submittedAt: 1_000, eligibleAt: 2_000 }),
  name: "train resnet",
  command: ["python", "train.py", "--lr", "0.1", "ünïcödé ✓"],
  env: { CUDA_VISIBLE_DEVICES: "1,3", EMPTY: "" },
  cwd: "/home/bob/project",
  metadata: { run_name: "r-42", nested: { tags: ["a", "b"], score: 0.25, ok: true, none: null } },
  project: "imagenet",
  anyGpu: true,
  maxQueuedTimeMs: 3_600_000,
  estimatedCost: 12.5,
  requiresApproval: true,
  idempotencyKey: `key-${o.id}`,
  status: o.status ?? "stopping",
  attempt: 2,
  startedAt: 5_000,
  endedAt: null,
  assignedGpus: [1, 3],
  exitCode: null,
  signal: "SIGTERM",
  failReason: "lost",
  rejectReason: "not this time",
  stopCause: "time-limit"
})

const ended = (run: Run, status: RunStatus, endedAt: number): Run => ({ ...run, status, endedAt, exitCode: status === "completed" ? 0 : 1 })
const event = (runId: string, from: RunStatus | null, to: RunStatus, at: number, reason = "x"): RunEvent => ({
  runId: RunId.make(runId),
  from,
  to,
  reason,
  at,
  attempt: 1
})
const commitRuns = (store: StoreService, ...runs: ReadonlyArray<Run>) => store.commit({ ...emptyBatch, runs })
const bySeq = (runs: ReadonlyArray<Run>) => [...runs].sort((a, b) => a.seq - b.seq)
const ids = (runs: ReadonlyArray<Run>) => runs.map((r) => r.id as string)

/** Twelve runs over statuses, queues and users for the listRuns filters. */
const listFixture: ReadonlyArray<Run> = [
  ["pending", "default", "ana"],
  ["running", "gpu", "bob"],
  ["completed", "default", "ana"],
  ["pending", "gpu", "ana"],
  ["failed", "gpu", "bob"],
  ["held", "default", "carl"],
  ["pending", "default", "bob"],
  ["running", "default", "ana"],
  ["completed", "gpu", "carl"],
  ["pending", "gpu", "bob"],
  ["cancelled", "default", "ana"],
  ["stopping", "gpu", "ana"]
].map(([status, queue, user], i) => {
  const run = { ...aRun({ id: `L${i + 1}`, seq: 100 + i, queue, user }), status: status as RunStatus }
  return run.status === "completed" || run.status === "failed" || run.status === "cancelled" ? { ...run, endedAt: 10 } : run
})

const cases: ReadonlyArray<Case<unknown>> = [
  contractCase(
    "an empty store loads empty",
    (store) => store.load,
    (state) => expect(state).toEqual({ runs: [], queues: [], policy: null, drainedGpus: [], lastSeq: 0 })
  ),
  contractCase(
    "commit then load round-trips every field of the unfinished runs",
    (store) =>
      Effect.gen(function* () {
        yield* commitRuns(store, everyField({ id: "full", seq: 5 }), aRun({ id: "plain", seq: 3 }), ended(aRun({ id: "done", seq: 4 }), "completed", 9_000))
        const state = yield* store.load
        return { ...state, runs: bySeq(state.runs), full: yield* store.getRun(RunId.make("full")), done: yield* store.getRun(RunId.make("done")) }
      }),
    (r) => {
      expect(r.runs).toEqual([aRun({ id: "plain", seq: 3 }), everyField({ id: "full", seq: 5 })])
      expect(r.full).toEqual(everyField({ id: "full", seq: 5 }))
      expect(r.done?.status).toBe("completed")
      expect(r.lastSeq).toBe(5)
    }
  ),
  contractCase(
    "committing the same run twice keeps the last version",
    (store) =>
      Effect.gen(function* () {
        const run = aRun({ id: "twice", seq: 1 })
        yield* commitRuns(store, run)
        yield* commitRuns(store, { ...run, status: "running", startedAt: 50, assignedGpus: [0], stopCause: null })
        yield* commitRuns(store, { ...run, status: "stopping", startedAt: 50, assignedGpus: [0], stopCause: "cancel" })
        return { run: yield* store.getRun(RunId.make("twice")), all: ids(yield* store.listRuns({})) }
      }),
    (r) => {
      expect(r.run).toMatchObject({ status: "stopping", startedAt: 50, assignedGpus: [0], stopCause: "cancel" })
      expect(r.all).toEqual(["twice"])
    }
  ),
  contractCase(
    "a timeline is the run's events in commit order",
    (store) =>
      Effect.gen(function* () {
        const [a, b] = [aRun({ id: "a", seq: 1 }), aRun({ id: "b", seq: 2 })]
        yield* store.commit({ ...emptyBatch, runs: [a, b], events: [event("a", null, "pending", 1, "submitted"), event("b", null, "pending", 1, "submitted")] })
        yield* store.commit({ ...emptyBatch, runs: [a], events: [event("a", "pending", "running", 5, "started"), event("b", "pending", "cancelled", 5, "cancelled"), event("a", "running", "completed", 9, "exit 0")] })
        return { a: yield* store.timeline(RunId.make("a")), b: yield* store.timeline(RunId.make("b")), none: yield* store.timeline(RunId.make("none")) }
      }),
    (r) => {
      expect(r.a.map((e) => e.to)).toEqual(["pending", "running", "completed"])
      expect(r.a[0]).toEqual(event("a", null, "pending", 1, "submitted"))
      expect(r.b.map((e) => e.reason)).toEqual(["submitted", "cancelled"])
      expect(r.none).toEqual([])
    }
  ),
  contractCase(
    "queues are added, updated and deleted",
    (store) =>
      Effect.gen(function* () {
        yield* store.commit({ ...emptyBatch, queues: [makeQueue("gpu", { priority: 5, gpuPool: [0, 1] }), makeQueue("cpu"), makeQueue("tmp")] })
        yield* store.commit({ ...emptyBatch, queues: [makeQueue("gpu", { priority: 9, paused: true }), makeQueue("late")], deletedQueues: [makeQueue("cpu").name] })
        yield* store.commit({ ...emptyBatch, deletedQueues: [makeQueue("tmp").name, makeQueue("never-existed").name] })
        return (yield* store.load).queues
      }),
    (queues) => expect(queues).toEqual([makeQueue("gpu", { priority: 9, paused: true }), makeQueue("late")])
  ),
  contractCase(
    "the policy is kept until a batch carries a new one",
    (store) =>
      Effect.gen(function* () {
        yield* store.commit({ ...emptyBatch, policy: sharedPolicy })
        yield* commitRuns(store, aRun({ id: "p", seq: 1 }))
        const first = (yield* store.load).policy
        yield* store.commit({ ...emptyBatch, policy: { ...defaultPolicy, version: 2, backfill: false } })
        return { first, second: (yield* store.load).policy }
      }),
    (r) => {
      expect(r.first).toEqual(sharedPolicy)
      expect(r.second).toEqual({ ...defaultPolicy, version: 2, backfill: false })
    }
  ),
  contractCase(
    "every batch with a policy records a version with who, how and when; newest first; a batch without one records none",
    (store) =>
      Effect.gen(function* () {
        yield* store.commit({ ...emptyBatch, policy: { ...sharedPolicy, version: 2 }, policyOrigin: { appliedBy: "ana", source: "apply", note: "team caps", appliedAt: 1_000 } })
        yield* commitRuns(store, aRun({ id: "between", seq: 1 }))
        yield* store.commit({ ...emptyBatch, policy: { ...defaultPolicy, version: 3, backfill: false }, policyOrigin: { appliedBy: "bo", source: "limits set", note: null, appliedAt: 2_000 } })
        // no origin (a store written to directly): the system's, at 0
        yield* store.commit({ ...emptyBatch, policy: { ...defaultPolicy, version: 4 } })
        return {
          latest3: yield* store.policyHistory({ limit: 3 }),
          latest1: (yield* store.policyHistory({ limit: 1 })).map((v) => v.version),
          none: yield* store.policyHistory({ limit: 0 }),
          v2: yield* store.policyVersion(2),
          v3: (yield* store.policyVersion(3))?.policy.backfill,
          v99: yield* store.policyVersion(99),
          live: (yield* store.load).policy?.version
        }
      }),
    (r) =>
      expect(r).toEqual({
        latest3: [
          { version: 4, policy: { ...defaultPolicy, version: 4 }, appliedBy: null, source: "system", note: null, appliedAt: 0 },
          { version: 3, policy: { ...defaultPolicy, version: 3, backfill: false }, appliedBy: "bo", source: "limits set", note: null, appliedAt: 2_000 },
          { version: 2, policy: { ...sharedPolicy, version: 2 }, appliedBy: "ana", source: "apply", note: "team caps", appliedAt: 1_000 }
        ],
        latest1: [4],
        none: [],
        v2: { version: 2, policy: { ...sharedPolicy, version: 2 }, appliedBy: "ana", source: "apply", note: "team caps", appliedAt: 1_000 },
        v3: false,
        v99: undefined,
        live: 4
      })
  ),
  contractCase(
    "a version number committed twice is found as its last commit",
    (store) =>
      Effect.gen(function* () {
        yield* store.commit({ ...emptyBatch, policy: { ...defaultPolicy, version: 7, killGraceMs: 1 }, policyOrigin: { appliedBy: "ana", source: "put", note: null, appliedAt: 10 } })
        yield* store.commit({ ...emptyBatch, policy: { ...defaultPolicy, version: 7, killGraceMs: 2 }, policyOrigin: { appliedBy: "bo", source: "put", note: null, appliedAt: 20 } })
        return { found: yield* store.policyVersion(7), both: (yield* store.policyHistory({ limit: 2 })).map((v) => v.appliedBy) }
      }),
    (r) => expect(r).toEqual({ found: { version: 7, policy: { ...defaultPolicy, version: 7, killGraceMs: 2 }, appliedBy: "bo", source: "put", note: null, appliedAt: 20 }, both: ["bo", "ana"] })
  ),
  contractCase(
    "GPU drains are switched on and off",
    (store) =>
      Effect.gen(function* () {
        yield* store.commit({ ...emptyBatch, drainedGpus: [{ index: 1, drained: true }, { index: 3, drained: true }] })
        yield* store.commit({ ...emptyBatch, drainedGpus: [{ index: 1, drained: false }, { index: 2, drained: true }, { index: 7, drained: false }] })
        return [...(yield* store.load).drainedGpus].sort((a, b) => a - b)
      }),
    (drained) => expect(drained).toEqual([2, 3])
  ),
  contractCase(
    "lastSeq survives the cleanup of the newest run",
    (store) =>
      Effect.gen(function* () {
        yield* commitRuns(store, aRun({ id: "old", seq: 1 }), ended(aRun({ id: "newest", seq: 2 }), "completed", 100))
        const removed = yield* store.cleanup(200)
        const state = yield* store.load
        return { removed, lastSeq: state.lastSeq, runs: ids(state.runs) }
      }),
    (r) => expect(r).toEqual({ removed: 1, lastSeq: 2, runs: ["old"] })
  ),
  contractCase(
    "listRuns is newest first, filtered by status, queue and user, and limited",
    (store) =>
      Effect.gen(function* () {
        yield* commitRuns(store, ...listFixture)
        const list = (filter: Parameters<StoreService["listRuns"]>[0]) => Effect.map(store.listRuns(filter), ids)
        return {
          all: yield* list({}),
          limit3: yield* list({ limit: 3 }),
          pending: yield* list({ status: ["pending"] }),
          pendingOrRunning2: yield* list({ status: ["pending", "running"], limit: 2 }),
          terminal: yield* list({ status: ["completed", "failed", "cancelled"], limit: 10 }),
          gpu: yield* list({ queue: makeQueue("gpu").name }),
          bob1: yield* list({ user: "bob", limit: 1 }),
          combined: yield* list({ status: ["pending", "stopping"], queue: makeQueue("gpu").name, user: "ana" }),
          combinedLimit: yield* list({ status: ["pending", "stopping"], queue: makeQueue("gpu").name, user: "ana", limit: 1 }),
          noStatus: yield* list({ status: [] }),
          limit0: yield* list({ limit: 0 })
        }
      }),
    (r) =>
      expect(r).toEqual({
        all: ["L12", "L11", "L10", "L9", "L8", "L7", "L6", "L5", "L4", "L3", "L2", "L1"],
        limit3: ["L12", "L11", "L10"],
        pending: ["L10", "L7", "L4", "L1"],
        pendingOrRunning2: ["L10", "L8"],
        terminal: ["L11", "L9", "L5", "L3"],
        gpu: ["L12", "L10", "L9", "L5", "L4", "L2"],
        bob1: ["L10"],
        combined: ["L12", "L4"],
        combinedLimit: ["L12"],
        noStatus: [],
        limit0: []
      })
  ),
  contractCase(
    "a run is found by its idempotency key",
    (store) =>
      Effect.gen(function* () {
        yield* commitRuns(store, { ...aRun({ id: "k", seq: 1 }), idempotencyKey: "deploy-7" }, aRun({ id: "nokey", seq: 2 }))
        const user = aRun().user
        return {
          found: (yield* store.findByIdempotencyKey(user, "deploy-7"))?.id,
          missing: yield* store.findByIdempotencyKey(user, "deploy-8"),
          // keys are per user: another user's key is not found for this one
          otherUser: yield* store.findByIdempotencyKey(`${user}-other`, "deploy-7")
        }
      }),
    (r) => expect(r).toEqual({ found: "k", missing: undefined, otherUser: undefined })
  ),
  contractCase(
    "listRuns pages with an offset, newest first, with or without a status filter",
    (store) =>
      Effect.gen(function* () {
        yield* commitRuns(store, ...listFixture)
        return {
          second: ids(yield* store.listRuns({ limit: 3, offset: 3 })),
          pendingOrRunning: ids(yield* store.listRuns({ status: ["pending", "running"], limit: 2, offset: 2 })),
          rest: ids(yield* store.listRuns({ offset: 10 })),
          past: ids(yield* store.listRuns({ status: ["pending"], limit: 5, offset: 9 }))
        }
      }),
    (r) => expect(r).toEqual({ second: ["L9", "L8", "L7"], pendingOrRunning: ["L7", "L4"], rest: ["L2", "L1"], past: [] })
  ),
  contractCase(
    "summary counts every run by status and averages the queue wait (start - eligible) of the latest runs that started",
    (store) =>
      Effect.gen(function* () {
        const empty = yield* store.summary
        const started = (id: string, seq: number, eligibleAt: number, startedAt: number): Run => ({ ...aRun({ id, seq, eligibleAt }), status: "running", startedAt })
        yield* commitRuns(store, ...listFixture, started("w1", 200, 1_000, 4_000), ended(started("w2", 201, 2_000, 3_000), "completed", 9_000))
        return { empty, full: yield* store.summary }
      }),
    (r) =>
      expect(r).toEqual({
        empty: { byStatus: {}, meanWaitMs: null },
        full: { byStatus: { pending: 4, running: 3, completed: 3, failed: 1, held: 1, cancelled: 1, stopping: 1 }, meanWaitMs: 2_000 }
      })
  ),
  contractCase(
    "cleanup removes terminal runs ended before the cut-off, with their timelines, and counts them",
    (store) =>
      Effect.gen(function* () {
        const runs = [ended(aRun({ id: "c1", seq: 1 }), "completed", 50), ended(aRun({ id: "c2", seq: 2 }), "failed", 150), { ...aRun({ id: "live", seq: 3 }), status: "running" as const }]
        yield* store.commit({ ...emptyBatch, runs, events: runs.map((r) => event(r.id, null, "pending", 1)) })
        const first = yield* store.cleanup(100)
        const afterFirst = { c1: yield* store.getRun(RunId.make("c1")), c1Timeline: yield* store.timeline(RunId.make("c1")), c2Timeline: (yield* store.timeline(RunId.make("c2"))).length }
        const second = yield* store.cleanup(1_000)
        const third = yield* store.cleanup(1_000)
        return { first, ...afterFirst, second, third, left: ids(yield* store.listRuns({})), liveTimeline: (yield* store.timeline(RunId.make("live"))).length }
      }),
    (r) => expect(r).toEqual({ first: 1, c1: undefined, c1Timeline: [], c2Timeline: 1, second: 1, third: 0, left: ["live"], liveTimeline: 1 })
  )
]

describe("Store contract: MemoryStore and SqliteStore agree", () => {
  for (const c of cases)
    it.effect(c.name, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const memory = yield* c.run(MemoryStore.makeMemoryStore())
          const dir = yield* tempDir
          const sqlite = yield* Effect.flatMap(Store, c.run).pipe(Effect.provide(SqliteStore.layer({ filename: path.join(dir, "gantry.db") })))
          c.expected(memory)
          c.expected(sqlite)
          expect(sqlite).toEqual(memory)
        })
      )
    )
})
