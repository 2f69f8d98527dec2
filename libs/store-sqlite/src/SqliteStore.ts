/**
 * The Store and Journal ports on SQLite (@effect/sql-sqlite-node, one better-sqlite3
 * connection): WAL, `synchronous=FULL` by default (acknowledged means on disk, SPEC §7),
 * migrations by @effect/sql's Migrator.
 *
 * A run is stored as its JSON (the whole `Run`, so every field round-trips) plus the columns
 * that queries filter, sort or constrain on; see docs/ARCHITECTURE.md "Store (SQLite)".
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { Policy, QueueConfig, Run, RunEvent, RunId, RunStatus } from "@gantry/core"
import {
  type GpuInfo,
  Journal,
  type JournalEntry,
  type JournalService,
  type PolicyVersion,
  type RunFilter,
  Store,
  type StoreBatch,
  StoreError,
  type StoredState,
  type StoreService,
  unknownPolicyOrigin
} from "@gantry/engine"
import { Cause, Context, Effect, Layer, Runtime } from "effect"
import { orStoreError, parseJson, storeError } from "./internal/errors.js"
import { MIGRATIONS_TABLE, migrations } from "./Schema.js"

import {
  CLEANUP,
  changesOf,
  chunks,
  COUNT_BY_STATUS,
  eventParams,
  FIND_BY_IDEMPOTENCY_KEY,
  inChunks,
  inList,
  insertEvents,
  INSERT_POLICY_VERSION,
  LOAD_RUNS,
  listRunsQuery,
  MEAN_WAIT,
  memo,
  parsePolicyVersions,
  parseRuns,
  placeholders,
  POLICY_HISTORY,
  POLICY_VERSION,
  type PolicyVersionRow,
  runParams,
  TIMELINE,
  upsertDrains,
  upsertInventory,
  upsertQueues,
  upsertRuns
} from "./Statements.js"

export { MIGRATIONS_TABLE, migrations } from "./Schema.js"
export { CLEANUP, FIND_BY_IDEMPOTENCY_KEY, LOAD_RUNS, listRunsQuery, POLICY_HISTORY, POLICY_VERSION, ROWS_PER_STATEMENT, TIMELINE } from "./Statements.js"

export interface SqliteStoreOptions {
  /** The database file; its parent directories are created. */
  readonly filename: string
  /** `FULL` (default): a commit is on disk when it returns. `NORMAL`: may lose the last commits on power loss. */
  readonly synchronous?: "FULL" | "NORMAL"
  /** How long a statement waits for another connection's lock before failing (default 5000). */
  readonly busyTimeoutMs?: number
  /** The longest a journal entry waits to be written with the next commit (default `JOURNAL_LINGER_MS`). */
  readonly journalLingerMs?: number
}

const LAST_SEQ = "last_seq"

// ------------------------------------------------------------------------------- the Store

/**
 * The Store service on the SqlClient in context (tables must exist: see `migrate`). Each
 * commit also writes the journal entries recorded since the last write (see `makeJournal`).
 */
export const makeStore = (journal: PendingJournal = new PendingJournal()): Effect.Effect<StoreService, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => {
  const commit = (batch: StoreBatch): Effect.Effect<void, StoreError> => {
    if (
      batch.runs.length === 0 &&
      batch.events.length === 0 &&
      batch.queues.length === 0 &&
      batch.deletedQueues.length === 0 &&
      batch.policy === null &&
      batch.drainedGpus.length === 0
    )
      return Effect.void
    return sql
      .withTransaction(
        Effect.gen(function* () {
          if (batch.runs.length > 0) {
            yield* inChunks(sql, batch.runs, upsertRuns, runParams)
            const maxSeq = batch.runs.reduce((max, run) => Math.max(max, run.seq), 0)
            yield* sql.unsafe(
              `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`,
              [LAST_SEQ, maxSeq]
            )
          }
          yield* inChunks(sql, batch.events, insertEvents, eventParams)
          yield* inChunks(sql, batch.queues, upsertQueues, (q) => [q.name, JSON.stringify(q)])
          yield* Effect.forEach(
            chunks(batch.deletedQueues),
            (names) => sql.unsafe(`DELETE FROM queues WHERE name IN (${inList(names.length)})`, names),
            { discard: true }
          )
          if (batch.policy !== null) {
            const data = JSON.stringify(batch.policy)
            const origin = batch.policyOrigin ?? unknownPolicyOrigin
            yield* sql.unsafe(`INSERT INTO policy (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`, [data])
            yield* sql.unsafe(INSERT_POLICY_VERSION, [batch.policy.version, data, origin.appliedBy, origin.appliedAt, origin.source, origin.note])
          }
          yield* inChunks(sql, batch.drainedGpus, upsertDrains, (g) => [g.index, g.drained ? 1 : 0])
          yield* writeJournal(sql, journal, true)
        })
      )
      .pipe(orStoreError("commit"))
  }

  const load: Effect.Effect<StoredState, StoreError> = Effect.gen(function* () {
    const runRows = yield* sql.unsafe<{ data: string }>(LOAD_RUNS)
    const queueRows = yield* sql.unsafe<{ data: string }>(`SELECT data FROM queues ORDER BY rowid`)
    const policyRows = yield* sql.unsafe<{ data: string }>(`SELECT data FROM policy WHERE id = 1`)
    const drainedRows = yield* sql.unsafe<{ gpu_index: number }>(`SELECT gpu_index FROM gpus WHERE drained = 1 ORDER BY gpu_index`)
    const seqRows = yield* sql.unsafe<{ last_seq: number | null }>(
      `SELECT max(coalesce((SELECT value FROM meta WHERE key = ?), 0), coalesce((SELECT max(seq) FROM runs), 0)) AS last_seq`,
      [LAST_SEQ]
    )
    const runs = yield* parseRuns(runRows)
    const queues = yield* Effect.forEach(queueRows, (row) => parseJson<QueueConfig>("queues", row.data))
    const policy = policyRows.length === 0 ? null : yield* parseJson<Policy>("policy", policyRows[0].data)
    return {
      runs,
      queues,
      policy,
      drainedGpus: drainedRows.map((row) => row.gpu_index),
      lastSeq: seqRows[0]?.last_seq ?? 0
    }
  }).pipe(orStoreError("load"))

  const firstRun = (rows: ReadonlyArray<{ readonly data: string }>) =>
    Effect.map(parseRuns(rows.slice(0, 1)), (runs): Run | undefined => runs[0])

  const getRun = (id: RunId) =>
    sql.unsafe<{ data: string }>(`SELECT data FROM runs WHERE id = ?`, [id]).pipe(Effect.flatMap(firstRun), orStoreError("getRun"))

  const findByIdempotencyKey = (user: string, key: string) =>
    sql
      .unsafe<{ data: string }>(FIND_BY_IDEMPOTENCY_KEY, [user, key])
      .pipe(Effect.flatMap(firstRun), orStoreError("findByIdempotencyKey"))

  const listRuns = (filter: RunFilter): Effect.Effect<ReadonlyArray<Run>, StoreError> => {
    const query = listRunsQuery(filter)
    if (query === null) return Effect.succeed([])
    return sql.unsafe<{ data: string }>(query.text, query.params).pipe(Effect.flatMap(parseRuns), orStoreError("listRuns"))
  }

  const timeline = (id: RunId) =>
    sql
      .unsafe<{ run_id: RunId; from_status: RunStatus | null; to_status: RunStatus; reason: string; at: number; attempt: number }>(
        TIMELINE,
        [id]
      )
      .pipe(
        Effect.map((rows) =>
          rows.map(
            (row): RunEvent => ({ runId: row.run_id, from: row.from_status, to: row.to_status, reason: row.reason, at: row.at, attempt: row.attempt })
          )
        ),
        orStoreError("timeline")
      )

  const cleanup = (before: number) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe(CLEANUP[0], [before])
          const removed = changesOf(yield* sql.unsafe(CLEANUP[1], [before]).raw)
          yield* sql.unsafe(CLEANUP[2], [before])
          return removed
        })
      )
      .pipe(orStoreError("cleanup"))

  const summary = Effect.gen(function* () {
    const counts = yield* sql.unsafe<{ status: RunStatus; n: number }>(COUNT_BY_STATUS)
    const [wait] = yield* sql.unsafe<{ mean: number | null; n: number }>(MEAN_WAIT)
    const byStatus: Partial<Record<RunStatus, number>> = {}
    for (const row of counts) byStatus[row.status] = row.n
    return { byStatus, meanWaitMs: wait === undefined || wait.n === 0 ? null : wait.mean }
  }).pipe(orStoreError("summary"))

  const policyHistory = (options: { readonly limit?: number } = {}) => {
    const limit = options.limit === undefined || options.limit === Infinity ? -1 : Number.isNaN(options.limit) ? 0 : Math.max(0, Math.floor(options.limit))
    return sql.unsafe<PolicyVersionRow>(POLICY_HISTORY, [limit]).pipe(Effect.flatMap(parsePolicyVersions), orStoreError("policyHistory"))
  }

  const policyVersion = (version: number) =>
    sql.unsafe<PolicyVersionRow>(POLICY_VERSION, [version]).pipe(
      Effect.flatMap(parsePolicyVersions),
      Effect.map((versions): PolicyVersion | undefined => versions[0]),
      orStoreError("policyVersion")
    )

  return { load, commit, getRun, findByIdempotencyKey, listRuns, timeline, summary, cleanup, policyHistory, policyVersion }
})

// ------------------------------------------------------------------------------- the Journal

/**
 * Journal entries recorded and not yet written. A cycle records its entry after its own
 * commit (the entry says what was started), and a commit of its own would cost a second
 * fsync per cycle: with `synchronous=FULL` under a busy runner that was the largest single
 * cost of a run (about 3.5 ms of 12 per run in `npm run bench -- runner`). So an entry waits
 * here and is written inside the next Store commit's transaction (the next submission, exit
 * or cycle), or on its own after `lingerMs` when no commit comes, or when the layer closes.
 * A crash can lose the entries of the last `lingerMs`: the journal explains decisions, the
 * runs and their timelines (committed before anything is acknowledged or started) are the record.
 */
export class PendingJournal {
  entries: Array<JournalEntry> = []
  /** The timer of the write that follows the first entry; null when none is due. */
  timer: ReturnType<typeof setTimeout> | null = null

  take(): Array<JournalEntry> {
    const taken = this.entries
    this.entries = []
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    return taken
  }
}

/** Default `journalLingerMs`: the longest a recorded journal entry waits for a commit to ride with. */
export const JOURNAL_LINGER_MS = 500

const insertJournal = memo((rows) => `INSERT INTO journal (cycle, at, data) VALUES ${placeholders(3, rows)}`)

/**
 * Writes the pending entries. Inside a Store commit (`nested`) it runs under a savepoint,
 * so a journal failure never fails the runs' commit. The port cannot fail, so a failed
 * write is logged and its entries dropped: the journal explains decisions, it does not
 * make them.
 */
const writeJournal = (sql: SqlClient.SqlClient, journal: PendingJournal, nested: boolean): Effect.Effect<void> => {
  if (journal.entries.length === 0) return Effect.void
  const entries = journal.take()
  const write = inChunks(sql, entries, insertJournal, (e) => [e.cycle, e.at, JSON.stringify(e)])
  return (nested ? sql.withTransaction(write) : write).pipe(
    orStoreError("journal"),
    Effect.catchAll((error) => Effect.logWarning(`journal: could not record ${entries.length} cycle(s)`, error.message))
  )
}

/**
 * The Journal service: one row per cycle, written as described at `PendingJournal`.
 * `flush` writes what is pending now (readers call it first).
 */
export const makeJournal = (
  journal: PendingJournal,
  lingerMs: number = JOURNAL_LINGER_MS
): Effect.Effect<JournalService & { readonly flush: Effect.Effect<void> }, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const runtime = yield* Effect.runtime<never>()
    const flush = Effect.suspend(() => writeJournal(sql, journal, false))
    return {
      flush,
      record: (entry: JournalEntry) =>
        Effect.sync(() => {
          journal.entries.push(entry)
          if (journal.timer === null) {
            journal.timer = setTimeout(() => Runtime.runFork(runtime)(flush), lingerMs)
            journal.timer.unref()
          }
        })
    }
  })

/** The SQLite journal's own service: `flush` writes the entries not yet written. */
export class SqliteJournal extends Context.Tag("@gantry/store-sqlite/SqliteJournal")<SqliteJournal, { readonly flush: Effect.Effect<void> }>() {}

/** The newest `limit` journal entries, newest first (for an operator: "why is my run waiting"). */
export const readJournal = (limit: number): Effect.Effect<ReadonlyArray<JournalEntry>, StoreError, SqlClient.SqlClient | SqliteJournal> =>
  Effect.gen(function* () {
    yield* (yield* SqliteJournal).flush
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql.unsafe<{ data: string }>(`SELECT data FROM journal ORDER BY id DESC LIMIT ?`, [Math.max(0, Math.floor(limit))])
    return yield* Effect.forEach(rows, (row) => parseJson<JournalEntry>("journal", row.data))
  }).pipe(orStoreError("readJournal"))

// ------------------------------------------------------------------------------- GPU inventory

/**
 * Records the GPUs found at start (index, uuid, name, memory). GPUs no longer present lose
 * their inventory columns; a drained one keeps its row (the drain outlives a missing card).
 */
export const saveInventory = (gpus: ReadonlyArray<GpuInfo>): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        const present = gpus.map((g) => g.index)
        const absent = present.length === 0 ? "" : ` WHERE gpu_index NOT IN (${inList(present.length)})`
        yield* sql.unsafe(`DELETE FROM gpus${absent}${absent === "" ? " WHERE" : " AND"} drained = 0`, present)
        yield* sql.unsafe(`UPDATE gpus SET uuid = NULL, name = NULL, memory_mib = NULL${absent}`, present)
        yield* inChunks(sql, gpus, upsertInventory, (g) => [g.index, g.uuid, g.name, g.memoryMiB])
      })
    )
  ).pipe(orStoreError("saveInventory"))

/** The GPUs of the last saved inventory, by index. */
export const inventory: Effect.Effect<ReadonlyArray<GpuInfo>, StoreError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe<{ gpu_index: number; uuid: string; name: string; memory_mib: number }>(
      `SELECT gpu_index, uuid, name, memory_mib FROM gpus WHERE uuid IS NOT NULL ORDER BY gpu_index`
    )
).pipe(
  Effect.map((rows) => rows.map((row): GpuInfo => ({ index: row.gpu_index, uuid: row.uuid, name: row.name, memoryMiB: row.memory_mib }))),
  orStoreError("inventory")
)

// ------------------------------------------------------------------------------- opening

/** Applies the migrations not yet recorded in `schema_migrations`; returns those it ran. */
export const migrate: Effect.Effect<ReadonlyArray<readonly [id: number, name: string]>, StoreError, SqlClient.SqlClient> = Migrator.make({})({
  loader: Migrator.fromRecord(migrations),
  table: MIGRATIONS_TABLE
}).pipe(orStoreError("migrations"))

/** The connection's pragmas: WAL, synchronous, busy timeout, foreign keys. */
export const configure = (options: SqliteStoreOptions): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const synchronous = options.synchronous ?? "FULL"
    if (synchronous !== "FULL" && synchronous !== "NORMAL") return yield* new StoreError({ message: `synchronous must be FULL or NORMAL, not ${String(synchronous)}` })
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0)
      return yield* new StoreError({ message: `busyTimeoutMs must be a non-negative integer, not ${busyTimeoutMs}` })
    const sql = yield* SqlClient.SqlClient
    // First, so that the journal-mode switch below waits for another connection's lock.
    yield* sql.unsafe(`PRAGMA busy_timeout = ${busyTimeoutMs}`)
    const [mode] = yield* sql.unsafe<{ journal_mode: string }>(`PRAGMA journal_mode = WAL`)
    if (mode?.journal_mode !== "wal" && options.filename !== ":memory:")
      return yield* new StoreError({ message: `could not switch ${options.filename} to WAL (journal_mode is ${mode?.journal_mode})` })
    yield* sql.unsafe(`PRAGMA synchronous = ${synchronous}`)
    yield* sql.unsafe(`PRAGMA foreign_keys = ON`)
  }).pipe(orStoreError(`configuring ${options.filename}`))

const isFile = (filename: string) => filename !== "" && filename !== ":memory:" && !filename.startsWith("file:")

/** Creates `dir` and its missing parents readable by the owner only (0700, whatever the umask). */
const makePrivateDir = (dir: string): void => {
  const first = fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (first === undefined) return
  for (let d = dir; ; d = path.dirname(d)) {
    fs.chmodSync(d, 0o700)
    if (d === first || path.dirname(d) === d) break
  }
}

/**
 * The database file and its -wal and -shm readable by the owner only (0600): the lease row
 * holds the daemon's bearer token. The file is created 0600 before SQLite opens it (SQLite
 * gives -wal and -shm the database's mode); existing ones are set to 0600.
 */
export const makePrivateFile = (filename: string): void => {
  const file = path.resolve(filename)
  fs.closeSync(fs.openSync(file, "a", 0o600))
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    let mode: number
    try {
      mode = fs.statSync(f).mode
    } catch {
      continue
    }
    if ((mode & 0o077) !== 0) fs.chmodSync(f, mode & 0o700)
  }
}

const clientLayer = (filename: string): Layer.Layer<SqlClient.SqlClient, StoreError> =>
  Layer.unwrapEffect(
    Effect.try({
      try: () => {
        if (isFile(filename)) makePrivateDir(path.dirname(path.resolve(filename)))
        return filename
      },
      catch: (cause) => storeError(`cannot create the directory of ${filename}`, cause)
    }).pipe(
      Effect.tap(() =>
        Effect.try({
          try: () => (isFile(filename) ? makePrivateFile(filename) : undefined),
          catch: (cause) => storeError(`cannot make ${filename} readable by its owner only`, cause)
        })
      ),
      Effect.map(() => SqliteClient.layer({ filename }))
    )
  ).pipe(
    // better-sqlite3 throws while opening (a defect inside the client's constructor).
    Layer.catchAllCause((cause) => Layer.fail(storeError(`cannot open ${filename}`, Cause.squash(cause))))
  )

/**
 * Opens (or creates) the database and provides Store, Journal and the SqlClient it uses
 * (for `Lease`, `readJournal`, `saveInventory`, ...). The journal's pending entries are
 * written, and then the connection closes, when the layer closes.
 */
export const layer = (options: SqliteStoreOptions): Layer.Layer<Store | Journal | SqliteJournal | SqlClient.SqlClient, StoreError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      yield* configure(options)
      yield* migrate
      const pending = new PendingJournal()
      const store = yield* makeStore(pending)
      const journal = yield* makeJournal(pending, options.journalLingerMs)
      yield* Effect.addFinalizer(() => journal.flush)
      return Context.make(Store, store).pipe(Context.add(Journal, journal), Context.add(SqliteJournal, journal))
    })
  ).pipe(Layer.provideMerge(clientLayer(options.filename)))
