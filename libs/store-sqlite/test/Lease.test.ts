/**
 * The scheduling lease (SPEC §7): one holder at a time, a dead holder's lease is taken
 * over, and a race between two connections to one file is settled by the compare-and-swap.
 */
import { SqlClient } from "@effect/sql"
import { it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { describe, expect } from "vitest"
import { Lease, LeaseHeld, type LeaseHolder, LeaseNotHeld, SqliteStore } from "../src/index.js"
import { tempDb, tempStore } from "./TempDb.js"

const holder = (pid: number, o: Partial<LeaseHolder> = {}): LeaseHolder => ({
  kind: "serve",
  pid,
  processStart: `start-${pid}`,
  host: "gpu-box",
  url: null,
  token: null,
  acquiredAt: 1_000 + pid,
  ...o
})
const alive = () => true

describe("Lease", () => {
  it.effect("a free lease is taken; a live holder refuses a second runner with a clear message", () =>
    Effect.gen(function* () {
      expect(yield* Lease.current).toBeNull()
      const first = holder(100, { url: "http://127.0.0.1:8080" })
      yield* Lease.acquire(first, alive)
      expect(yield* Lease.current).toEqual(first)

      const refused = yield* Effect.flip(Lease.acquire(holder(200, { kind: "command" }), alive))
      expect(refused).toBeInstanceOf(LeaseHeld)
      expect(refused).toMatchObject({ _tag: "LeaseHeld", holder: first })
      expect(refused.message).toContain("pid 100")
      expect(refused.message).toContain("serve")
      expect(refused.message).toContain("http://127.0.0.1:8080")
      expect(yield* Lease.current).toEqual(first)
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("a dead holder's lease is taken over; the liveness check sees the holder", () =>
    Effect.gen(function* () {
      yield* Lease.acquire(holder(100), alive)
      const asked: Array<number> = []
      yield* Lease.acquire(holder(200), (h) => {
        asked.push(h.pid)
        return false
      })
      expect(asked).toEqual([100])
      expect(yield* Lease.current).toEqual(holder(200))
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("the same process acquiring again keeps the lease (its record replaced)", () =>
    Effect.gen(function* () {
      yield* Lease.acquire(holder(100), alive)
      yield* Lease.acquire(holder(100, { kind: "command" }), alive)
      expect(yield* Lease.current).toEqual(holder(100, { kind: "command" }))
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("release frees the lease only for its holder (pid and process start)", () =>
    Effect.gen(function* () {
      yield* Lease.acquire(holder(100), alive)
      expect(yield* Lease.release(200, "start-200")).toBe(false)
      expect(yield* Lease.release(100, "another-start")).toBe(false)
      expect(yield* Lease.current).toEqual(holder(100))
      expect(yield* Lease.release(100, "start-100")).toBe(true)
      expect(yield* Lease.current).toBeNull()
      expect(yield* Lease.release(100, "start-100")).toBe(false)
      yield* Lease.acquire(holder(300), alive)
      expect(yield* Lease.current).toEqual(holder(300))
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("update publishes the url and token, only for the holder", () =>
    Effect.gen(function* () {
      yield* Lease.acquire(holder(100), alive)
      const bound = holder(100, { url: "http://127.0.0.1:4321", token: "secret" })
      yield* Lease.update(bound)
      expect(yield* Lease.current).toEqual(bound)
      const error = yield* Effect.flip(Lease.update(holder(200, { url: "http://evil" })))
      expect(error).toBeInstanceOf(LeaseNotHeld)
      expect(error.message).toContain("pid 100")
      expect(yield* Lease.current).toEqual(bound)
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("compareAndSwap succeeds only at the generation it read", () =>
    Effect.gen(function* () {
      const before = yield* Lease.read
      expect(yield* Lease.compareAndSwap(before.generation, holder(1))).toBe(true)
      expect(yield* Lease.compareAndSwap(before.generation, holder(2))).toBe(false)
      const after = yield* Lease.read
      expect(after).toEqual({ holder: holder(1), generation: before.generation + 1 })
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("two connections racing for a dead holder's lease: exactly one wins", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const filename = yield* tempDb
        const one = yield* Layer.build(SqliteStore.layer({ filename }))
        const two = yield* Layer.build(SqliteStore.layer({ filename }))
        yield* Effect.provide(Lease.acquire(holder(1), alive), one)
        const start = yield* Effect.provide(Lease.read, one)

        // The dead holder is pid 1; the racers are alive. Counting the checks of pid 1 shows
        // that both racers read the dead holder before either swapped: the CAS decided.
        let deadChecks = 0
        const isAlive = (h: LeaseHolder) => {
          if (h.pid === 1) {
            deadChecks++
            return false
          }
          return true
        }
        const results = yield* Effect.all(
          [
            Effect.either(Effect.provide(Lease.acquire(holder(10), isAlive), one)),
            Effect.either(Effect.provide(Lease.acquire(holder(20), isAlive), two))
          ],
          { concurrency: 2 }
        )
        expect(deadChecks).toBe(2)
        const winners = results.filter(Either.isRight)
        const losers = results.filter(Either.isLeft).map((r) => r.left)
        expect(winners.length).toBe(1)
        expect(losers.length).toBe(1)
        expect(losers[0]).toBeInstanceOf(LeaseHeld)
        const winner = yield* Effect.provide(Lease.read, two)
        expect(winner.generation).toBe(start.generation + 1)
        expect([10, 20]).toContain(winner.holder?.pid)
        expect((losers[0] as LeaseHeld).holder).toEqual(winner.holder)
      })
    )
  )

  it.effect("a corrupt holder record is a StoreError, not a crash", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`UPDATE lease SET holder = '{"pid": "nope"}' WHERE id = 1`)
      const error = yield* Effect.flip(Lease.acquire(holder(1), alive))
      expect(error._tag).toBe("StoreError")
    }).pipe(Effect.provide(tempStore()))
  )
})
