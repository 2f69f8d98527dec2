/**
 * The database schema, as migrations for @effect/sql's Migrator. The migrator's own table
 * (`schema_migrations`) is the schema version table of SPEC §7: a migration runs once, in a
 * transaction, and a later start only runs the ones it has not recorded.
 *
 * Add a migration by adding a key `NNNN_name` (never edit one that has shipped).
 */
import { SqlClient } from "@effect/sql"
import { defaultPolicy } from "@gantry/core"
import { Effect } from "effect"

/** The migrator's table: one row per migration applied. */
export const MIGRATIONS_TABLE = "schema_migrations"

const statements = (...texts: ReadonlyArray<string>): Effect.Effect<void, unknown, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(texts, (text) => sql.unsafe(text), { discard: true }))

export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_initial": statements(
    // A run is its JSON (`data`, the whole Run) plus the columns that queries filter, sort or
    // constrain on. The columns are written from the same object in the same statement.
    `CREATE TABLE runs (
      id TEXT PRIMARY KEY NOT NULL,
      seq INTEGER NOT NULL UNIQUE,
      status TEXT NOT NULL,
      queue TEXT NOT NULL,
      user TEXT NOT NULL,
      team TEXT,
      submitted_at INTEGER NOT NULL,
      ended_at INTEGER,
      idempotency_key TEXT,
      data TEXT NOT NULL
    )`,
    // listRuns: newest first, optionally by status / queue / user.
    `CREATE INDEX runs_status_seq ON runs (status, seq)`,
    `CREATE INDEX runs_queue_seq ON runs (queue, seq)`,
    `CREATE INDEX runs_user_seq ON runs (user, seq)`,
    // load: the unfinished runs only (a small part of a long history).
    `CREATE INDEX runs_unfinished ON runs (seq) WHERE ended_at IS NULL`,
    // cleanup: terminal runs by end time.
    `CREATE INDEX runs_ended_at ON runs (ended_at) WHERE ended_at IS NOT NULL`,
    `CREATE INDEX runs_idempotency_key ON runs (idempotency_key, seq) WHERE idempotency_key IS NOT NULL`,
    `CREATE TABLE run_events (
      id INTEGER PRIMARY KEY,
      run_id TEXT NOT NULL,
      from_status TEXT,
      to_status TEXT NOT NULL,
      reason TEXT NOT NULL,
      at INTEGER NOT NULL,
      attempt INTEGER NOT NULL
    )`,
    `CREATE INDEX run_events_run ON run_events (run_id, id)`,
    `CREATE TABLE queues (name TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL)`,
    `CREATE TABLE policy (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL)`,
    `CREATE TABLE gpus (
      gpu_index INTEGER PRIMARY KEY,
      drained INTEGER NOT NULL DEFAULT 0,
      uuid TEXT,
      name TEXT,
      memory_mib INTEGER
    )`,
    `CREATE TABLE journal (id INTEGER PRIMARY KEY, cycle INTEGER NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL)`,
    `CREATE INDEX journal_at ON journal (at)`,
    `CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, generation INTEGER NOT NULL)`,
    `INSERT INTO lease (id, holder, generation) VALUES (1, NULL, 0)`,
    `CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL)`
  ),
  // One run per idempotency key, enforced by the database too (the engine serialises its
  // commands; this is the store's own guarantee). A database written before could hold
  // duplicates (two concurrent submissions with one key both stored, issue 9): the oldest run
  // keeps the key's column, later ones lose it there (their JSON still says which key they
  // came with), so the unique index can be built and a lookup finds the first.
  "0002_idempotency_key_unique": statements(
    `UPDATE runs SET idempotency_key = NULL
       WHERE idempotency_key IS NOT NULL
         AND seq > (SELECT MIN(r.seq) FROM runs r WHERE r.idempotency_key = runs.idempotency_key)`,
    `DROP INDEX runs_idempotency_key`,
    `CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key) WHERE idempotency_key IS NOT NULL`
  ),
  // The runner's directory (issue 10): users with their level, team, projects and Unix
  // account; bearer tokens, stored as SHA-256 hashes (a token is shown once, at creation);
  // projects with their default queue and the queues they may use. The owner is the first
  // admin, created with the database; at most one user is the owner.
  "0003_directory": statements(
    `CREATE TABLE users (
      name TEXT PRIMARY KEY NOT NULL,
      level TEXT NOT NULL,
      team TEXT,
      projects TEXT NOT NULL,
      unix_user TEXT,
      owner INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL
    )`,
    `CREATE UNIQUE INDEX users_owner ON users (owner) WHERE owner = 1`,
    `CREATE TABLE tokens (
      id TEXT PRIMARY KEY NOT NULL,
      user TEXT NOT NULL REFERENCES users (name),
      hash TEXT NOT NULL UNIQUE,
      label TEXT,
      created_at INTEGER NOT NULL,
      created_by TEXT NOT NULL,
      revoked_at INTEGER,
      revoked_by TEXT
    )`,
    `CREATE INDEX tokens_user ON tokens (user)`,
    `CREATE TABLE projects (name TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL)`
  ),
  // Idempotency keys are per user (issue 10): two users may submit with one key and get two
  // runs. The index 0002 made unique over all users becomes unique per user (a database that
  // passed 0002 has no duplicate key at all, so none per user either).
  "0004_idempotency_key_per_user": statements(
    `DROP INDEX runs_idempotency_key`,
    `CREATE UNIQUE INDEX runs_idempotency_key ON runs (user, idempotency_key) WHERE idempotency_key IS NOT NULL`
  ),
  // Issue 11. Users get a number (the common queue API's `user_id`), kept for good: a rowid
  // may change on VACUUM, so it is a column of its own, numbered in creation order. Saved
  // run templates (`gantry config save NAME`, the API's `config_name`): a submission as
  // JSON, who saved it and when.
  "0005_user_ids_and_templates": statements(
    `ALTER TABLE users ADD COLUMN id INTEGER`,
    `UPDATE users SET id = (SELECT COUNT(*) FROM users u WHERE u.created_at < users.created_at OR (u.created_at = users.created_at AND u.name <= users.name))`,
    `CREATE UNIQUE INDEX users_id ON users (id)`,
    `CREATE TABLE templates (
      name TEXT PRIMARY KEY NOT NULL,
      data TEXT NOT NULL,
      created_by TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`
  ),
  // Issue 13 (`gantry policy apply|history|diff`). Every version of the policy, as committed
  // with the live row (same transaction): who applied it (null: the system), when, how
  // (`apply`, `limits set`, `put`, `concurrency`, ...) and a note. A version's number is the
  // policy's own `version`; the runner numbers them one up from the live one, and a lookup by
  // number takes the last row committed with it. History starts with the policy in force:
  // the live row, or the built-in default the engine runs when there is none.
  "0006_policy_versions": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`CREATE TABLE policy_versions (
      id INTEGER PRIMARY KEY,
      version INTEGER NOT NULL,
      data TEXT NOT NULL,
      applied_by TEXT,
      applied_at INTEGER NOT NULL,
      source TEXT NOT NULL,
      note TEXT
    )`)
    yield* sql.unsafe(`CREATE INDEX policy_versions_version ON policy_versions (version, id)`)
    const live = yield* sql.unsafe<{ data: string }>(`SELECT data FROM policy WHERE id = 1`)
    const data = live[0]?.data ?? JSON.stringify(defaultPolicy)
    yield* sql.unsafe(
      `INSERT INTO policy_versions (version, data, applied_by, applied_at, source, note) VALUES (coalesce(json_extract(?, '$.version'), 0), ?, NULL, ?, ?, NULL)`,
      // the machine's time (not an Effect Clock a test may have stopped): when the history began
      [data, data, Date.now(), live.length > 0 ? "migration" : "default"]
    )
  })
}
