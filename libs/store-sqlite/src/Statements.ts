/**
 * The SQL the SQLite store runs: multi-row upserts in chunks, the run list's index-friendly
 * query, and the fixed statements (load, look-ups, summary, cleanup). Text only, and the
 * parameters that go with it: SqliteStore.ts runs them.
 */
import type { SqlClient } from "@effect/sql"
import type { Policy, Run, RunEvent, RunStatus } from "@gantry/core"
import { type PolicyVersion, type RunFilter, type StoreError, WAIT_SAMPLE } from "@gantry/engine"
import { Effect } from "effect"
import { storeError } from "./internal/errors.js"

/** Rows per multi-row statement: 500 runs × 10 columns stays far below SQLite's 32,766 variables. */
export const ROWS_PER_STATEMENT = 500

/** Statuses of runs the engine reloads on start (unfinished). */
export const UNFINISHED: ReadonlyArray<RunStatus> = ["held", "blocked", "pending", "running", "stopping"]
export const TERMINAL: ReadonlyArray<RunStatus> = ["completed", "failed", "cancelled", "rejected"]

// ------------------------------------------------------------------------------- statements

export const placeholders = (columns: number, rows: number): string => {
  const row = `(${Array.from({ length: columns }, () => "?").join(", ")})`
  return Array.from({ length: rows }, () => row).join(", ")
}

/** Statement texts by row count, so a chunk of n rows always prepares the same text. */
export const memo = (build: (rows: number) => string): ((rows: number) => string) => {
  const cache = new Map<number, string>()
  return (rows) => {
    let text = cache.get(rows)
    if (text === undefined) {
      text = build(rows)
      cache.set(rows, text)
    }
    return text
  }
}

const RUN_COLUMNS = ["id", "seq", "status", "queue", "user", "team", "submitted_at", "ended_at", "idempotency_key", "data"]
export const upsertRuns = memo(
  (rows) =>
    `INSERT INTO runs (${RUN_COLUMNS.join(", ")}) VALUES ${placeholders(RUN_COLUMNS.length, rows)} ` +
    `ON CONFLICT (id) DO UPDATE SET ${RUN_COLUMNS.filter((c) => c !== "id")
      .map((c) => `${c} = excluded.${c}`)
      .join(", ")}`
)
export const runParams = (run: Run): ReadonlyArray<unknown> => [
  run.id,
  run.seq,
  run.status,
  run.queue,
  run.user,
  run.team,
  run.submittedAt,
  run.endedAt,
  run.idempotencyKey,
  JSON.stringify(run)
]

export const insertEvents = memo(
  (rows) =>
    `INSERT INTO run_events (run_id, from_status, to_status, reason, at, attempt) VALUES ${placeholders(6, rows)}`
)
export const eventParams = (e: RunEvent): ReadonlyArray<unknown> => [e.runId, e.from, e.to, e.reason, e.at, e.attempt]

export const upsertQueues = memo(
  (rows) => `INSERT INTO queues (name, data) VALUES ${placeholders(2, rows)} ON CONFLICT (name) DO UPDATE SET data = excluded.data`
)
export const upsertDrains = memo(
  (rows) =>
    `INSERT INTO gpus (gpu_index, drained) VALUES ${placeholders(2, rows)} ON CONFLICT (gpu_index) DO UPDATE SET drained = excluded.drained`
)
export const upsertInventory = memo(
  (rows) =>
    `INSERT INTO gpus (gpu_index, uuid, name, memory_mib) VALUES ${placeholders(4, rows)} ` +
    `ON CONFLICT (gpu_index) DO UPDATE SET uuid = excluded.uuid, name = excluded.name, memory_mib = excluded.memory_mib`
)
export const inList = (n: number): string => Array.from({ length: n }, () => "?").join(", ")

export const chunks = <A>(items: ReadonlyArray<A>, size = ROWS_PER_STATEMENT): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Runs `text` once per chunk of `items`, with the chunk's parameters flattened. */
export const inChunks = <A>(
  sql: SqlClient.SqlClient,
  items: ReadonlyArray<A>,
  text: (rows: number) => string,
  params: (item: A) => ReadonlyArray<unknown>
) => Effect.forEach(chunks(items), (chunk) => sql.unsafe(text(chunk.length), chunk.flatMap(params)), { discard: true })

/** `changes` of a statement run with `.raw` (better-sqlite3's RunResult). */
export const changesOf = (result: unknown): number =>
  typeof result === "object" && result !== null && "changes" in result && typeof result.changes === "number" ? result.changes : 0

export const parseRuns = (rows: ReadonlyArray<{ readonly data: string }>): Effect.Effect<ReadonlyArray<Run>, StoreError> =>
  Effect.try({
    try: () => rows.map((row) => JSON.parse(row.data) as Run),
    catch: (cause) => storeError("runs: stored JSON is corrupt", cause)
  })

// ------------------------------------------------------------------------------- policy history

export const INSERT_POLICY_VERSION = `INSERT INTO policy_versions (version, data, applied_by, applied_at, source, note) VALUES (?, ?, ?, ?, ?, ?)`
const POLICY_VERSION_COLUMNS = `version, data, applied_by, applied_at, source, note`
/** Newest first (the commit order, the rowid); `LIMIT -1` is no limit. */
export const POLICY_HISTORY = `SELECT ${POLICY_VERSION_COLUMNS} FROM policy_versions ORDER BY id DESC LIMIT ?`
/** The last row committed with this number (the index on (version, id), backwards). */
export const POLICY_VERSION = `SELECT ${POLICY_VERSION_COLUMNS} FROM policy_versions WHERE version = ? ORDER BY id DESC LIMIT 1`

export interface PolicyVersionRow {
  readonly version: number
  readonly data: string
  readonly applied_by: string | null
  readonly applied_at: number
  readonly source: string
  readonly note: string | null
}

export const parsePolicyVersions = (rows: ReadonlyArray<PolicyVersionRow>): Effect.Effect<ReadonlyArray<PolicyVersion>, StoreError> =>
  Effect.try({
    try: () =>
      rows.map((row): PolicyVersion => ({
        version: row.version,
        policy: JSON.parse(row.data) as Policy,
        appliedBy: row.applied_by,
        appliedAt: row.applied_at,
        source: row.source,
        note: row.note
      })),
    catch: (cause) => storeError("policy_versions: stored JSON is corrupt", cause)
  })

// ------------------------------------------------------------------------------- list queries

/**
 * The listRuns statement. With several statuses and a limit it is a UNION ALL of one
 * index range per status (each at most `limit` rows, newest first), merged and cut: a
 * plain `status IN (...) ORDER BY seq DESC` would either sort every matching row or walk
 * the whole seq index past a million finished runs to find a few pending ones.
 */
export const listRunsQuery = (filter: RunFilter): { readonly text: string; readonly params: ReadonlyArray<unknown> } | null => {
  const statuses = filter.status === undefined ? undefined : [...new Set(filter.status)]
  if (statuses !== undefined && statuses.length === 0) return null
  // Infinity is no limit; 0, negatives and NaN return nothing.
  const limit =
    filter.limit === undefined || filter.limit === Infinity ? undefined : Number.isNaN(filter.limit) ? 0 : Math.max(0, Math.floor(filter.limit))
  if (limit === 0) return null
  const offset = filter.offset === undefined || !Number.isFinite(filter.offset) ? 0 : Math.max(0, Math.floor(filter.offset))
  const rest: Array<string> = []
  const restParams: Array<unknown> = []
  if (filter.queue !== undefined) {
    rest.push("queue = ?")
    restParams.push(filter.queue)
  }
  if (filter.user !== undefined) {
    rest.push("user = ?")
    restParams.push(filter.user)
  }
  const where = (conditions: ReadonlyArray<string>) => (conditions.length === 0 ? "" : ` WHERE ${conditions.join(" AND ")}`)
  // each arm of the union holds the first offset + limit rows of its status: the page is among them
  const armLimitText = limit === undefined ? "" : ` LIMIT ${limit + offset}`
  const limitText = limit === undefined ? (offset > 0 ? ` LIMIT -1 OFFSET ${offset}` : "") : ` LIMIT ${limit}${offset > 0 ? ` OFFSET ${offset}` : ""}`
  if (statuses !== undefined && statuses.length > 1 && limit !== undefined) {
    const arms = statuses.map(
      () => `SELECT * FROM (SELECT seq, data FROM runs${where(["status = ?", ...rest])} ORDER BY seq DESC${armLimitText})`
    )
    return {
      text: `SELECT data FROM (${arms.join(" UNION ALL ")}) ORDER BY seq DESC${limitText}`,
      params: statuses.flatMap((s) => [s, ...restParams])
    }
  }
  const conditions = statuses === undefined ? rest : [statuses.length === 1 ? "status = ?" : `status IN (${inList(statuses.length)})`, ...rest]
  return {
    text: `SELECT data FROM runs${where(conditions)} ORDER BY seq DESC${limitText}`,
    params: [...(statuses ?? []), ...restParams]
  }
}

/**
 * The load statement: unfinished runs in seq order, walking the partial index
 * `runs_unfinished` (left alone, the planner prefers runs_status_seq and then sorts every
 * unfinished run: a million pending runs would be sorted on every start).
 */
export const LOAD_RUNS = `SELECT data FROM runs INDEXED BY runs_unfinished WHERE ended_at IS NULL AND status IN (${UNFINISHED.map((s) => `'${s}'`).join(", ")}) ORDER BY seq`

/** summary: every run by status (a walk of the runs_status_seq index). */
export const COUNT_BY_STATUS = `SELECT status, COUNT(*) AS n FROM runs GROUP BY status`
/** summary: the mean wait of the latest runs that started, newest first by seq. */
export const MEAN_WAIT = `SELECT AVG(wait) AS mean, COUNT(*) AS n FROM (
  SELECT json_extract(data, '$.startedAt') - json_extract(data, '$.eligibleAt') AS wait FROM runs
  WHERE json_extract(data, '$.startedAt') IS NOT NULL ORDER BY seq DESC LIMIT ${WAIT_SAMPLE})`

export const FIND_BY_IDEMPOTENCY_KEY = `SELECT data FROM runs WHERE user = ? AND idempotency_key = ? ORDER BY seq DESC LIMIT 1`
export const TIMELINE = `SELECT run_id, from_status, to_status, reason, at, attempt FROM run_events WHERE run_id = ? ORDER BY id`
const EXPIRED = `ended_at IS NOT NULL AND ended_at < ? AND status IN (${TERMINAL.map((s) => `'${s}'`).join(", ")})`
/** cleanup, in order (each takes `before` as its one parameter). */
export const CLEANUP = [
  `DELETE FROM run_events WHERE run_id IN (SELECT id FROM runs WHERE ${EXPIRED})`,
  `DELETE FROM runs WHERE ${EXPIRED}`,
  `DELETE FROM journal WHERE at < ?`
] as const
