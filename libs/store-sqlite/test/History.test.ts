/**
 * readHistory: a runner database read-only, in one consistent snapshot that neither waits for
 * nor blocks a writer (WAL); a file that is not gantry's, or newer than this code, refused.
 */
import { it } from "@effect/vitest"
import { type RunEvent, RunId, sharedPolicy } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import { emptyBatch, Store } from "@gantry/engine"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { HistoryError, readHistory, SqliteStore } from "../src/index.js"
import { tempDir } from "./TempDb.js"

interface Connection {
  exec(sql: string): void
  prepare(sql: string): { run(...params: ReadonlyArray<unknown>): unknown }
  close(): void
}
const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new (file: string) => Connection

const submitted = (id: string, at: number): RunEvent => ({ runId: RunId.make(id), from: null, to: "pending", reason: "submitted", at, attempt: 1 })

describe("readHistory", () => {
  it.scoped("reads runs, timelines, policy and GPUs in one snapshot while a writer holds an open transaction", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "gantry.db")
      // a database written by the store, as the runner writes it
      yield* Effect.gen(function* () {
        const store = yield* Store
        yield* store.commit({ ...emptyBatch, runs: [aRun({ id: "a", seq: 1 }), aRun({ id: "b", seq: 2 })], events: [submitted("a", 1), submitted("b", 2)], policy: { ...sharedPolicy, version: 7 } })
        yield* SqliteStore.saveInventory([0, 1, 2].map((index) => ({ index, uuid: `GPU-${index}`, name: "fake", memoryMiB: 1 })))
      }).pipe(Effect.provide(Layer.fresh(SqliteStore.layer({ filename: file }))), Effect.scoped)
      // a writer in the middle of a transaction (the daemon committing a cycle)
      const writer = new Sqlite(file)
      writer.exec("BEGIN IMMEDIATE")
      writer.prepare("INSERT INTO runs (id, seq, status, queue, user, submitted_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)").run("c", 3, "pending", "default", "ana", 3, JSON.stringify(aRun({ id: "c", seq: 3 })))
      const history = readHistory(file, { now: () => 1_234 })
      // the writer was not blocked either: it commits after the read began
      writer.exec("COMMIT")
      writer.close()
      expect(history.runs.map((r) => r.id)).toEqual(["a", "b"])
      expect(history.events.map((e) => [e.runId, e.to])).toEqual([["a", "pending"], ["b", "pending"]])
      expect(history.policy?.version).toBe(7)
      expect(history.gpuCount).toBe(3)
      expect(history.snapshotAt).toBe(1_234)
      expect(history.schemaVersion).toBe(Math.max(...Object.keys(SqliteStore.migrations).map((k) => Number(k.slice(0, 4)))))
      expect(readHistory(file).runs.map((r) => r.id)).toEqual(["a", "b", "c"])
    })
  )

  it.scoped("refuses what is not gantry's, and a missing file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const other = path.join(dir, "other.db")
      const db = new Sqlite(other)
      db.exec("CREATE TABLE schema_migrations (migration_id INTEGER PRIMARY KEY, name TEXT)")
      db.close()
      const text = path.join(dir, "notes.txt")
      fs.writeFileSync(text, "hello\n".repeat(1_000))
      const refused = (file: string) => {
        try {
          readHistory(file)
        } catch (e) {
          return e instanceof HistoryError ? [e.kind, e.message] : ["?", String(e)]
        }
        return null
      }
      expect(refused(other)).toEqual(["not-gantry", `${other}: not a gantry database (no runs table)`])
      expect(refused(text)).toEqual(["not-gantry", `${text}: not a gantry database (file is not a database)`])
      expect(refused(path.join(dir, "nope.db"))?.[0]).toBe("unreadable")
      expect(refused(dir)?.[0]).toBe("unreadable")
      // read-only: nothing was created beside them
      expect(fs.readdirSync(dir).sort()).toEqual(["notes.txt", "other.db"])
    })
  )
})
