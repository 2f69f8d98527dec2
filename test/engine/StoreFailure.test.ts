/**
 * SPEC §7 at the edges of a cycle's commit, with the real engine on the real SQLite store and
 * the real Node executor:
 * - the commit fails (a trigger in the database refuses any run going to `running`, as a full
 *   disk would refuse the cycle);
 * - the commit succeeds and the runner dies before the spawn (the store says `running`, no
 *   process was ever made).
 */
import { SqlClient } from "@effect/sql"
import { isTerminal, type Run, type RunEvent, type RunId, UserName } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import { emptyBatch, Engine, EngineTag, GpuInventory, Store } from "@gantry/engine"
import { NodeExecutor } from "@gantry/platform-node"
import { SqliteStore } from "@gantry/store-sqlite"
import { Duration, Effect, Layer, Queue } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"

const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** Takes events until one matches, failing after `timeoutMs`. */
const until = (events: Queue.Dequeue<RunEvent>, match: (e: RunEvent) => boolean, timeoutMs = 10_000) =>
  Effect.gen(function* () {
    const seen: Array<RunEvent> = []
    for (;;) {
      const event = yield* Queue.take(events)
      seen.push(event)
      if (match(event)) return seen
    }
  }).pipe(Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => new Error("timed out waiting for a run event") }))

describe("a cycle whose commit fails", () => {
  it("spawns nothing, keeps the run's place, and starts it once the store takes commits again", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-store-failure-"))
    dirs.push(dataDir)
    const storeLayer = SqliteStore.layer({ filename: path.join(dataDir, "gantry.db") })
    // every transition as it happens (the engine's synchronous hook), and, from `subscribe`,
    // the committed ones: each reported once, after the commit that made it durable
    const transitions = Effect.runSync(Queue.unbounded<RunEvent>())
    const engineLayer = Engine.layer({ onTransition: (e) => void transitions.unsafeOffer(e) }).pipe(
      Layer.provide(NodeExecutor.layer({ dataDir })),
      Layer.provide(Layer.succeed(GpuInventory, { list: Effect.succeed([]) })),
      Layer.provideMerge(storeLayer)
    )
    const program = Effect.gen(function* () {
      const engine = yield* EngineTag
      const store = yield* Store
      const sql = yield* SqlClient.SqlClient
      const committed = yield* engine.subscribe
      const line = (e: RunEvent) => `${e.from ?? "-"}→${e.to} ${e.reason}`
      yield* sql.unsafe(
        `CREATE TRIGGER refuse_start BEFORE UPDATE OF status ON runs WHEN NEW.status = 'running'
         BEGIN SELECT RAISE(ABORT, 'injected: the disk refuses'); END`
      )
      const submitted = yield* engine.submit({ command: ["sh", "-c", "echo started"], user: UserName.make("ana"), cwd: dataDir })
      if (submitted._tag !== "Accepted") throw new Error("not accepted")
      const id: RunId = submitted.run.id
      const eligibleAt = submitted.run.eligibleAt

      // the cycle assumes the start, the commit fails, the start is undone
      yield* until(transitions, (e) => e.runId === id && e.to === "pending" && e.reason === "requeued: store failed")
      const waiting = yield* engine.getRun(id)
      expect(waiting.status).toBe("pending")
      expect(waiting.eligibleAt).toBe(eligibleAt)
      expect(fs.existsSync(NodeExecutor.runDir(dataDir, id, 1))).toBe(false) // no process was spawned
      expect((yield* store.getRun(id))?.status).toBe("pending")
      // the refused start was not reported as committed
      expect((yield* Queue.takeAll(committed)).pipe((chunk) => [...chunk].map(line))).toEqual(["-→pending submitted"])

      // the store works again: the retry cycle starts it, once
      yield* sql.unsafe(`DROP TRIGGER refuse_start`)
      const rest = yield* until(committed, (e) => e.runId === id && isTerminal(e.to))
      const done = yield* engine.getRun(id)
      expect(done.status).toBe("completed")
      expect((yield* store.getRun(id))?.status).toBe("completed")
      expect(fs.readFileSync(NodeExecutor.logPaths(dataDir, id, 1).stdout, "utf8")).toBe("started\n")
      // the stored timeline tells what happened, the undone start included
      const timeline = (yield* engine.timeline(id)).map(line)
      expect(timeline).toEqual([
        "-→pending submitted",
        "pending→running started",
        "running→pending requeued: store failed",
        "pending→running started",
        "running→completed exit 0"
      ])
      expect(["-→pending submitted", ...rest.map(line)]).toEqual(timeline)
    })
    await Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(engineLayer))))
  })
})

describe("a start committed but never spawned (the runner died in between)", () => {
  it("goes back to pending with its attempt unchanged, then runs once", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-unstarted-"))
    dirs.push(dataDir)
    const storeLayer = SqliteStore.layer({ filename: path.join(dataDir, "gantry.db") })
    // what the dead runner left: the run stored as running, and no attempt folder
    const stored: Run = { ...aRun({ id: "u1", seq: 1, gpus: 0 }), command: ["sh", "-c", "echo ran"], cwd: dataDir, status: "running", startedAt: 1, eligibleAt: 0 }
    await Effect.runPromise(
      Effect.scoped(Effect.flatMap(Store, (store) => store.commit({ ...emptyBatch, runs: [stored] })).pipe(Effect.provide(storeLayer)))
    )
    const engineLayer = Engine.layer().pipe(
      Layer.provide(NodeExecutor.layer({ dataDir })),
      Layer.provide(Layer.succeed(GpuInventory, { list: Effect.succeed([]) })),
      Layer.provideMerge(storeLayer)
    )
    const program = Effect.gen(function* () {
      const engine = yield* EngineTag
      const events = yield* engine.subscribe
      const id = stored.id
      yield* until(events, (e) => e.runId === id && isTerminal(e.to))
      const done = yield* engine.getRun(id)
      expect(done.status).toBe("completed")
      expect(done.attempt).toBe(1)
      expect(fs.readFileSync(NodeExecutor.logPaths(dataDir, id, 1).stdout, "utf8")).toBe("ran\n")
      const timeline = (yield* engine.timeline(id)).map((e) => `${e.from ?? "-"}→${e.to} ${e.reason} #${e.attempt}`)
      expect(timeline).toEqual(["running→pending requeued: never started #1", "pending→running started #1", "running→completed exit 0 #1"])
    })
    await Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(engineLayer))))
  })
})
