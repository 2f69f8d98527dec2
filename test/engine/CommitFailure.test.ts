/**
 * A refused commit, for every kind of command (issue 9, item 2): the engine on the real SQLite
 * store, where triggers refuse every write (a full or failing disk). Each command must fail
 * with StoreError and leave memory exactly as the store has it: commands commit first and
 * change memory only once the store has acknowledged (Commit.ts). Checked by comparing the
 * engine's view (every run, policy, queues, GPU drains, counts) with the store's, after each
 * refused command and again after the same command succeeds once the disk is back.
 */
import { defaultPolicy, makeQueue, QueueName, type Run, type RunId, UserName } from "@gantry/core"
import { EngineTag, type EngineService, Store, type StoreService } from "@gantry/engine"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { acceptWrites, refuseWrites, sqliteEngine } from "./SqliteEngine.js"

const user = UserName.make("ana")

/** What the engine says, and what the store says, of everything a command can change. */
const views = (engine: EngineService, store: StoreService, ids: ReadonlyArray<RunId>) =>
  Effect.gen(function* () {
    const stored = yield* store.load
    const engineRuns: Array<Run> = []
    const storeRuns: Array<Run | undefined> = []
    for (const id of ids) {
      engineRuns.push(yield* engine.getRun(id))
      storeRuns.push(yield* store.getRun(id))
    }
    const all = yield* store.listRuns({})
    const stats = yield* engine.stats
    const count = (statuses: ReadonlyArray<Run["status"]>) => all.filter((r) => statuses.includes(r.status)).length
    const queues = (yield* engine.queues).map((q) => q.config).filter((q) => q.name !== "default" || stored.queues.some((s) => s.name === "default"))
    return {
      engine: {
        runs: engineRuns.map((r) => ({ ...r })),
        runCount: stats.pending + stats.held + stats.blocked + stats.active,
        counts: { pending: stats.pending, held: stats.held, blocked: stats.blocked, active: stats.active },
        policy: yield* engine.policy,
        queues: [...queues].sort((a, b) => a.name.localeCompare(b.name)),
        drained: (yield* engine.gpus).filter((g) => g.drained).map((g) => g.index)
      },
      store: {
        runs: storeRuns,
        runCount: stored.runs.length,
        counts: { pending: count(["pending"]), held: count(["held"]), blocked: count(["blocked"]), active: count(["running", "stopping"]) },
        policy: stored.policy ?? defaultPolicy,
        queues: [...stored.queues].sort((a, b) => a.name.localeCompare(b.name)),
        drained: [...stored.drainedGpus].sort()
      }
    }
  })

const { layer, cleanup } = sqliteEngine({ gpus: 2, prefix: "gantry-commit-failure-" })
afterAll(cleanup)

describe("a command whose commit is refused changes nothing", () => {
  it("for every kind of command: it fails with StoreError, memory equals the store, and it succeeds once the disk is back", async () => {
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const engine = yield* EngineTag
          const store = yield* Store
          const submit = (o: { hold?: boolean; requiresApproval?: boolean; gpus?: number; command?: ReadonlyArray<string> }) =>
            Effect.map(engine.submit({ command: o.command ?? ["true"], user, ...o }), (out) => {
              if (out._tag !== "Accepted") throw new Error(`not accepted: ${JSON.stringify(out)}`)
              return out.run.id
            })
          // a run holds both GPUs (a real process), so nothing else starts while commits fail
          const running = yield* submit({ gpus: 2, command: ["sleep", "30"] })
          const committed = yield* engine.subscribe
          for (;;) {
            const event = yield* committed.take
            if (event.runId === running && event.to === "running") break
          }
          const held = yield* submit({ hold: true })
          const blockedA = yield* submit({ requiresApproval: true })
          const blockedB = yield* submit({ requiresApproval: true })
          const pending = yield* submit({ gpus: 1 })
          yield* engine.createQueue(makeQueue("spare"))
          const ids: Array<RunId> = [running, held, blockedA, blockedB, pending]

          const commands: ReadonlyArray<[string, Effect.Effect<unknown, unknown>]> = [
            ["submit", engine.submit({ command: ["true"], user, hold: true })],
            ["cancel a pending run", engine.cancel([pending])],
            ["release", engine.release(held)],
            ["approve", engine.approve(blockedA)],
            ["reject", engine.reject(blockedB, "no budget")],
            ["set a priority override", engine.setPriority(held, 40)],
            ["update the policy", engine.updatePolicy({ ...defaultPolicy, version: defaultPolicy.version + 1, backfill: !defaultPolicy.backfill })],
            ["drain a GPU", engine.drainGpu(1, true)],
            ["create a queue", engine.createQueue(makeQueue("fresh"))],
            ["update a queue", engine.updateQueue(QueueName.make("spare"), { paused: true })],
            ["delete a queue", engine.deleteQueue(QueueName.make("spare"))],
            // last: its success ends the running run, which frees the GPUs for the approved one
            ["cancel a running run", engine.cancel([running])]
          ]
          const refused: Array<string> = []
          for (const [name, command] of commands) {
            yield* refuseWrites
            const outcome = yield* Effect.either(command)
            yield* acceptWrites
            if (outcome._tag === "Left" && (outcome.left as { _tag?: string })._tag === "StoreError") refused.push(name)
            const after = yield* views(engine, store, ids)
            expect(after.engine, `after a refused "${name}": memory and store differ`).toEqual(after.store)
            // the same command goes through once the disk takes writes again
            const retried = yield* Effect.either(command)
            expect(retried._tag, `"${name}" once the disk is back`).toBe("Right")
            if (name === "submit" && retried._tag === "Right") ids.push((retried.right as { run: Run }).run.id)
            if (name === "cancel a running run") {
              // the process ends (SIGTERM) and the approved run starts and ends: wait for both to be committed
              const ended = new Set<RunId>()
              while (!(ended.has(running) && ended.has(blockedA))) {
                const event = yield* committed.take
                if (["completed", "failed", "cancelled"].includes(event.to)) ended.add(event.runId)
              }
            }
            const again = yield* views(engine, store, ids)
            expect(again.engine, `after "${name}" succeeded: memory and store differ`).toEqual(again.store)
          }
          expect(refused).toEqual(commands.map(([name]) => name))
        }).pipe(Effect.provide(layer))
      )
    )
  }, 60_000)
})
