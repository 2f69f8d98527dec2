/**
 * The runner's directory on SQLite: users (identities), their bearer tokens (stored hashed,
 * never in the clear), projects (SPEC §1, §8) and saved run templates. The runner keeps a copy in memory and
 * writes here first (apps/runner Directory.ts); these are the statements, each one
 * transaction.
 */
import { SqlClient } from "@effect/sql"
import { Identity, Project } from "@gantry/core"
import type { StoreError } from "@gantry/engine"
import { Effect, Schema } from "effect"
import { orStoreError, parseJson } from "./internal/errors.js"

/** A user as stored: the identity, whether it is the database's owner, when it was created. */
export interface StoredUser {
  /** The user's number (the common queue API's `user_id`): given at creation, never reused. */
  readonly id: number
  readonly identity: Identity
  /** The daemon's owner: the first admin, created with the database. */
  readonly owner: boolean
  readonly createdAt: number
}

/** A token as stored: its hash (SHA-256 of the whole token, hex), never the token. */
export interface StoredToken {
  readonly id: string
  readonly user: string
  readonly hash: string
  readonly label: string | null
  readonly createdAt: number
  readonly createdBy: string
  readonly revokedAt: number | null
  readonly revokedBy: string | null
}

const decodeIdentity = Schema.decodeUnknown(Identity)
const decodeProject = Schema.decodeUnknown(Project)

interface UserRow {
  readonly id: number
  readonly name: string
  readonly level: string
  readonly team: string | null
  readonly projects: string
  readonly unix_user: string | null
  readonly owner: number
  readonly created_at: number
}

const userOf = (row: UserRow): Effect.Effect<StoredUser, StoreError> =>
  Effect.gen(function* () {
    const projects = yield* parseJson<unknown>(`user ${row.name}'s projects`, row.projects)
    const identity = yield* decodeIdentity({ name: row.name, level: row.level, team: row.team, projects, unixUser: row.unix_user }).pipe(
      orStoreError(`user ${row.name} is corrupt`)
    )
    return { id: row.id, identity, owner: row.owner === 1, createdAt: row.created_at }
  })

/** Every user, by name. */
export const users: Effect.Effect<ReadonlyArray<StoredUser>, StoreError, SqlClient.SqlClient> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.unsafe<UserRow>(`SELECT id, name, level, team, projects, unix_user, owner, created_at FROM users ORDER BY name`)
).pipe(
  orStoreError("users"),
  Effect.flatMap((rows) => Effect.forEach(rows, userOf))
)

/** Creates or replaces a user (its tokens stay; its number never changes). */
export const putUser = (user: StoredUser): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const i = user.identity
    return sql.unsafe(
      `INSERT INTO users (id, name, level, team, projects, unix_user, owner, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET level = excluded.level, team = excluded.team, projects = excluded.projects, unix_user = excluded.unix_user`,
      [user.id, i.name, i.level, i.team, JSON.stringify(i.projects), i.unixUser, user.owner ? 1 : 0, user.createdAt]
    )
  }).pipe(Effect.asVoid, orStoreError("putUser"))

/**
 * The owner, created as the first admin when the database has no user yet (the first
 * `serve` or command on a new database); an existing directory is left as it is.
 */
export const ensureOwner = (owner: StoredUser): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        const [row] = yield* sql.unsafe<{ n: number }>(`SELECT COUNT(*) AS n FROM users`)
        if ((row?.n ?? 0) > 0) return
        yield* putUser(owner)
      })
    )
  ).pipe(orStoreError("ensureOwner"))

interface TokenRow {
  readonly id: string
  readonly user: string
  readonly hash: string
  readonly label: string | null
  readonly created_at: number
  readonly created_by: string
  readonly revoked_at: number | null
  readonly revoked_by: string | null
}

const tokenOf = (r: TokenRow): StoredToken => ({
  id: r.id,
  user: r.user,
  hash: r.hash,
  label: r.label,
  createdAt: r.created_at,
  createdBy: r.created_by,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by
})

/** Every token (revoked ones too), oldest first. */
export const tokens: Effect.Effect<ReadonlyArray<StoredToken>, StoreError, SqlClient.SqlClient> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.unsafe<TokenRow>(`SELECT id, user, hash, label, created_at, created_by, revoked_at, revoked_by FROM tokens ORDER BY created_at, id`)
).pipe(
  Effect.map((rows) => rows.map(tokenOf)),
  orStoreError("tokens")
)

/** Stores a new token, and its user (created or changed) in the same transaction. */
export const insertToken = (user: StoredUser, token: StoredToken): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        yield* putUser(user)
        yield* sql.unsafe(`INSERT INTO tokens (id, user, hash, label, created_at, created_by, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)`, [
          token.id,
          token.user,
          token.hash,
          token.label,
          token.createdAt,
          token.createdBy
        ])
      })
    )
  ).pipe(orStoreError("insertToken"))

/** Marks a token revoked; false when there is no such token or it was revoked already. */
export const revokeToken = (id: string, at: number, by: string): Effect.Effect<boolean, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ id: string }>(`UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL RETURNING id`, [at, by, id])
  ).pipe(
    Effect.map((rows) => rows.length === 1),
    orStoreError("revokeToken")
  )

/** Every project, by name. */
export const projects: Effect.Effect<ReadonlyArray<Project>, StoreError, SqlClient.SqlClient> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.unsafe<{ name: string; data: string }>(`SELECT name, data FROM projects ORDER BY name`)
).pipe(
  orStoreError("projects"),
  Effect.flatMap((rows) =>
    Effect.forEach(rows, (row) =>
      Effect.flatMap(parseJson<unknown>(`project ${row.name}`, row.data), (data) => decodeProject(data).pipe(orStoreError(`project ${row.name} is corrupt`)))
    )
  )
)

/** Creates or replaces a project. */
export const putProject = (project: Project): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe(`INSERT INTO projects (name, data) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET data = excluded.data`, [project.name, JSON.stringify(project)])
  ).pipe(Effect.asVoid, orStoreError("putProject"))

/**
 * Deletes a project and takes it off every user's list, in one transaction (`members`: the
 * users as they are to be stored without it). Runs keep the project's name.
 */
export const deleteProject = (name: string, members: ReadonlyArray<StoredUser>): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        yield* sql.unsafe(`DELETE FROM projects WHERE name = ?`, [name])
        for (const user of members) yield* putUser(user)
      })
    )
  ).pipe(orStoreError("deleteProject"))

/** A saved run template: a submission as JSON (the runner decodes it), who saved it and when. */
export interface StoredTemplate {
  readonly name: string
  readonly submission: unknown
  readonly createdBy: string
  readonly createdAt: number
  readonly updatedAt: number
}

interface TemplateRow {
  readonly name: string
  readonly data: string
  readonly created_by: string
  readonly created_at: number
  readonly updated_at: number
}

/** Every saved template, by name. */
export const templates: Effect.Effect<ReadonlyArray<StoredTemplate>, StoreError, SqlClient.SqlClient> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.unsafe<TemplateRow>(`SELECT name, data, created_by, created_at, updated_at FROM templates ORDER BY name`)
).pipe(
  orStoreError("templates"),
  Effect.flatMap((rows) =>
    Effect.forEach(rows, (row) =>
      Effect.map(parseJson<unknown>(`template ${row.name}`, row.data), (submission) => ({
        name: row.name,
        submission,
        createdBy: row.created_by,
        createdAt: row.created_at,
        updatedAt: row.updated_at
      }))
    )
  )
)

/** Creates or replaces a template (its creator and creation time stay). */
export const putTemplate = (template: StoredTemplate): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe(
      `INSERT INTO templates (name, data, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
      [template.name, JSON.stringify(template.submission), template.createdBy, template.createdAt, template.updatedAt]
    )
  ).pipe(Effect.asVoid, orStoreError("putTemplate"))

export const deleteTemplate = (name: string): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DELETE FROM templates WHERE name = ?`, [name])).pipe(Effect.asVoid, orStoreError("deleteTemplate"))
