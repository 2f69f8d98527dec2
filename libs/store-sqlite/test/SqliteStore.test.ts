/**
 * What only the SQLite store has: atomic batches, reopening a file, pragmas, migrations run
 * once, index use, the journal table, the GPU inventory, and errors mapped to StoreError.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { it } from "@effect/vitest"
import { defaultPolicy, makeQueue, type RunEvent, RunId, type RunStatus, sharedPolicy, UserName } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import { emptyBatch, Journal, type JournalEntry, type RunFilter, Store, StoreError } from "@gantry/engine"
import { Context, Effect, Exit, Layer, Schedule } from "effect"
import { describe, expect } from "vitest"
import { SqliteStore } from "../src/index.js"
import { tempDb, tempDir, tempStore } from "./TempDb.js"

const event = (runId: string, to: RunStatus, at: number): RunEvent => ({ runId: RunId.make(runId), from: null, to, reason: "r", at, attempt: 1 })

/** A pragma's value (the first column: busy_timeout's is named `timeout`). */
const pragma = (name: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<Record<string, unknown>>(`PRAGMA ${name}`)).pipe(
    Effect.map((rows) => Object.values(rows[0] ?? {})[0])
  )

const migrationRows = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.unsafe<{ migration_id: number; name: string }>(`SELECT migration_id, name FROM ${SqliteStore.MIGRATIONS_TABLE} ORDER BY migration_id`)
)

const entry = (cycle: number, at: number): JournalEntry => ({
  cycle,
  at,
  wakeups: ["submit", "exit"],
  inputs: { pending: cycle, running: 1, freeGpus: 4, policyVersion: 1 },
  starts: [{ runId: RunId.make(`r${cycle}`), gpus: [0, 1], backfill: false }],
  reservation: { runId: RunId.make("big"), gpus: 4, allowed: [0, 1, 2, 3], shadowAt: null },
  waits: [{ runId: RunId.make("w"), reason: "user-limit", runs: 3 }],
  otherwise: "global-limit",
  examined: 2
})

describe("SqliteStore: atomic batches", () => {
  it.effect("a batch whose run insert fails writes nothing of the batch, and fails with StoreError", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.commit({ ...emptyBatch, runs: [aRun({ id: "a", seq: 1 })], events: [event("a", "pending", 1)] })
      const error = yield* Effect.flip(
        store.commit({
          runs: [aRun({ id: "b", seq: 2 }), aRun({ id: "dup", seq: 1 })],
          events: [event("b", "pending", 2), event("a", "running", 2)],
          queues: [makeQueue("gpu")],
          deletedQueues: [],
          policy: sharedPolicy,
          drainedGpus: [{ index: 0, drained: true }]
        })
      )
      expect(error).toBeInstanceOf(StoreError)
      expect(error.message).toContain("UNIQUE constraint failed: runs.seq")
      expect(yield* store.load).toEqual({ runs: [aRun({ id: "a", seq: 1 })], queues: [], policy: null, drainedGpus: [], lastSeq: 1 })
      expect(yield* store.getRun(RunId.make("b"))).toBeUndefined()
      expect(yield* store.timeline(RunId.make("b"))).toEqual([])
      expect((yield* store.timeline(RunId.make("a"))).map((e) => e.to)).toEqual(["pending"])
      // nor a version of the policy: the history is still the one it began with
      expect((yield* store.policyHistory()).map((v) => v.source)).toEqual(["default"])
      // The connection is usable afterwards (the transaction was rolled back, not left open).
      yield* store.commit({ ...emptyBatch, runs: [aRun({ id: "c", seq: 3 })] })
      expect((yield* store.load).lastSeq).toBe(3)
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("a batch larger than one statement (runs and events in several chunks) commits whole", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const runs = Array.from({ length: 2 * SqliteStore.ROWS_PER_STATEMENT + 234 }, (_, i) => aRun({ id: `bulk${i}`, seq: i + 1 }))
      const events = Array.from({ length: 3 * SqliteStore.ROWS_PER_STATEMENT }, (_, i) => event("bulk0", "pending", i))
      yield* store.commit({ ...emptyBatch, runs, events })
      const state = yield* store.load
      expect(state.runs.length).toBe(runs.length)
      expect(state.lastSeq).toBe(runs.length)
      expect((yield* store.timeline(RunId.make("bulk0"))).map((e) => e.at)).toEqual(events.map((e) => e.at))
      expect((yield* store.listRuns({ limit: 2 })).map((r) => r.id)).toEqual([`bulk${runs.length - 1}`, `bulk${runs.length - 2}`])
    }).pipe(Effect.provide(tempStore()))
  )
})

describe("SqliteStore: the file", () => {
  it.effect("reopening a file finds the data, runs no migration twice and sets the pragmas again", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const filename = yield* tempDb
        const first = yield* Effect.gen(function* () {
          const store = yield* Store
          yield* store.commit({ ...emptyBatch, runs: [aRun({ id: "kept", seq: 7 })], queues: [makeQueue("gpu")], policy: sharedPolicy, drainedGpus: [{ index: 2, drained: true }] })
          return { migrations: yield* migrationRows, again: yield* SqliteStore.migrate }
        }).pipe(Effect.provide(SqliteStore.layer({ filename })))
        expect(first.migrations).toEqual([{ migration_id: 1, name: "initial" }, { migration_id: 2, name: "idempotency_key_unique" }, { migration_id: 3, name: "directory" }, { migration_id: 4, name: "idempotency_key_per_user" }, { migration_id: 5, name: "user_ids_and_templates" }, { migration_id: 6, name: "policy_versions" }])
        expect(first.again).toEqual([])

        const second = yield* Effect.gen(function* () {
          const store = yield* Store
          return {
            state: yield* store.load,
            migrations: yield* migrationRows,
            journalMode: yield* pragma("journal_mode"),
            synchronous: yield* pragma("synchronous"),
            busyTimeout: yield* pragma("busy_timeout"),
            foreignKeys: yield* pragma("foreign_keys")
          }
        }).pipe(Effect.provide(SqliteStore.layer({ filename })))
        expect(second).toEqual({
          state: { runs: [aRun({ id: "kept", seq: 7 })], queues: [makeQueue("gpu")], policy: sharedPolicy, drainedGpus: [2], lastSeq: 7 },
          migrations: [{ migration_id: 1, name: "initial" }, { migration_id: 2, name: "idempotency_key_unique" }, { migration_id: 3, name: "directory" }, { migration_id: 4, name: "idempotency_key_per_user" }, { migration_id: 5, name: "user_ids_and_templates" }, { migration_id: 6, name: "policy_versions" }],
          journalMode: "wal",
          synchronous: 2,
          busyTimeout: 5000,
          foreignKeys: 1
        })
      })
    )
  )

  it.effect("synchronous NORMAL and the busy timeout are configurable", () =>
    Effect.gen(function* () {
      expect({ synchronous: yield* pragma("synchronous"), busyTimeout: yield* pragma("busy_timeout") }).toEqual({ synchronous: 1, busyTimeout: 250 })
    }).pipe(Effect.provide(tempStore({ synchronous: "NORMAL", busyTimeoutMs: 250 })))
  )

  it.effect("the parent directories of the file are created", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const filename = path.join(yield* tempDir, "a", "b", "gantry.db")
        yield* Effect.provide(Effect.void, SqliteStore.layer({ filename }))
        expect(fs.statSync(filename).isFile()).toBe(true)
      })
    )
  )

  it.effect("under umask 022: created folders 0700; the database, its -wal and -shm 0600, and existing ones made so (they hold the token)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const previous = process.umask(0o022)
        yield* Effect.addFinalizer(() => Effect.sync(() => process.umask(previous)))
        const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8)
        const dir = yield* tempDir
        fs.chmodSync(dir, 0o755)
        const filename = path.join(dir, "a", "b", "gantry.db")
        yield* Effect.scoped(
          Effect.gen(function* () {
            const context = yield* Layer.build(SqliteStore.layer({ filename }))
            yield* Context.get(context, Store).commit({ ...emptyBatch, runs: [aRun({ id: "a", seq: 1 })] })
            expect([mode(path.join(dir, "a")), mode(path.join(dir, "a", "b"))]).toEqual(["700", "700"])
            expect([mode(filename), mode(`${filename}-wal`), mode(`${filename}-shm`)]).toEqual(["600", "600", "600"])
            expect(mode(dir), "a folder that existed is left as it was").toBe("755")
          })
        )
        // a database left readable by an older version (with its WAL): made private on open
        const old = path.join(dir, "old.db")
        yield* Effect.scoped(Layer.build(SqliteStore.layer({ filename: old })))
        fs.chmodSync(old, 0o644)
        fs.writeFileSync(`${old}-wal`, "", { mode: 0o644 })
        fs.chmodSync(`${old}-wal`, 0o644)
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* Layer.build(SqliteStore.layer({ filename: old }))
            expect([mode(old), mode(`${old}-wal`), mode(`${old}-shm`)]).toEqual(["600", "600", "600"])
          })
        )
      })
    )
  )

  it.effect("a file that cannot be opened fails the layer with StoreError", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir
        fs.writeFileSync(path.join(dir, "plain-file"), "not a directory")
        const exit = yield* Effect.exit(Effect.provide(Effect.void, SqliteStore.layer({ filename: path.join(dir, "plain-file", "gantry.db") })))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : exit).toBeInstanceOf(StoreError)
      })
    )
  )

  it.effect("a file that is not a database fails the layer with StoreError", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const filename = path.join(yield* tempDir, "garbage.db")
        fs.writeFileSync(filename, "this is not an SQLite database, just enough bytes to have a header ".repeat(20))
        const error = yield* Effect.flip(Effect.provide(Effect.void, SqliteStore.layer({ filename })))
        expect(error).toBeInstanceOf(StoreError)
        expect(error.message).toMatch(/not a database/)
      })
    )
  )
})

describe("SqliteStore: queries use indexes", () => {
  const plan = (text: string, params: ReadonlyArray<unknown>) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)).pipe(
      Effect.map((rows) => rows.map((row) => row.detail))
    )
  /** Every access to the table goes through an index (a bare `SCAN runs` reads every row). */
  const expectIndexed = (details: ReadonlyArray<string>, table: string) => {
    const accesses = details.filter((d) => new RegExp(`^(SCAN|SEARCH) ${table}\\b`).test(d))
    expect(accesses.length).toBeGreaterThan(0)
    for (const access of accesses) expect(access).toMatch(/ USING (COVERING )?INDEX | USING INTEGER PRIMARY KEY /)
  }
  const gpu = makeQueue("gpu").name

  it.effect.each<[string, RunFilter, string]>([
    ["newest 50", { limit: 50 }, "sqlite_autoindex_runs_2"],
    ["all, newest first", {}, "sqlite_autoindex_runs_2"],
    ["by one status", { status: ["pending"], limit: 50 }, "runs_status_seq"],
    ["by several statuses", { status: ["pending", "running", "stopping"], limit: 50 }, "runs_status_seq"],
    ["by queue", { queue: gpu, limit: 50 }, "runs_queue_seq"],
    ["by user", { user: "ana", limit: 50 }, "runs_user_seq"],
    ["by status, queue and user", { status: ["pending", "held"], queue: gpu, user: "ana", limit: 50 }, "runs_"]
  ])("listRuns %s", ([, filter, index]) =>
    Effect.gen(function* () {
      const query = SqliteStore.listRunsQuery(filter)
      expect(query).not.toBeNull()
      const details = yield* plan(query!.text, query!.params)
      expectIndexed(details, "runs")
      expect(details.join("\n")).toContain(index)
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("load walks the partial index of unfinished runs, with no sort", () =>
    Effect.gen(function* () {
      const details = yield* plan(SqliteStore.LOAD_RUNS, [])
      expect(details).toEqual(["SCAN runs USING INDEX runs_unfinished"])
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("idempotency lookup, timeline and cleanup are indexed", () =>
    Effect.gen(function* () {
      expectIndexed(yield* plan(SqliteStore.FIND_BY_IDEMPOTENCY_KEY, ["ana", "k"]), "runs")
      expectIndexed(yield* plan(SqliteStore.TIMELINE, ["r1"]), "run_events")
      expectIndexed(yield* plan(SqliteStore.CLEANUP[0], [0]), "run_events")
      expectIndexed(yield* plan(SqliteStore.CLEANUP[0], [0]), "runs")
      expectIndexed(yield* plan(SqliteStore.CLEANUP[1], [0]), "runs")
      expectIndexed(yield* plan(SqliteStore.CLEANUP[2], [0]), "journal")
    }).pipe(Effect.provide(tempStore()))
  )
})

describe("SqliteStore: journal", () => {
  it.effect("entries are written and read back, newest first; cleanup drops old ones", () =>
    Effect.gen(function* () {
      const journal = yield* Journal
      for (const [cycle, at] of [[1, 100], [2, 200], [3, 300]]) yield* journal.record(entry(cycle, at))
      expect(yield* SqliteStore.readJournal(2)).toEqual([entry(3, 300), entry(2, 200)])
      expect(yield* (yield* Store).cleanup(250)).toBe(0)
      expect(yield* SqliteStore.readJournal(10)).toEqual([entry(3, 300)])
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("a journal write that fails does not fail the cycle (the port cannot fail)", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`DROP TABLE journal`)
      const exit = yield* Effect.exit((yield* Journal).record(entry(1, 1)))
      expect(Exit.isSuccess(exit)).toBe(true)
      const error = yield* Effect.flip(SqliteStore.readJournal(1))
      expect(error).toBeInstanceOf(StoreError)
      expect(error.message).toContain("no such table: journal")
    }).pipe(Effect.provide(tempStore()))
  )
})

describe("SqliteStore: the journal rides with the next commit", () => {
  const journalRows = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<{ cycle: number }>(`SELECT cycle FROM journal ORDER BY id`)).pipe(
    Effect.map((rows) => rows.map((row) => row.cycle))
  )
  const lingering = (filename: string) => SqliteStore.layer({ filename, journalLingerMs: 3_600_000 })

  it.scoped("a recorded entry is written inside the next run commit, in recording order", () =>
    Effect.gen(function* () {
      const filename = yield* tempDb
      yield* Effect.gen(function* () {
        const journal = yield* Journal
        yield* journal.record(entry(1, 100))
        yield* journal.record(entry(2, 200))
        expect(yield* journalRows).toEqual([])
        yield* (yield* Store).commit({ ...emptyBatch, runs: [aRun({ id: "a", seq: 1 })] })
        expect(yield* journalRows).toEqual([1, 2])
      }).pipe(Effect.provide(lingering(filename)))
    })
  )

  it.scopedLive("with no commit to ride with, an entry is written after the linger", () =>
    Effect.gen(function* () {
      const filename = yield* tempDb
      yield* Effect.gen(function* () {
        yield* (yield* Journal).record(entry(7, 700))
        // the write is due 20 ms after the record: wait for the row (bounded), no commit in between
        yield* journalRows.pipe(
          Effect.repeat({ until: (cycles) => cycles.length > 0, schedule: Schedule.spaced("5 millis") }),
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the journal entry was never written") })
        )
        expect(yield* journalRows).toEqual([7])
      }).pipe(Effect.provide(SqliteStore.layer({ filename, journalLingerMs: 20 })))
    })
  )

  it.scoped("closing the store writes the entries still waiting", () =>
    Effect.gen(function* () {
      const filename = yield* tempDb
      yield* Effect.provide(Effect.flatMap(Journal, (journal) => journal.record(entry(3, 300))), lingering(filename))
      const rows = yield* Effect.provide(journalRows, lingering(filename))
      expect(rows).toEqual([3])
    })
  )

  it.scoped("a journal write that fails inside a commit leaves the runs' commit whole", () =>
    Effect.gen(function* () {
      const filename = yield* tempDb
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`DROP TABLE journal`)
        yield* (yield* Journal).record(entry(1, 100))
        const store = yield* Store
        yield* store.commit({ ...emptyBatch, runs: [aRun({ id: "kept", seq: 1 })] })
        expect((yield* store.getRun(RunId.make("kept")))?.id).toBe("kept")
      }).pipe(Effect.provide(lingering(filename)))
    })
  )
})

describe("SqliteStore: GPU inventory", () => {
  const gpu = (index: number) => ({ index, uuid: `GPU-${index}`, name: "NVIDIA H100", memoryMiB: 81_559 })

  it.effect("the inventory is replaced by each snapshot; drains outlive a missing card", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* SqliteStore.saveInventory([gpu(0), gpu(1), gpu(2)])
      yield* store.commit({ ...emptyBatch, drainedGpus: [{ index: 1, drained: true }, { index: 5, drained: true }] })
      expect(yield* SqliteStore.inventory).toEqual([gpu(0), gpu(1), gpu(2)])
      yield* SqliteStore.saveInventory([gpu(0), { ...gpu(2), name: "NVIDIA H200" }])
      expect(yield* SqliteStore.inventory).toEqual([gpu(0), { ...gpu(2), name: "NVIDIA H200" }])
      expect((yield* store.load).drainedGpus).toEqual([1, 5])
      yield* SqliteStore.saveInventory([])
      expect(yield* SqliteStore.inventory).toEqual([])
      expect((yield* store.load).drainedGpus).toEqual([1, 5])
    }).pipe(Effect.provide(tempStore()))
  )
})

describe("SqliteStore: one run per idempotency key and user (issues 9, 10)", () => {
  it.effect("refuses a second run with a key already stored, and the commit changes nothing", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-idem-"))
      const result = yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* Store
          yield* store.commit({ ...emptyBatch, runs: [{ ...aRun({ id: "1", seq: 1 }), idempotencyKey: "k" }] })
          const second = yield* Effect.either(store.commit({ ...emptyBatch, runs: [{ ...aRun({ id: "2", seq: 2 }), idempotencyKey: "k" }] }))
          // keys are per user: another user's run with the same key is stored
          yield* store.commit({ ...emptyBatch, runs: [{ ...aRun({ id: "3", seq: 3 }), user: UserName.make("someone-else"), idempotencyKey: "k" }] })
          return {
            second,
            found: (yield* store.findByIdempotencyKey(aRun().user, "k"))?.id,
            two: yield* store.getRun(RunId.make("2")),
            other: (yield* store.findByIdempotencyKey("someone-else", "k"))?.id
          }
        }).pipe(Effect.provide(SqliteStore.layer({ filename: path.join(dir, "gantry.db") })))
      )
      fs.rmSync(dir, { recursive: true, force: true })
      expect(result.second._tag).toBe("Left")
      expect(result.found).toBe("1")
      expect(result.two).toBeUndefined()
      expect(result.other).toBe("3")
    })
  )
})

describe("SqliteStore: policy history (issue 12)", () => {
  it.effect("a new database's history begins with the built-in default the engine runs (nobody's, at creation)", () =>
    Effect.gen(function* () {
      const before = Date.now()
      const history = yield* Effect.provide(Effect.flatMap(Store, (store) => store.policyHistory()), tempStore())
      expect(history).toEqual([{ version: defaultPolicy.version, policy: defaultPolicy, appliedBy: null, source: "default", note: null, appliedAt: expect.any(Number) }])
      expect(history[0]!.appliedAt).toBeGreaterThanOrEqual(before)
      expect(history[0]!.appliedAt).toBeLessThanOrEqual(Date.now())
    })
  )

  it.effect("a database from before the history (migration 0005) gets one version: its live policy, nobody's, at migration time", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const filename = yield* tempDb
        const live = { ...sharedPolicy, version: 9, killGraceMs: 3_000 }
        const upTo = (last: string) =>
          Migrator.make({})({ loader: Migrator.fromRecord(Object.fromEntries(Object.entries(SqliteStore.migrations).filter(([key]) => key <= last))), table: SqliteStore.MIGRATIONS_TABLE })
        yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* upTo("0005_user_ids_and_templates")
          yield* sql.unsafe(`INSERT INTO policy (id, data) VALUES (1, ?)`, [JSON.stringify(live)])
        }).pipe(Effect.provide(SqliteClient.layer({ filename })))
        const before = Date.now()
        const opened = yield* Effect.gen(function* () {
          const store = yield* Store
          const seeded = yield* store.policyHistory()
          yield* store.commit({ ...emptyBatch, policy: { ...live, version: 10, backfill: false }, policyOrigin: { appliedBy: "root", source: "apply", note: null, appliedAt: before + 1 } })
          return { seeded, v9: yield* store.policyVersion(9), after: (yield* store.policyHistory()).map((v) => [v.version, v.appliedBy, v.source]), live: (yield* store.load).policy }
        }).pipe(Effect.provide(SqliteStore.layer({ filename })))
        expect(opened.seeded).toEqual([{ version: 9, policy: live, appliedBy: null, source: "migration", note: null, appliedAt: expect.any(Number) }])
        expect(opened.seeded[0]!.appliedAt).toBeGreaterThanOrEqual(before)
        expect(opened.v9?.policy).toEqual(live)
        expect(opened.after).toEqual([
          [10, "root", "apply"],
          [9, null, "migration"]
        ])
        expect(opened.live).toEqual({ ...live, version: 10, backfill: false })
      })
    )
  )

  it.effect("a version is looked up through its index", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const plan = yield* sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${SqliteStore.POLICY_VERSION}`, [3])
      expect(plan.map((row) => row.detail).join("\n")).toMatch(/USING (COVERING )?INDEX policy_versions_version/)
    }).pipe(Effect.provide(tempStore()))
  )
})
