/**
 * The scheduling lease (SPEC §7): only one runner schedules a database at a time.
 *
 * The `lease` table has exactly one row: the holder (JSON, or NULL when free) and a
 * `generation` that every change increments. Taking the lease is a compare-and-swap: read
 * the row, decide (free, or held by a process `isAlive` says is gone), then one
 * `UPDATE ... WHERE generation = <the generation read>`; if no row changed, another
 * connection changed the lease in between, so read again and decide again. Correct across
 * processes: each UPDATE is atomic under SQLite's write lock, whatever the interleaving.
 */
import { SqlClient } from "@effect/sql"
import { StoreError } from "@gantry/engine"
import { Data, Effect, Schema } from "effect"
import { orStoreError, storeError } from "./internal/errors.js"

export const LeaseHolder = Schema.Struct({
  /** `serve`: a long-running runner (with an HTTP API); `command`: a one-shot CLI command scheduling in-process. */
  kind: Schema.Literal("serve", "command"),
  pid: Schema.Number,
  /** The process's start time (e.g. from /proc/PID/stat), so a reused pid is not mistaken for the holder. */
  processStart: Schema.String,
  host: Schema.String,
  /** Where the holder serves its API, once bound; null for a command. */
  url: Schema.NullOr(Schema.String),
  token: Schema.NullOr(Schema.String),
  acquiredAt: Schema.Number
})
export type LeaseHolder = typeof LeaseHolder.Type

/** Someone else (alive) holds the lease: the second runner is refused with this. */
export class LeaseHeld extends Data.TaggedError("LeaseHeld")<{ readonly holder: LeaseHolder }> {
  override get message(): string {
    const h = this.holder
    const where = h.url === null ? "" : `, serving ${h.url}`
    return `the database is in use by gantry ${h.kind} (pid ${h.pid} on ${h.host}${where}); only one runner schedules a database at a time`
  }
}

/** `update` by a process that does not hold the lease (it was taken over, or never held). */
export class LeaseNotHeld extends Data.TaggedError("LeaseNotHeld")<{ readonly pid: number; readonly holder: LeaseHolder | null }> {
  override get message(): string {
    return this.holder === null
      ? `pid ${this.pid} does not hold the lease: it is free`
      : `pid ${this.pid} does not hold the lease: pid ${this.holder.pid} (${this.holder.kind}) does`
  }
}

export interface LeaseState {
  readonly holder: LeaseHolder | null
  readonly generation: number
}

const decodeHolder = Schema.decodeUnknown(Schema.parseJson(LeaseHolder))
const encode = (holder: LeaseHolder): string => JSON.stringify(holder)

/** How many lost races `acquire` tolerates before it gives up (each means the lease changed hands). */
const MAX_ATTEMPTS = 16

/** The lease row as it is now. */
export const read: Effect.Effect<LeaseState, StoreError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.unsafe<{ holder: string | null; generation: number }>(`SELECT holder, generation FROM lease WHERE id = 1`)
  const row = rows[0]
  if (row === undefined) return yield* new StoreError({ message: "the lease row is missing (migrations not applied?)" })
  const holder =
    row.holder === null
      ? null
      : yield* decodeHolder(row.holder).pipe(Effect.mapError((cause) => storeError("the lease holder is corrupt", cause)))
  return { holder, generation: row.generation }
}).pipe(orStoreError("lease"))

/** The holder, or null when the lease is free. */
export const current: Effect.Effect<LeaseHolder | null, StoreError, SqlClient.SqlClient> = Effect.map(read, (state) => state.holder)

/**
 * Sets the holder if the row is still at `generation`; true when it was (exactly one row
 * changed), false when another connection changed the lease since it was read.
 */
export const compareAndSwap = (generation: number, holder: LeaseHolder | null): Effect.Effect<boolean, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ generation: number }>(
      `UPDATE lease SET holder = ?, generation = generation + 1 WHERE id = 1 AND generation = ? RETURNING generation`,
      [holder === null ? null : encode(holder), generation]
    )
  ).pipe(
    Effect.map((rows) => rows.length === 1),
    orStoreError("lease")
  )

const isSameProcess = (a: LeaseHolder, b: { readonly pid: number; readonly processStart: string }) =>
  a.pid === b.pid && a.processStart === b.processStart

/**
 * Takes the lease for `holder`. Fails with LeaseHeld when another process holds it and
 * `isAlive` says it is still running; a dead holder's lease is taken over. The same process
 * (pid and start time) acquiring again replaces its own holder record.
 */
export const acquire = (
  holder: LeaseHolder,
  isAlive: (holder: LeaseHolder) => boolean
): Effect.Effect<void, LeaseHeld | StoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const state = yield* read
      if (state.holder !== null && !isSameProcess(state.holder, holder) && isAlive(state.holder))
        return yield* new LeaseHeld({ holder: state.holder })
      // Let other fibers run between the read and the swap: the CAS, not the scheduler,
      // is what settles a race (and the tests race two connections in one process).
      yield* Effect.yieldNow()
      if (yield* compareAndSwap(state.generation, holder)) return
    }
    return yield* new StoreError({ message: `the lease changed hands ${MAX_ATTEMPTS} times while acquiring it; giving up` })
  })

/** Frees the lease if (and only if) this process holds it; true when it did. */
export const release = (pid: number, processStart: string): Effect.Effect<boolean, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ generation: number }>(
      `UPDATE lease SET holder = NULL, generation = generation + 1
       WHERE id = 1 AND holder IS NOT NULL AND json_extract(holder, '$.pid') = ? AND json_extract(holder, '$.processStart') = ?
       RETURNING generation`,
      [pid, processStart]
    )
  ).pipe(
    Effect.map((rows) => rows.length === 1),
    orStoreError("lease")
  )

/**
 * Replaces the holder record (e.g. its url and token once the server has bound its port),
 * only if the same process (pid and start time) holds the lease.
 */
export const update = (holder: LeaseHolder): Effect.Effect<void, LeaseNotHeld | StoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql
      .unsafe<{ generation: number }>(
        `UPDATE lease SET holder = ?, generation = generation + 1
         WHERE id = 1 AND holder IS NOT NULL AND json_extract(holder, '$.pid') = ? AND json_extract(holder, '$.processStart') = ?
         RETURNING generation`,
        [encode(holder), holder.pid, holder.processStart]
      )
      .pipe(orStoreError("lease"))
    if (rows.length === 0) return yield* new LeaseNotHeld({ pid: holder.pid, holder: yield* current })
  })
