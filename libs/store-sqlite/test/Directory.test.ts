/**
 * The directory on a real SQLite file: the owner is made once (the first admin), a token is
 * stored with its user in one transaction and only as its hash, a revoke happens once, and
 * deleting a project takes it off its members' lists in the same transaction.
 */
import { SqlClient } from "@effect/sql"
import { it } from "@effect/vitest"
import type { Identity } from "@gantry/core"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Directory, type StoredToken, type StoredUser } from "../src/index.js"
import { tempStore } from "./TempDb.js"

const user = (name: string, o: Partial<Identity> = {}, owner = false): StoredUser => ({
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
})
