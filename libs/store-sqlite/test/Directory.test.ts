/**
 * The directory on a real SQLite file: the owner is made once (the first admin), a token is
 * stored with its user in one transaction and only as its hash, a revoke happens once,
 * deleting a project takes it off its members' lists in the same transaction, a user's number
 * is theirs for good (and a database of issue 10 numbers its users in creation order), and a
 * template keeps its creator when replaced.
 */
import { Migrator, SqlClient } from "@effect/sql"
import { it } from "@effect/vitest"
import type { Identity } from "@gantry/core"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Directory, SqliteStore, type StoredToken, type StoredUser } from "../src/index.js"
import { tempDb, tempStore } from "./TempDb.js"

const user = (name: string, o: Partial<Identity> = {}, owner = false, id = 1): StoredUser => ({
  id,
  identity: { name: name as Identity["name"], level: "researcher", team: null, projects: [], unixUser: null, ...o },
  owner,
  createdAt: 1_000
})
const token = (id: string, userName: string): StoredToken => ({ id, user: userName, hash: `hash-of-${id}`, label: null, createdAt: 2_000, createdBy: "root", revokedAt: null, revokedBy: null })

describe("Directory", () => {
  it.effect("the owner is created once, as the first admin; a later owner is not added to an existing directory", () =>
    Effect.gen(function* () {
      yield* Directory.ensureOwner(user("root", { level: "admin", unixUser: "root" as Identity["unixUser"] }, true))
      yield* Directory.ensureOwner(user("mallory", { level: "admin" }, true))
      const users = yield* Directory.users
      expect(users).toHaveLength(1)
      expect(users[0]).toMatchObject({ owner: true, identity: { name: "root", level: "admin", unixUser: "root" } })
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("a token is stored with its user, as its hash; revoked once; a token of an unknown user is refused by the database", () =>
    Effect.gen(function* () {
      yield* Directory.insertToken(user("ana", { team: "alpha" as Identity["team"] }), token("aaaaaaaaaaaa", "ana"))
      expect((yield* Directory.users).map((u) => u.identity)).toEqual([{ name: "ana", level: "researcher", team: "alpha", projects: [], unixUser: null }])
      expect(yield* Directory.tokens).toEqual([token("aaaaaaaaaaaa", "ana")])
      expect(yield* Directory.revokeToken("aaaaaaaaaaaa", 3_000, "root")).toBe(true)
      expect(yield* Directory.revokeToken("aaaaaaaaaaaa", 4_000, "root")).toBe(false)
      expect((yield* Directory.tokens)[0]).toMatchObject({ revokedAt: 3_000, revokedBy: "root" })
      // a token for a user the database does not have (a foreign key): nothing is stored
      const sql = yield* SqlClient.SqlClient
      const orphan = yield* Effect.either(sql.unsafe(`INSERT INTO tokens (id, user, hash, label, created_at, created_by) VALUES ('b', 'ghost', 'h', NULL, 1, 'root')`))
      expect(Either.isLeft(orphan)).toBe(true)
      expect(yield* Directory.tokens).toHaveLength(1)
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("deleting a project takes it off its members' lists, in one transaction", () =>
    Effect.gen(function* () {
      const p = { name: "p" as Identity["projects"][number], defaultQueue: "default" as never, queues: [] }
      yield* Directory.putProject(p)
      yield* Directory.putProject({ ...p, name: "q" as Identity["projects"][number] })
      yield* Directory.putUser(user("ana", { projects: ["p", "q"] as never }))
      yield* Directory.deleteProject("p", [user("ana", { projects: ["q"] as never })])
      expect((yield* Directory.projects).map((x) => x.name)).toEqual(["q"])
      expect((yield* Directory.users)[0]?.identity.projects).toEqual(["q"])
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("a user's number is unique and kept when the user changes", () =>
    Effect.gen(function* () {
      yield* Directory.putUser(user("ana", {}, false, 1))
      yield* Directory.putUser(user("bo", {}, false, 2))
      yield* Directory.putUser(user("ana", { level: "lead" }, false, 1))
      expect((yield* Directory.users).map((u) => [u.identity.name, u.id, u.identity.level])).toEqual([
        ["ana", 1, "lead"],
        ["bo", 2, "researcher"]
      ])
      const taken = yield* Effect.either(Directory.putUser(user("cy", {}, false, 2)))
      expect(Either.isLeft(taken)).toBe(true)
      expect(yield* Directory.users).toHaveLength(2)
    }).pipe(Effect.provide(tempStore()))
  )

  it.effect("a database of issue 10 (no user numbers yet) numbers its users in creation order, the owner first", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const filename = yield* tempDb
        const upTo = (last: string) =>
          Migrator.make({})({ loader: Migrator.fromRecord(Object.fromEntries(Object.entries(SqliteStore.migrations).filter(([key]) => key <= last))), table: SqliteStore.MIGRATIONS_TABLE })
        const users = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* upTo("0004_idempotency_key_per_user")
          for (const [name, owner, at] of [["zed", 1, 100], ["ana", 0, 300], ["bo", 0, 200], ["al", 0, 300]] as const)
            yield* sql.unsafe(`INSERT INTO users (name, level, team, projects, unix_user, owner, created_at) VALUES (?, 'researcher', NULL, '[]', NULL, ?, ?)`, [name, owner, at])
          yield* upTo("0005_user_ids_and_templates")
          return yield* Directory.users
        }).pipe(Effect.provide(SqliteClient.layer({ filename })))
        expect(users.map((u) => [u.identity.name, u.id])).toEqual([
          ["al", 3],
          ["ana", 4],
          ["bo", 2],
          ["zed", 1]
        ])
      })
    )
  )

  it.effect("a template is stored as given; replacing it keeps its creator and creation time", () =>
    Effect.gen(function* () {
      yield* Directory.putTemplate({ name: "train", submission: { command: ["python", "train.py"], gpus: 2 }, createdBy: "ana", createdAt: 1_000, updatedAt: 1_000 })
      yield* Directory.putTemplate({ name: "train", submission: { command: ["python", "train.py"], gpus: 4 }, createdBy: "bo", createdAt: 2_000, updatedAt: 2_000 })
      expect(yield* Directory.templates).toEqual([{ name: "train", submission: { command: ["python", "train.py"], gpus: 4 }, createdBy: "ana", createdAt: 1_000, updatedAt: 2_000 }])
      yield* Directory.deleteTemplate("train")
      expect(yield* Directory.templates).toEqual([])
    }).pipe(Effect.provide(tempStore()))
  )
})
