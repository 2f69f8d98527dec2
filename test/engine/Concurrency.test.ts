/**
 * Concurrent callers (issue 9, item 1): the engine on the real SQLite store, made to yield at
 * each look-up and commit as a networked store would (SqliteEngine.ts). Two submissions with one idempotency key used to both miss the look-up
 * and both be stored; now every command runs under the engine's lock, and the store has a
 * unique index on the key besides.
 */
import { type RunId, UserName } from "@gantry/core"
import { EngineTag, type SubmitOutcome, Store } from "@gantry/engine"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { sqliteEngine } from "./SqliteEngine.js"

describe("200 concurrent submissions with 50 idempotency keys, on SQLite", () => {
  it("store exactly 50 runs, and every caller of a key gets the same run", async () => {
    const { layer, cleanup } = sqliteEngine({ gpus: 2, prefix: "gantry-concurrent-", yielding: true })
    try {
      const { outcomes, stored } = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const engine = yield* EngineTag
            const store = yield* Store
            const submissions = Array.from({ length: 200 }, (_, i) => ({
              command: ["true"],
              // keys are per user (issue 10): each key here is one user's
              user: UserName.make(`user${(i % 50) % 7}`),
              idempotencyKey: `key-${i % 50}`,
              hold: true
            }))
            const outcomes = yield* Effect.all(
              submissions.map((s) => engine.submit(s)),
              { concurrency: "unbounded" }
            )
            return { outcomes, stored: yield* store.listRuns({}) }
          }).pipe(Effect.provide(layer))
        )
      )
      const accepted = outcomes.filter((o): o is Extract<SubmitOutcome, { _tag: "Accepted" }> => o._tag === "Accepted")
      expect(accepted).toHaveLength(200)
      const byKey = new Map<string, Set<RunId>>()
      for (const o of accepted) {
        const key = o.run.idempotencyKey!
        byKey.set(key, (byKey.get(key) ?? new Set()).add(o.run.id))
      }
      expect(byKey.size).toBe(50)
      for (const [key, ids] of byKey) expect([...ids], `key ${key}`).toHaveLength(1)
      expect(accepted.filter((o) => !o.duplicate)).toHaveLength(50)
      expect(stored).toHaveLength(50)
      expect(new Set(stored.map((r) => r.idempotencyKey)).size).toBe(50)
    } finally {
      cleanup()
    }
  })
})
