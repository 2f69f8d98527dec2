/**
 * The runner's directory (SPEC §1, §8): users with their level, team, projects and Unix
 * account (and a number, the common queue API's `user_id`); their bearer tokens; projects;
 * saved run templates (the common API's `config_name`). It lives in the database (libs/store-sqlite
 * Directory.ts) and, for answering every request without a query, in memory here. Every
 * change is validated against memory, committed, and only then applied to memory (the same
 * rule as the engine's commands), one change at a time.
 *
 * Tokens are `gantry_<id>_<secret>`: the id names it in `token list|revoke`, the secret is 32
 * random bytes. Only the SHA-256 of the whole token is stored (a token is random, so a fast
 * hash is enough: nothing to brute-force); it is shown once, when it is created. A request's
 * token is hashed and looked up; a revoked one is told so.
 *
 * Besides the stored tokens, a serving daemon has a session token (in the lease row, readable
 * only by whoever can read the database): it stands for the database's owner, an admin, so a
 * CLI on the daemon's own machine and account needs no token of its own.
 */
import { SqlClient } from "@effect/sql"
import { type ApiError, Invalid, Conflict, Forbidden, NotFound } from "@gantry/api"
import { type Identity, type Level, type Project, type QueueName } from "@gantry/core"
import type { EngineService, StoreError } from "@gantry/engine"
import { Directory as Sql, type StoredTemplate, type StoredToken, type StoredUser } from "@gantry/store-sqlite"
import { Effect } from "effect"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import * as os from "node:os"

export const hashToken = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex")

const TOKEN = /^gantry_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/

/** A fresh token and its id. */
export const newToken = (): { readonly id: string; readonly token: string } => {
  const id = randomBytes(6).toString("hex")
  return { id, token: `gantry_${id}_${randomBytes(32).toString("base64url")}` }
}

export const forbidden = (message: string): ApiError => new Forbidden({ code: "PERMISSION_DENIED", error: "PermissionDenied", message, exit: 77 })
export const notFound = (error: string, message: string): ApiError => new NotFound({ code: "NOT_FOUND", error, message, exit: 66 })
export const conflict = (error: string, message: string): ApiError => new Conflict({ code: "FAILED_PRECONDITION", error, message, exit: 65 })
const invalid = (message: string): ApiError => new Invalid({ code: "INVALID_ARGUMENT", error: "InvalidArgument", message, exit: 64 })

/** What an admin may set on a user; absent fields keep their value (a new user: researcher, no team, no projects). */
export interface UserChange {
  readonly level?: Level | undefined
  readonly team?: Identity["team"] | undefined
  readonly projects?: Identity["projects"] | undefined
  readonly unixUser?: Identity["unixUser"] | undefined
}

export interface ProjectChange {
  readonly defaultQueue?: QueueName | undefined
  readonly queues?: ReadonlyArray<QueueName> | undefined
}

/** The database owner's user name, for a new database: the OS user running the command (`$USER` first, as `sudo` sets it). */
export const ownerName = (): string => process.env.USER ?? os.userInfo().username

/** Whether the engine has a queue of that name now (its queries are synchronous reads of its memory). */
export const queueExistsIn =
  (engine: EngineService) =>
  (name: QueueName): boolean =>
    Effect.runSync(engine.queues).some((q) => q.config.name === name)

/** Who a request's token stands for. */
export type Authentication = { readonly _tag: "Known"; readonly identity: Identity } | { readonly _tag: "Revoked"; readonly id: string } | { readonly _tag: "Unknown" }

type Run<A> = Effect.Effect<A, ApiError | StoreError>

export class Directory {
  private readonly usersByName = new Map<string, StoredUser>()
  private readonly tokensByHash = new Map<string, StoredToken>()
  private readonly tokensById = new Map<string, StoredToken>()
  private readonly projectsByName = new Map<string, Project>()
  private readonly templatesByName = new Map<string, StoredTemplate>()
  /** One change at a time: validate, commit, apply. */
  private readonly lock = Effect.unsafeMakeSemaphore(1)

  private constructor(
    private readonly sql: SqlClient.SqlClient,
    readonly ownerName: string,
    /** Whether a queue exists now (the engine's queues). */
    private readonly queueExists: (name: QueueName) => boolean,
    private readonly now: () => number
  ) {}

  /**
   * Loads the directory, first creating the owner (`owner`, an admin, its runs under
   * `ownerUnixUser`) when the database has no user yet.
   */
  static load(options: {
    readonly owner: string
    readonly ownerUnixUser: string | null
    readonly queueExists: (name: QueueName) => boolean
    readonly now: () => number
  }): Effect.Effect<Directory, StoreError, SqlClient.SqlClient> {
    return Effect.gen(function* () {
      yield* Sql.ensureOwner({
        identity: { name: options.owner as Identity["name"], level: "admin", team: null, projects: [], unixUser: options.ownerUnixUser as Identity["unixUser"] },
        id: 1,
        owner: true,
        createdAt: options.now()
      })
      const users = yield* Sql.users
      const owner = users.find((u) => u.owner)?.identity.name ?? options.owner
      const directory = new Directory(yield* SqlClient.SqlClient, owner, options.queueExists, options.now)
      for (const u of users) directory.usersByName.set(u.identity.name, u)
      for (const t of yield* Sql.tokens) directory.remember(t)
      for (const p of yield* Sql.projects) directory.projectsByName.set(p.name, p)
      for (const t of yield* Sql.templates) directory.templatesByName.set(t.name, t)
      return directory
    })
  }

  /** A change, one at a time, on the directory's connection. */
  private change<A>(effect: Effect.Effect<A, ApiError | StoreError, SqlClient.SqlClient>): Run<A> {
    return this.lock.withPermits(1)(Effect.provideService(effect, SqlClient.SqlClient, this.sql))
  }

  private remember(token: StoredToken): void {
    this.tokensByHash.set(token.hash, token)
    this.tokensById.set(token.id, token)
  }

  // ---------------------------------------------------------------- reads

  /** The database owner's identity (an admin). */
  get owner(): Identity {
    return this.usersByName.get(this.ownerName)?.identity ?? { name: this.ownerName as Identity["name"], level: "admin", team: null, projects: [], unixUser: null }
  }

  user(name: string): StoredUser | undefined {
    return this.usersByName.get(name)
  }

  /** A user's number, or null for a name the directory does not know. */
  userNumber(name: string): number | null {
    return this.usersByName.get(name)?.id ?? null
  }

  /** The user with this number. */
  userByNumber(id: number): StoredUser | undefined {
    for (const user of this.usersByName.values()) if (user.id === id) return user
    return undefined
  }

  /** The number a new user gets: one past the highest (numbers are never reused while the highest lives). */
  private nextUserNumber(): number {
    let highest = 0
    for (const user of this.usersByName.values()) highest = Math.max(highest, user.id)
    return highest + 1
  }

  users(): ReadonlyArray<StoredUser> {
    return [...this.usersByName.values()].sort((a, b) => (a.identity.name < b.identity.name ? -1 : 1))
  }

  tokens(): ReadonlyArray<StoredToken> {
    return [...this.tokensById.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  }

  project(name: string): Project | undefined {
    return this.projectsByName.get(name)
  }

  projects(): ReadonlyArray<Project> {
    return [...this.projectsByName.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  /** The identity a bearer token stands for. */
  authenticate(token: string): Authentication {
    if (!TOKEN.test(token)) return { _tag: "Unknown" }
    const hash = hashToken(token)
    const stored = this.tokensByHash.get(hash)
    // the map found it by its hash; compare in constant time all the same
    if (stored === undefined || !timingSafeEqual(Buffer.from(stored.hash, "hex"), Buffer.from(hash, "hex"))) return { _tag: "Unknown" }
    if (stored.revokedAt !== null) return { _tag: "Revoked", id: stored.id }
    const user = this.usersByName.get(stored.user)
    return user === undefined ? { _tag: "Unknown" } : { _tag: "Known", identity: user.identity }
  }

  // ---------------------------------------------------------------- changes (admin only: the caller checks)

  private checkUser(name: string, change: UserChange, existing: StoredUser | undefined): Effect.Effect<Identity, ApiError> {
    const identity: Identity = {
      name: name as Identity["name"],
      level: change.level ?? existing?.identity.level ?? "researcher",
      team: change.team !== undefined ? change.team : (existing?.identity.team ?? null),
      projects: change.projects ?? existing?.identity.projects ?? [],
      unixUser: change.unixUser !== undefined ? change.unixUser : (existing?.identity.unixUser ?? null)
    }
    if (existing?.owner === true && identity.level !== "admin") return Effect.fail(conflict("OwnerIsAdmin", `${name} owns this database and stays an admin`))
    const unknown = identity.projects.filter((p) => !this.projectsByName.has(p))
    if (unknown.length > 0) return Effect.fail(notFound("ProjectNotFound", `no project ${unknown.join(", ")} (gantry project create NAME --default-queue Q)`))
    if (new Set(identity.projects).size !== identity.projects.length) return Effect.fail(invalid("projects repeat"))
    return Effect.succeed(identity)
  }

  /** Creates or changes a user; the user as stored. */
  setUser(name: string, change: UserChange): Run<StoredUser> {
    return this.change(
      Effect.gen(this, function* () {
        const existing = this.usersByName.get(name)
        const identity = yield* this.checkUser(name, change, existing)
        const user: StoredUser = { id: existing?.id ?? this.nextUserNumber(), identity, owner: existing?.owner ?? false, createdAt: existing?.createdAt ?? this.now() }
        yield* Sql.putUser(user)
        this.usersByName.set(name, user)
        return user
      })
    )
  }

  /** A new token for `user` (created or changed by `change` in the same transaction); the token in the clear, once. */
  createToken(by: string, user: string, change: UserChange, label: string | null): Run<{ readonly token: string; readonly record: StoredToken; readonly user: StoredUser }> {
    return this.change(
      Effect.gen(this, function* () {
        const existing = this.usersByName.get(user)
        const identity = yield* this.checkUser(user, change, existing)
        const stored: StoredUser = { id: existing?.id ?? this.nextUserNumber(), identity, owner: existing?.owner ?? false, createdAt: existing?.createdAt ?? this.now() }
        const { id, token } = newToken()
        const record: StoredToken = { id, user, hash: hashToken(token), label, createdAt: this.now(), createdBy: by, revokedAt: null, revokedBy: null }
        yield* Sql.insertToken(stored, record)
        this.usersByName.set(user, stored)
        this.remember(record)
        return { token, record, user: stored }
      })
    )
  }

  /** Revokes a token: requests with it are refused (401) from now on. */
  revokeToken(by: string, id: string): Run<StoredToken> {
    return this.change(
      Effect.gen(this, function* () {
        const existing = this.tokensById.get(id)
        if (existing === undefined) return yield* Effect.fail(notFound("TokenNotFound", `no token ${id} (gantry token list)`))
        if (existing.revokedAt !== null) return yield* Effect.fail(conflict("TokenRevoked", `token ${id} was revoked already`))
        const at = this.now()
        if (!(yield* Sql.revokeToken(id, at, by))) return yield* Effect.fail(conflict("TokenRevoked", `token ${id} was revoked already`))
        const revoked: StoredToken = { ...existing, revokedAt: at, revokedBy: by }
        this.remember(revoked)
        return revoked
      })
    )
  }

  private checkProject(project: Project): Effect.Effect<Project, ApiError> {
    const missing = [project.defaultQueue, ...project.queues].filter((q) => !this.queueExists(q))
    if (missing.length > 0) return Effect.fail(notFound("QueueNotFound", `no queue ${[...new Set(missing)].join(", ")}`))
    if (new Set(project.queues).size !== project.queues.length) return Effect.fail(invalid("queues repeat"))
    if (project.queues.length > 0 && !project.queues.includes(project.defaultQueue))
      return Effect.fail(invalid(`the default queue ${project.defaultQueue} must be one of the project's queues (${project.queues.join(", ")})`))
    return Effect.succeed(project)
  }

  createProject(project: Project): Run<Project> {
    return this.change(
      Effect.gen(this, function* () {
        if (this.projectsByName.has(project.name)) return yield* Effect.fail(conflict("ProjectExists", `project ${project.name} already exists`))
        const checked = yield* this.checkProject(project)
        yield* Sql.putProject(checked)
        this.projectsByName.set(checked.name, checked)
        return checked
      })
    )
  }

  updateProject(name: string, change: ProjectChange): Run<Project> {
    return this.change(
      Effect.gen(this, function* () {
        const existing = this.projectsByName.get(name)
        if (existing === undefined) return yield* Effect.fail(notFound("ProjectNotFound", `no project ${name}`))
        const checked = yield* this.checkProject({ ...existing, ...(change.defaultQueue !== undefined ? { defaultQueue: change.defaultQueue } : {}), ...(change.queues !== undefined ? { queues: change.queues } : {}) })
        yield* Sql.putProject(checked)
        this.projectsByName.set(name, checked)
        return checked
      })
    )
  }

  /** Deletes a project and takes it off its members' lists; runs keep its name. */
  deleteProject(name: string): Run<void> {
    return this.change(
      Effect.gen(this, function* () {
        if (!this.projectsByName.has(name)) return yield* Effect.fail(notFound("ProjectNotFound", `no project ${name}`))
        const members = [...this.usersByName.values()]
          .filter((u) => u.identity.projects.includes(name as Identity["projects"][number]))
          .map((u): StoredUser => ({ ...u, identity: { ...u.identity, projects: u.identity.projects.filter((p) => p !== name) } }))
        yield* Sql.deleteProject(name, members)
        this.projectsByName.delete(name)
        for (const u of members) this.usersByName.set(u.identity.name, u)
      })
    )
  }

  // ---------------------------------------------------------------- templates

  template(name: string): StoredTemplate | undefined {
    return this.templatesByName.get(name)
  }

  templates(): ReadonlyArray<StoredTemplate> {
    return [...this.templatesByName.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  /**
   * Saves a template under `name` for `by`; an existing one is replaced only when
   * `mayReplace` allows it (its creator or an admin: the caller's rule).
   */
  saveTemplate(by: string, name: string, submission: unknown, mayReplace: (existing: StoredTemplate) => Effect.Effect<void, ApiError>): Run<StoredTemplate> {
    return this.change(
      Effect.gen(this, function* () {
        const existing = this.templatesByName.get(name)
        if (existing !== undefined) yield* mayReplace(existing)
        const at = this.now()
        const template: StoredTemplate = { name, submission, createdBy: existing?.createdBy ?? by, createdAt: existing?.createdAt ?? at, updatedAt: at }
        yield* Sql.putTemplate(template)
        this.templatesByName.set(name, template)
        return template
      })
    )
  }

  deleteTemplate(name: string, mayDelete: (existing: StoredTemplate) => Effect.Effect<void, ApiError>): Run<void> {
    return this.change(
      Effect.gen(this, function* () {
        const existing = this.templatesByName.get(name)
        if (existing === undefined) return yield* Effect.fail(notFound("TemplateNotFound", `no template ${name} (gantry config list)`))
        yield* mayDelete(existing)
        yield* Sql.deleteTemplate(name)
        this.templatesByName.delete(name)
      })
    )
  }
}
