/**
 * The CLI's identity and project commands (SPEC §1, §8):
 * - `token create --user U [--level L --team T --projects P,Q --unix-user A --label TEXT]`
 *   creates the user if new (or changes the fields given) and prints a token once;
 *   `token list`, `token revoke ID`;
 * - `user list`, `user set U [--level ...]`; `whoami`;
 * - `login URL` (token from `--token`, `$GANTRY_TOKEN` or the first line of stdin) checks the
 *   token with the daemon and stores it (Credentials.ts, 0600); `logout [URL]`;
 * - `projects`, `project create P --default-queue Q [--queues Q,R]`, `project update`,
 *   `project delete`.
 */
import { Args, Command, Options } from "@effect/cli"
import { NewToken, TokenJson, type UserChange, UserJson } from "@gantry/api"
import { Identity, IdentityName, Level, Project, ProjectName, QueueName, TeamName, UnixUserName } from "@gantry/core"
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as Client from "./Client.js"
import { print, printJson, printPlain, withControl } from "./CliCommon.js"
import { normalizeUrl, readCredentials, writeCredentials } from "./Credentials.js"
import * as F from "./Format.js"
import { CliError, common, decodeWith, usage } from "./Input.js"

const identityText = (i: Identity) =>
  `${i.name} (${i.level}${i.team !== null ? `, team ${i.team}` : ""}${i.projects.length > 0 ? `, projects ${i.projects.join(",")}` : ""}${i.unixUser !== null ? `, runs as ${i.unixUser}` : ""})`

const usersTable = (users: ReadonlyArray<UserJson>) =>
  F.table(
    ["#", "user", "level", "team", "projects", "unix account", "created"],
    users.map((u) => [u.id, u.owner ? `${u.identity.name} (owner)` : u.identity.name, u.identity.level, u.identity.team, u.identity.projects.join(",") || null, u.identity.unixUser ?? `(${u.identity.name})`, F.localTime(u.createdAt)])
  )

const tokensTable = (tokens: ReadonlyArray<TokenJson>) =>
  F.table(
    ["id", "user", "label", "created", "by", "revoked"],
    tokens.map((t) => [t.id, t.user, t.label, F.localTime(t.createdAt), t.createdBy, t.revokedAt === null ? null : `${F.localTime(t.revokedAt)} by ${t.revokedBy}`])
  )

// ------------------------------------------------------------------ users and tokens

const userFlags = {
  level: Options.choice("level", Level.literals).pipe(Options.optional, Options.withDescription("admin, lead, researcher or viewer (a new user: researcher)")),
  team: Options.text("team").pipe(Options.optional, Options.withDescription('the user\'s team ("none" for no team)')),
  projects: Options.text("projects").pipe(Options.optional, Options.withDescription('the projects the user may submit to, comma-separated, the default first ("none" for none)')),
  unixUser: Options.text("unix-user").pipe(
    Options.optional,
    Options.withDescription('the Unix account the user\'s runs start under when the runner serves as root (default: the account of the same name; "none" for that default)')
  )
}
type UserFlags = { readonly [K in keyof typeof userFlags]: Option.Option<string> }

/** The change the flags ask for, decoded (bad values exit 64 naming the flag). */
const userChange = (a: UserFlags): Effect.Effect<UserChange, CliError> =>
  Effect.gen(function* () {
    const change: { -readonly [K in keyof UserChange]: UserChange[K] } = {}
    if (Option.isSome(a.level)) change.level = a.level.value as Level
    if (Option.isSome(a.team)) change.team = a.team.value === "none" ? null : yield* decodeWith(TeamName, "--team")(a.team.value)
    if (Option.isSome(a.projects))
      change.projects =
        a.projects.value === "none" ? [] : yield* decodeWith(Schema.Array(ProjectName), "--projects")(a.projects.value.split(",").map((p) => p.trim()).filter((p) => p !== ""))
    if (Option.isSome(a.unixUser)) change.unixUser = a.unixUser.value === "none" ? null : yield* decodeWith(UnixUserName, "--unix-user")(a.unixUser.value)
    return change
  })

const tokenCreateOptions = {
  ...common,
  user: Options.text("user").pipe(Options.withDescription("whose token (created if new)")),
  ...userFlags,
  label: Options.text("label").pipe(Options.optional, Options.withDescription("a note to tell tokens apart (laptop, CI, ...)"))
}
const tokenCreate = Command.make("create", tokenCreateOptions, (a) =>
  Effect.gen(function* () {
    const user = yield* decodeWith(IdentityName, "--user")(a.user)
    const change = yield* userChange(a)
    yield* withControl(
      a,
      (control) =>
        Effect.gen(function* () {
          const made: NewToken = yield* control.createToken({ user, ...change, ...(Option.isSome(a.label) ? { label: a.label.value } : {}) })
          if (a.format === "json") return yield* printJson(NewToken, made)
          yield* print(
            [
              made.token,
              "",
              `token ${made.record.id} for ${identityText(made.user.identity)}: shown once, keep it safe.`,
              `on the user's machine:  gantry login URL   (and paste it), or send it as Authorization: Bearer TOKEN`
            ].join("\n")
          )
        }),
      { create: true }
    )
  })
).pipe(Command.withDescription("create a bearer token for a user (admins only); prints it once"))

const tokenList = Command.make("list", common, (a) =>
  withControl(a, (control) => Effect.flatMap(control.tokens, (tokens) => (a.format === "json" ? printJson(Schema.Array(TokenJson), tokens) : print(tokensTable(tokens)))))
).pipe(Command.withDescription("list tokens (never the tokens themselves)"))

const tokenRevokeOptions = { ...common, id: Args.text({ name: "id" }).pipe(Args.withDescription("the token's id, 12 hex digits (gantry token list)")) }
const tokenRevoke = Command.make("revoke", tokenRevokeOptions, (a) =>
  Effect.gen(function* () {
    if (!/^[0-9a-f]{12}$/.test(a.id)) return yield* usage(`a token id is 12 hex digits (gantry token list), not "${a.id}"`)
    yield* withControl(a, (control) => Effect.flatMap(control.revokeToken(a.id), (t) => (a.format === "json" ? printJson(TokenJson, t) : print(`token ${t.id} (${t.user}) revoked`))))
  })
).pipe(Command.withDescription("revoke a token: requests with it are refused from now on"))

export const tokenCommand = Command.make("token").pipe(Command.withSubcommands([tokenCreate, tokenList, tokenRevoke]), Command.withDescription("create, list or revoke bearer tokens (admins only)"))

const userList = Command.make("list", common, (a) =>
  withControl(a, (control) => Effect.flatMap(control.users, (users) => (a.format === "json" ? printJson(Schema.Array(UserJson), users) : print(usersTable(users)))))
).pipe(Command.withDescription("list users"))

const userSetOptions = { ...common, ...userFlags, name: Args.text({ name: "user" }).pipe(Args.withDescription("the user's name (created if new)")) }
const userSet = Command.make("set", userSetOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* decodeWith(IdentityName, "user name")(a.name)
    const change = yield* userChange(a)
    yield* withControl(a, (control) => Effect.flatMap(control.setUser(name, change), (u) => (a.format === "json" ? printJson(UserJson, u) : print(identityText(u.identity)))), { create: true })
  })
).pipe(Command.withDescription("create a user or change their level, team, projects or Unix account (admins only)"))

export const userCommand = Command.make("user").pipe(Command.withSubcommands([userList, userSet]), Command.withDescription("list users, or set a user's level, team, projects and Unix account"))

export const whoamiCommand = Command.make("whoami", common, (a) =>
  withControl(a, (control) => Effect.flatMap(control.me, (me) => (a.format === "json" ? printJson(Identity, me) : print(`${identityText(me)}${control.mode === "offline" ? " (the database's owner, offline)" : ""}`))))
).pipe(Command.withDescription("who the runner takes you for"))

// ------------------------------------------------------------------ login

const readStdinLine = (): string => {
  try {
    return (fs.readFileSync(0, "utf8").split("\n")[0] ?? "").trim()
  } catch {
    return ""
  }
}

const loginOptions = {
  token: Options.text("token").pipe(Options.optional, Options.withDescription("the token (default: $GANTRY_TOKEN, else the first line of stdin)")),
  url: Args.text({ name: "url" }).pipe(Args.withDescription("the daemon's URL, as gantry serve prints it"))
}
export const loginCommand = Command.make("login", loginOptions, (a) =>
  Effect.gen(function* () {
    let url: URL
    try {
      url = new URL(a.url)
    } catch {
      return yield* usage(`not a URL: "${a.url}" (gantry serve prints the daemon's, e.g. http://127.0.0.1:8080)`)
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return yield* usage(`a daemon's URL is http:// or https://, not ${url.protocol}`)
    const key = normalizeUrl(url.href)
    if (Option.isNone(a.token) && process.stdin.isTTY) process.stderr.write(`token for ${key}: `)
    const token = Option.getOrUndefined(a.token) ?? (process.env.GANTRY_TOKEN !== undefined && process.env.GANTRY_TOKEN !== "" ? process.env.GANTRY_TOKEN : readStdinLine())
    if (token === "") return yield* usage("no token given (--token, $GANTRY_TOKEN or stdin); an admin makes one with gantry token create --user NAME")
    const control = yield* Client.httpControl(key, token)
    const me = yield* control.me
    const saved = readCredentials()
    const file = writeCredentials({ current: key, tokens: { ...saved.tokens, [key]: token } })
    yield* print(`logged in to ${key} as ${identityText(me)}; the token is in ${file}`)
  })
).pipe(Command.withDescription("check a token with a daemon and keep it for later commands (which then go to that URL)"))

const logoutOptions = { url: Args.text({ name: "url" }).pipe(Args.withDescription("the URL to forget (default: the current one)"), Args.optional) }
export const logoutCommand = Command.make("logout", logoutOptions, (a) =>
  Effect.gen(function* () {
    const saved = readCredentials()
    const key = Option.isSome(a.url) ? normalizeUrl(a.url.value) : saved.current
    if (key === null || saved.tokens[key] === undefined) return yield* new CliError({ message: `not logged in${key === null ? "" : ` to ${key}`}`, exit: 66 })
    const { [key]: _gone, ...tokens } = saved.tokens
    writeCredentials({ current: saved.current === key ? null : saved.current, tokens })
    yield* print(`logged out of ${key}`)
  })
).pipe(Command.withDescription("forget the token stored for a URL (default: the current one)"))

// ------------------------------------------------------------------ projects

const projectsTable = (projects: ReadonlyArray<Project>) =>
  F.table(
    ["project", "default queue", "queues"],
    projects.map((p) => [p.name, p.defaultQueue, p.queues.length === 0 ? "(any)" : p.queues.join(",")])
  )

const queueList = (flag: string, text: string) =>
  decodeWith(Schema.Array(QueueName), flag)(text === "any" ? [] : text.split(",").map((q) => q.trim()).filter((q) => q !== ""))

const projectOptions = {
  ...common,
  defaultQueue: Options.text("default-queue").pipe(Options.optional, Options.withDescription("where the project's runs go when they name no queue")),
  queues: Options.text("queues").pipe(Options.optional, Options.withDescription('the only queues its runs may use, comma-separated ("any": no restriction)')),
  name: Args.text({ name: "project" }).pipe(Args.withDescription("the project's name"))
}

const projectCreate = Command.make("create", projectOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* decodeWith(ProjectName, "project name")(a.name)
    const queues = Option.isSome(a.queues) ? yield* queueList("--queues", a.queues.value) : []
    const defaultQueue = Option.isSome(a.defaultQueue) ? yield* decodeWith(QueueName, "--default-queue")(a.defaultQueue.value) : queues[0]
    if (defaultQueue === undefined) return yield* usage("gantry project create NAME --default-queue QUEUE [--queues Q,R]")
    const project = yield* decodeWith(Project, "project")({ name, defaultQueue, queues })
    yield* withControl(a, (control) => Effect.flatMap(control.createProject(project), (p) => (a.format === "json" ? printJson(Project, p) : print(`project ${p.name} created`))), { create: true })
  })
).pipe(Command.withDescription("create a project: its default queue and the queues it may use (admins only)"))

const projectUpdate = Command.make("update", projectOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* decodeWith(ProjectName, "project name")(a.name)
    if (Option.isNone(a.defaultQueue) && Option.isNone(a.queues)) return yield* usage("nothing to change: give --default-queue or --queues")
    const change = {
      ...(Option.isSome(a.defaultQueue) ? { defaultQueue: yield* decodeWith(QueueName, "--default-queue")(a.defaultQueue.value) } : {}),
      ...(Option.isSome(a.queues) ? { queues: yield* queueList("--queues", a.queues.value) } : {})
    }
    yield* withControl(a, (control) => Effect.flatMap(control.updateProject(name, change), (p) => (a.format === "json" ? printJson(Project, p) : print(`project ${p.name} updated`))), { create: true })
  })
).pipe(Command.withDescription("change a project's default queue or queues (admins only)"))

const projectDeleteOptions = { ...common, name: Args.text({ name: "project" }).pipe(Args.withDescription("the project's name")) }
const projectDelete = Command.make("delete", projectDeleteOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* decodeWith(ProjectName, "project name")(a.name)
    yield* withControl(a, (control) => Effect.flatMap(control.deleteProject(name), () => (a.format === "json" ? printPlain({ deleted: name }) : print(`project ${name} deleted`))))
  })
).pipe(Command.withDescription("delete a project (its runs keep its name; users lose it from their lists)"))

export const projectCommand = Command.make("project").pipe(Command.withSubcommands([projectCreate, projectUpdate, projectDelete]), Command.withDescription("create, update or delete projects"))

export const projectsCommand = Command.make("projects", common, (a) =>
  withControl(a, (control) => Effect.flatMap(control.projects, (projects) => (a.format === "json" ? printJson(Schema.Array(Project), projects) : print(projectsTable(projects)))))
).pipe(Command.withDescription("list projects"))

/** The flags of each command here, for `checkArgv`. */
export const directorySpecs = [
  ["token create", tokenCreateOptions],
  ["token list", common],
  ["token revoke", tokenRevokeOptions],
  ["user list", common],
  ["user set", userSetOptions],
  ["whoami", common],
  ["login", loginOptions],
  ["logout", logoutOptions],
  ["projects", common],
  ["project create", projectOptions],
  ["project update", projectOptions],
  ["project delete", projectDeleteOptions]
] as const
