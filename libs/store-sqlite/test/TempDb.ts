/**
 * Test helpers: a fresh temporary directory per test (removed when the test's scope
 * closes, after the layers opened inside it have closed their connections).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer, type Scope } from "effect"
import { SqliteStore } from "../src/index.js"

export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gantry-store-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A database file path in a fresh temporary directory. */
export const tempDb: Effect.Effect<string, never, Scope.Scope> = Effect.map(tempDir, (dir) => path.join(dir, "gantry.db"))

/** The SQLite store on a fresh file; the directory goes when the layer closes (after the connection). */
export const tempStore = (options: Partial<SqliteStore.SqliteStoreOptions> = {}) =>
  Layer.unwrapScoped(Effect.map(tempDb, (filename) => SqliteStore.layer({ filename, ...options })))
