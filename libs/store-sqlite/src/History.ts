/**
 * A runner database's history, read for a what-if replay (`gantry sim --from-db PATH`, issue
 * 12): every run, every transition, the policy in force, the queues and the GPU inventory.
 *
 * Read-only and without disturbing a live daemon:
 * - the file is opened with better-sqlite3 `{ readonly: true, fileMustExist: true }` (never
 *   created, never migrated, never written);
 * - everything is read inside ONE read transaction (`BEGIN`, the reads, `COMMIT`). On a WAL
 *   database (the runner's: SPEC §7) a read transaction sees the database as of its first
 *   read, a consistent snapshot: the runs, their timelines and the policy agree with one
 *   another even while the daemon commits. A WAL reader takes no lock that blocks the writer,
 *   and the writer none that blocks it; the daemon's checkpoints simply stop short of the
 *   frames this reader still needs until it ends. The snapshot instant (`snapshotAt`) is taken
 *   right after the first read.
 * - it is checked to be gantry's before anything is read: the migrations table
 *   (`schema_migrations`) and the tables this reader needs; a migration newer than this binary
 *   knows is refused too (its tables may mean something else).
 */
import type { Policy, QueueConfig, Run, RunEvent, RunStatus } from "@gantry/core"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { MIGRATIONS_TABLE, migrations } from "./Schema.js"

/** Why a history could not be read: the file (unreadable), or its content (not gantry's, too new, corrupt). */
export class HistoryError extends Error {
  readonly _tag = "HistoryError"
  constructor(
    readonly kind: "unreadable" | "not-gantry" | "too-new" | "corrupt",
    message: string
  ) {
    super(message)
  }
}

export interface History {
  readonly source: string
  readonly snapshotAt: number
  /** The newest migration applied to the database (its schema version). */
  readonly schemaVersion: number
  readonly runs: ReadonlyArray<Run>
  readonly events: ReadonlyArray<RunEvent>
  /** The policy in force; null when none was ever stored (the runner's default applies). */
  readonly policy: Policy | null
  readonly queues: ReadonlyArray<QueueConfig>
  /** GPUs present at the last inventory (by index), and those drained. */
  readonly gpus: ReadonlyArray<{ readonly index: number; readonly drained: boolean }>
  readonly gpuCount: number | null
}

// better-sqlite3's API as used here (the package ships no types of its own)
interface Statement {
  all(...params: ReadonlyArray<unknown>): Array<unknown>
  get(...params: ReadonlyArray<unknown>): unknown
  run(...params: ReadonlyArray<unknown>): unknown
}
interface Database {
  prepare(sql: string): Statement
  exec(sql: string): void
  close(): void
}
type DatabaseConstructor = new (filename: string, options: { readonly readonly: boolean; readonly fileMustExist: boolean }) => Database
const loadDriver = (): DatabaseConstructor => createRequire(import.meta.url)("better-sqlite3") as DatabaseConstructor

/** The tables (and their columns) this reader needs. */
const NEEDED: Readonly<Record<string, ReadonlyArray<string>>> = {
  [MIGRATIONS_TABLE]: ["migration_id", "name"],
  runs: ["id", "seq", "data"],
  run_events: ["id", "run_id", "from_status", "to_status", "reason", "at", "attempt"],
  policy: ["id", "data"],
  queues: ["name", "data"],
  gpus: ["gpu_index", "drained", "uuid"]
}

const knownMigrations = (): number => Math.max(...Object.keys(migrations).map((k) => Number(k.slice(0, 4))))

const parse = <A>(what: string, text: string): A => {
  try {
    return JSON.parse(text) as A
  } catch {
    throw new HistoryError("corrupt", `${what}: stored JSON is corrupt`)
  }
}

/**
 * Reads a runner database's history at one instant (see the module's comment). Throws
 * `HistoryError`; the message names the file and what is wrong.
 */
export const readHistory = (filename: string, o: { readonly now?: () => number } = {}): History => {
  const now = o.now ?? Date.now
  try {
    fs.accessSync(filename, fs.constants.R_OK)
    if (!fs.statSync(filename).isFile()) throw new Error("not a file")
  } catch (e) {
    throw new HistoryError("unreadable", `${filename}: cannot read it (${e instanceof Error ? e.message.replace(/^[A-Z]+: /, "") : String(e)})`)
  }
  let db: Database
  try {
    db = new (loadDriver())(filename, { readonly: true, fileMustExist: true })
  } catch (e) {
    throw new HistoryError("unreadable", `${filename}: cannot open it (${e instanceof Error ? e.message : String(e)})`)
  }
  const notGantry = (why: string) => new HistoryError("not-gantry", `${filename}: not a gantry database (${why})`)
  try {
    db.exec("BEGIN")
    try {
      // the first read fixes the snapshot: sqlite_master, which also says whether the file is SQLite at all
      let tables: Array<{ name: string }>
      try {
        tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>
      } catch (e) {
        throw notGantry(e instanceof Error ? e.message : String(e))
      }
      const snapshotAt = now()
      const names = new Set(tables.map((t) => t.name))
      if (!names.has(MIGRATIONS_TABLE)) throw notGantry(`no ${MIGRATIONS_TABLE} table`)
      for (const [table, columns] of Object.entries(NEEDED)) {
        if (!names.has(table)) throw notGantry(`no ${table} table`)
        const have = new Set((db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as Array<{ name: string }>).map((c) => c.name))
        const missing = columns.filter((c) => !have.has(c))
        if (missing.length > 0) throw notGantry(`table ${table} has no column ${missing.join(", ")}`)
      }
      const applied = (db.prepare(`SELECT migration_id AS id FROM ${MIGRATIONS_TABLE} ORDER BY migration_id`).all() as Array<{ id: number }>).map((r) => r.id)
      if (!applied.includes(1)) throw notGantry(`${MIGRATIONS_TABLE} does not record gantry's first migration`)
      const schemaVersion = Math.max(...applied)
      const known = knownMigrations()
      if (schemaVersion > known)
        throw new HistoryError("too-new", `${filename}: its schema is newer than this gantry knows (migration ${schemaVersion}; this binary knows up to ${known}): use a newer gantry`)

      const runs = (db.prepare(`SELECT data FROM runs ORDER BY seq`).all() as Array<{ data: string }>).map((r) => parse<Run>("runs", r.data))
      const events = (
        db.prepare(`SELECT run_id, from_status, to_status, reason, at, attempt FROM run_events ORDER BY id`).all() as Array<{
          run_id: string
          from_status: RunStatus | null
          to_status: RunStatus
          reason: string
          at: number
          attempt: number
        }>
      ).map((e): RunEvent => ({ runId: e.run_id as RunEvent["runId"], from: e.from_status, to: e.to_status, reason: e.reason, at: e.at, attempt: e.attempt }))
      const policyRow = db.prepare(`SELECT data FROM policy WHERE id = 1`).get() as { data: string } | undefined
      const queues = (db.prepare(`SELECT data FROM queues ORDER BY rowid`).all() as Array<{ data: string }>).map((r) => parse<QueueConfig>("queues", r.data))
      const gpuRows = db.prepare(`SELECT gpu_index, drained, uuid FROM gpus ORDER BY gpu_index`).all() as Array<{ gpu_index: number; drained: number; uuid: string | null }>
      const present = gpuRows.filter((g) => g.uuid !== null)
      return {
        source: filename,
        snapshotAt,
        schemaVersion,
        runs,
        events,
        policy: policyRow === undefined ? null : parse<Policy>("policy", policyRow.data),
        queues,
        gpus: present.map((g) => ({ index: g.gpu_index, drained: g.drained !== 0 })),
        gpuCount: gpuRows.length === 0 ? null : present.length
      }
    } finally {
      db.exec("COMMIT")
    }
  } catch (e) {
    if (e instanceof HistoryError) throw e
    // SQLITE_NOTADB and friends: a file that is not a database at all
    throw notGantry(e instanceof Error ? e.message : String(e))
  } finally {
    db.close()
  }
}
