/**
 * A server a team can share (issue 10), over real HTTP on 127.0.0.1 against `gantry serve`:
 * - every route × every role (admin, lead, researcher, viewer, no token, a revoked token),
 *   with the status each must get, written out here, and the matrix checked to cover every
 *   route of the API;
 * - tokens: shown once, stored hashed, revoked, `gantry login`;
 * - project routing: each precedence level (--queue, the task file, $GANTRY_QUEUE, the
 *   project's default, `default`) and a refused queue, through the CLI end to end;
 * - 500 concurrent submissions from several users into a queue of depth 100.
 *
 * When the tests run as root (CI), the daemon starts each run under its owner's Unix account:
 * the users here are mapped to `nobody` (their runs are held or paused: none starts).
 */
import { HttpApi } from "@effect/platform"
import { GantryApi } from "@gantry/api"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"
import { type Daemon, HttpError, type RunJson, type Sandbox, sandbox } from "./Gantry.js"

const isRoot = process.getuid?.() === 0
/** Users other than the owner start their runs as `nobody` when the daemon is root. */
const mapped = isRoot ? ["--unix-user", "nobody"] : []

type Role = "admin" | "lead" | "researcher" | "viewer" | "none" | "revoked"
const ROLES: ReadonlyArray<Role> = ["admin", "lead", "researcher", "viewer", "none", "revoked"]

interface Team {
  readonly s: Sandbox
  readonly d: Daemon
  readonly tokens: Readonly<Record<Role, string | null>>
  /** A second researcher, whose runs are "someone else's" to the researcher. */
  readonly boToken: string
  /** Each user's number (`user_id` of the common queue API). */
  readonly numbers: Readonly<Record<string, number>>
}

/** The user each role's token belongs to (none and revoked: nobody who may read a queue). */
const USER_OF: Readonly<Record<Role, string>> = { admin: "root2", lead: "lena", researcher: "ana", viewer: "vic", none: "bo", revoked: "rex" }

/** The templates every fixture has, saved by the owner (an admin): a held run, and one with a priority override. */
const TEMPLATES = { held: { command: ["true"], hold: true }, urgent: { command: ["true"], hold: true, priority: 99 } } as const

const setUp = async (s: Sandbox): Promise<Team> => {
  const d = await s.serve()
  await s.ok(["queue", "create", "q"])
  await s.ok(["queue", "create", "r"])
  await s.ok(["queue", "create", "s"])
  await s.ok(["project", "create", "p", "--default-queue", "q", "--queues", "q,r"])
  const [admin, lead, researcher, viewer, revoked, bo] = await Promise.all([
    s.token("root2", ["--level", "admin", ...mapped]),
    s.token("lena", ["--level", "lead", "--team", "alpha", ...mapped]),
    s.token("ana", ["--level", "researcher", "--team", "alpha", "--projects", "p", ...mapped]),
    s.token("vic", ["--level", "viewer", ...mapped]),
    s.token("rex", ["--level", "researcher", ...mapped]),
    s.token("bo", ["--level", "researcher", "--team", "beta", ...mapped])
  ])
  const revokedId = /^gantry_([0-9a-f]{12})_/.exec(revoked!)![1]!
  await s.ok(["token", "revoke", revokedId])
  for (const [name, submission] of Object.entries(TEMPLATES)) await d.api("PUT", `/api/configs/${name}`, submission)
  const users = await d.api<ReadonlyArray<{ id: number; identity: { name: string } }>>("GET", "/api/users")
  const numbers = Object.fromEntries(users.map((u) => [u.identity.name, u.id]))
  return { s, d, tokens: { admin: admin!, lead: lead!, researcher: researcher!, viewer: viewer!, none: null, revoked: revoked! }, boToken: bo!, numbers }
}

/** The status of a request (2xx included), never throwing on an HTTP error. */
const status = async (d: Daemon, method: string, route: string, body: unknown, token: string | null): Promise<{ readonly status: number; readonly body: unknown }> => {
  try {
    return { status: 200, body: await d.api(method, route, body, { token }) }
  } catch (e) {
    if (e instanceof HttpError) return { status: e.status, body: e.body }
    throw e
  }
}

/** A run submitted through gantry's own route (`POST /api/runs`), held unless `extra` says otherwise. */
const submitAs = async (d: Daemon, token: string, extra: Record<string, unknown> = {}): Promise<RunJson> => {
  const r = await d.api<{ _tag: string; run: RunJson }>("POST", "/api/runs", { command: ["true"], hold: true, ...extra }, { token })
  if (r._tag !== "Accepted") throw new Error(`not accepted: ${JSON.stringify(r)}`)
  return r.run
}

let unique = 0
const fresh = (prefix: string) => `${prefix}${++unique}`

/**
 * What a caller gets: an HTTP status, or (the common queue API's submit) a 200 whose body says
 * `success: false` with this `reason`, as that API's clients expect a refused submission.
 */
type Want = number | { readonly refused: string }
const refused = (reason: string): Want => ({ refused: reason })

interface Case {
  /** The route as the API defines it: METHOD and path with :params. */
  readonly route: string
  /** What it does, when one route has several cases. */
  readonly what?: string
  /** A request for this case (made fresh for each role). */
  readonly request: (t: Team, role: Role) => Promise<{ readonly method: string; readonly url: string; readonly body?: unknown }>
  readonly expect: Readonly<Record<Exclude<Role, "none" | "revoked">, Want>>
}

const READ = { admin: 200, lead: 200, researcher: 200, viewer: 200 } as const
const SUBMIT = { admin: 200, lead: 200, researcher: 200, viewer: 403 } as const
const LEAD = { admin: 200, lead: 200, researcher: 403, viewer: 403 } as const
const ADMIN = { admin: 200, lead: 403, researcher: 403, viewer: 403 } as const
/** The common queue API's submit: a viewer's refusal is a 200 that says so. */
const TEMPLATE_SUBMIT = { admin: 200, lead: 200, researcher: 200, viewer: refused("PERMISSION_DENIED") } as const

const othersRun = async (t: Team, extra: Record<string, unknown> = {}) => (await submitAs(t.d, t.boToken, extra)).id
/** A held run of the caller's own (a viewer cannot submit: an admin submits on the viewer's behalf; for no token, anyone's). */
const ownRun = async (t: Team, role: Role) =>
  (role === "admin" || role === "lead" || role === "researcher" ? await submitAs(t.d, t.tokens[role]!) : await submitAs(t.d, t.tokens.admin!, { user: "vic" })).id
/** A template saved by bo (a researcher): someone else's to every caller. */
const othersTemplate = async (t: Team) => {
  const name = fresh("bos")
  await t.d.api("PUT", `/api/configs/${name}`, { command: ["true"] }, { token: t.boToken })
  return name
}
/** A template of the caller's own (a viewer cannot save one: bo's, for a viewer or no token). */
const ownTemplate = async (t: Team, role: Role) => {
  const name = fresh("own")
  const token = role === "admin" || role === "lead" || role === "researcher" ? t.tokens[role]! : t.boToken
  await t.d.api("PUT", `/api/configs/${name}`, { command: ["true"] }, { token })
  return name
}
const get = (url: string) => () => Promise.resolve({ method: "GET", url })
const post = (url: string, body?: unknown) => () => Promise.resolve({ method: "POST", url, ...(body !== undefined ? { body } : {}) })

/** Every route, and for some several cases; `expect` is the status for each role with a token. */
const CASES: ReadonlyArray<Case> = [
  // ---------------------------------------------------------------- the common queue API
  { route: "GET /api/queue", request: get("/api/queue?include_completed=true"), expect: READ },
  { route: "GET /api/queue/stats", request: get("/api/queue/stats"), expect: READ },
  { route: "GET /api/queue/me", request: get("/api/queue/me"), expect: READ },
  {
    route: "GET /api/queue/user/:user_id",
    what: "the caller's own number",
    request: (t, role) => Promise.resolve({ method: "GET", url: `/api/queue/user/${t.numbers[USER_OF[role]]}` }),
    expect: READ
  },
  { route: "GET /api/queue/user/:user_id", what: "another user's", request: (t) => Promise.resolve({ method: "GET", url: `/api/queue/user/${t.numbers.bo}` }), expect: LEAD },
  { route: "GET /api/queue/position/:job_id", request: async (t) => ({ method: "GET", url: `/api/queue/position/${await othersRun(t)}` }), expect: READ },
  { route: "POST /api/queue/submit", what: "a saved template", request: post("/api/queue/submit", { config_name: "held" }), expect: TEMPLATE_SUBMIT },
  { route: "POST /api/queue/submit", what: "for approval", request: post("/api/queue/submit", { config_name: "held", for_approval: true }), expect: TEMPLATE_SUBMIT },
  {
    route: "POST /api/queue/submit",
    what: "a template with a priority override",
    request: post("/api/queue/submit", { config_name: "urgent" }),
    expect: { admin: 200, lead: 200, researcher: refused("PERMISSION_DENIED"), viewer: refused("PERMISSION_DENIED") }
  },
  {
    route: "POST /api/queue/submit",
    what: "a template that does not exist",
    request: post("/api/queue/submit", { config_name: "nope" }),
    expect: { admin: refused("NOT_FOUND"), lead: refused("NOT_FOUND"), researcher: refused("NOT_FOUND"), viewer: refused("NOT_FOUND") }
  },
  {
    route: "POST /api/queue/submit",
    what: "to a remote worker (none here)",
    request: post("/api/queue/submit", { config_name: "held", target: "worker" }),
    expect: { admin: refused("NO_WORKERS"), lead: refused("NO_WORKERS"), researcher: refused("NO_WORKERS"), viewer: refused("NO_WORKERS") }
  },
  { route: "POST /api/queue/:job_id/cancel", what: "another's run", request: async (t) => ({ method: "POST", url: `/api/queue/${await othersRun(t)}/cancel` }), expect: LEAD },
  { route: "POST /api/queue/:job_id/cancel", what: "the caller's own run", request: async (t, role) => ({ method: "POST", url: `/api/queue/${await ownRun(t, role)}/cancel` }), expect: SUBMIT },
  {
    route: "POST /api/queue/:job_id/approve",
    request: async (t) => ({ method: "POST", url: `/api/queue/${await othersRun(t, { hold: false, requiresApproval: true })}/approve` }),
    expect: ADMIN
  },
  {
    route: "POST /api/queue/:job_id/reject",
    request: async (t) => ({ method: "POST", url: `/api/queue/${await othersRun(t, { hold: false, requiresApproval: true })}/reject?reason=no` }),
    expect: ADMIN
  },
  { route: "POST /api/queue/:job_id/priority", request: async (t) => ({ method: "POST", url: `/api/queue/${await othersRun(t)}/priority`, body: { priority: 50 } }), expect: LEAD },
  { route: "GET /api/queue/concurrency", request: get("/api/queue/concurrency"), expect: READ },
  {
    route: "POST /api/queue/concurrency",
    request: async (t) => {
      const current = await t.d.api<{ enable_fair_share: boolean }>("GET", "/api/queue/concurrency")
      return { method: "POST", url: "/api/queue/concurrency", body: { enable_fair_share: current.enable_fair_share } }
    },
    expect: ADMIN
  },
  { route: "POST /api/queue/process", request: post("/api/queue/process"), expect: ADMIN },
  { route: "POST /api/queue/cleanup", request: post("/api/queue/cleanup?days=30"), expect: ADMIN },
  { route: "POST /api/queue/cleanup", what: "the default days", request: post("/api/queue/cleanup"), expect: ADMIN },
  { route: "GET /api/system/status", request: get("/api/system/status?include_allocation=true"), expect: READ },
  { route: "GET /api/cloud/jobs", request: get("/api/cloud/jobs"), expect: READ },
  { route: "GET /api/cloud/jobs/:job_id", request: async (t) => ({ method: "GET", url: `/api/cloud/jobs/${await othersRun(t)}` }), expect: READ },
  { route: "POST /api/cloud/jobs/:job_id/cancel", what: "another's run", request: async (t) => ({ method: "POST", url: `/api/cloud/jobs/${await othersRun(t)}/cancel` }), expect: LEAD },
  {
    route: "POST /api/cloud/jobs/:job_id/cancel",
    what: "the caller's own run",
    request: async (t, role) => ({ method: "POST", url: `/api/cloud/jobs/${await ownRun(t, role)}/cancel` }),
    expect: SUBMIT
  },
  // ---------------------------------------------------------------- gantry's own routes
  { route: "GET /api/runs", request: get("/api/runs?include_completed=true&limit=5&offset=1"), expect: READ },
  { route: "POST /api/runs", request: post("/api/runs", { command: ["true"], hold: true }), expect: SUBMIT },
  { route: "POST /api/runs", what: "with a level above the caller's own", request: post("/api/runs", { command: ["true"], hold: true, level: "admin" }), expect: { admin: 200, lead: 403, researcher: 403, viewer: 403 } },
  { route: "POST /api/runs", what: "with a priority override", request: post("/api/runs", { command: ["true"], hold: true, priority: 99 }), expect: LEAD },
  { route: "POST /api/runs", what: "on behalf of another user", request: post("/api/runs", { command: ["true"], hold: true, user: "bo" }), expect: ADMIN },
  { route: "POST /api/runs/bulk", request: post("/api/runs/bulk", { submissions: [{ command: ["true"], hold: true }, { command: ["true"], hold: true }] }), expect: SUBMIT },
  { route: "POST /api/runs/cancel", what: "another's run", request: async (t) => ({ method: "POST", url: "/api/runs/cancel", body: { ids: [await othersRun(t)] } }), expect: LEAD },
  { route: "POST /api/runs/cancel", what: "--all (one's own runs, or everyone's for a lead)", request: post("/api/runs/cancel", { ids: [], all: true }), expect: SUBMIT },
  { route: "POST /api/runs/cancel", what: "the caller's own run", request: async (t, role) => ({ method: "POST", url: "/api/runs/cancel", body: { ids: [await ownRun(t, role)] } }), expect: SUBMIT },
  { route: "GET /api/runs/changes", request: get("/api/runs/changes?since=0&timeoutMs=0"), expect: READ },
  { route: "GET /api/runs/:id", request: async (t) => ({ method: "GET", url: `/api/runs/${await othersRun(t)}` }), expect: READ },
  { route: "GET /api/runs/:id/position", request: async (t) => ({ method: "GET", url: `/api/runs/${await othersRun(t)}/position` }), expect: READ },
  { route: "POST /api/runs/:id/release", what: "another's held run", request: async (t) => ({ method: "POST", url: `/api/runs/${await othersRun(t)}/release` }), expect: LEAD },
  { route: "POST /api/runs/:id/release", what: "the caller's own held run", request: async (t, role) => ({ method: "POST", url: `/api/runs/${await ownRun(t, role)}/release` }), expect: SUBMIT },
  {
    route: "POST /api/runs/:id/approve",
    request: async (t) => ({ method: "POST", url: `/api/runs/${await othersRun(t, { hold: false, requiresApproval: true })}/approve` }),
    expect: ADMIN
  },
  {
    route: "POST /api/runs/:id/reject",
    request: async (t) => ({ method: "POST", url: `/api/runs/${await othersRun(t, { hold: false, requiresApproval: true })}/reject`, body: { reason: "no" } }),
    expect: ADMIN
  },
  { route: "POST /api/runs/:id/priority", request: async (t) => ({ method: "POST", url: `/api/runs/${await othersRun(t)}/priority`, body: { priority: 50 } }), expect: LEAD },
  { route: "GET /api/policy", request: get("/api/policy"), expect: READ },
  { route: "PUT /api/policy", request: async (t) => ({ method: "PUT", url: "/api/policy", body: await t.d.api("GET", "/api/policy") }), expect: ADMIN },
  {
    route: "PUT /api/policy",
    what: "a change, with a note",
    request: async (t) => {
      const current = await t.d.api<{ killGraceMs: number }>("GET", "/api/policy")
      return { method: "PUT", url: "/api/policy?note=longer%20grace&source=apply", body: { ...current, killGraceMs: current.killGraceMs + 1 } }
    },
    expect: ADMIN
  },
  { route: "GET /api/policy/history", request: get("/api/policy/history?limit=5"), expect: READ },
  { route: "GET /api/policy/versions/:version", request: async (t) => ({ method: "GET", url: `/api/policy/versions/${(await t.d.api<{ version: number }>("GET", "/api/policy")).version}` }), expect: READ },
  { route: "GET /api/policy/versions/:version", what: "one that does not exist", request: get("/api/policy/versions/999999"), expect: { admin: 404, lead: 404, researcher: 404, viewer: 404 } },
  { route: "GET /api/stats", request: get("/api/stats"), expect: READ },
  { route: "GET /api/system", request: get("/api/system"), expect: READ },
  { route: "GET /api/queues", request: get("/api/queues"), expect: READ },
  { route: "POST /api/queues", request: () => Promise.resolve({ method: "POST", url: "/api/queues", body: { ...queueConfig(fresh("new")) } }), expect: ADMIN },
  { route: "PATCH /api/queues/:name", request: () => Promise.resolve({ method: "PATCH", url: "/api/queues/s", body: { priority: 3 } }), expect: ADMIN },
  {
    route: "DELETE /api/queues/:name",
    request: async (t) => {
      const name = fresh("gone")
      await t.d.api("POST", "/api/queues", queueConfig(name))
      return { method: "DELETE", url: `/api/queues/${name}` }
    },
    expect: ADMIN
  },
  { route: "POST /api/gpus/:index/drain", request: post("/api/gpus/0/drain"), expect: ADMIN },
  { route: "POST /api/gpus/:index/undrain", request: post("/api/gpus/0/undrain"), expect: ADMIN },
  { route: "GET /api/users/me", request: get("/api/users/me"), expect: READ },
  { route: "GET /api/users", request: get("/api/users"), expect: ADMIN },
  { route: "PUT /api/users/:name", what: "another user", request: () => Promise.resolve({ method: "PUT", url: `/api/users/${fresh("u")}`, body: { level: "researcher" } }), expect: ADMIN },
  { route: "PUT /api/users/:name", what: "raising ana's own level", request: () => Promise.resolve({ method: "PUT", url: "/api/users/ana", body: { level: "researcher" } }), expect: ADMIN },
  { route: "GET /api/tokens", request: get("/api/tokens"), expect: ADMIN },
  { route: "POST /api/tokens", request: () => Promise.resolve({ method: "POST", url: "/api/tokens", body: { user: fresh("t"), level: "viewer" } }), expect: ADMIN },
  {
    route: "DELETE /api/tokens/:id",
    request: async (t) => {
      const made = await t.d.api<{ record: { id: string } }>("POST", "/api/tokens", { user: fresh("t"), level: "viewer" })
      return { method: "DELETE", url: `/api/tokens/${made.record.id}` }
    },
    expect: ADMIN
  },
  { route: "GET /api/projects", request: get("/api/projects"), expect: READ },
  { route: "POST /api/projects", request: () => Promise.resolve({ method: "POST", url: "/api/projects", body: { name: fresh("proj"), defaultQueue: "q", queues: [] } }), expect: ADMIN },
  { route: "PATCH /api/projects/:name", request: () => Promise.resolve({ method: "PATCH", url: "/api/projects/p", body: { defaultQueue: "q" } }), expect: ADMIN },
  {
    route: "DELETE /api/projects/:name",
    request: async (t) => {
      const name = fresh("doomed")
      await t.d.api("POST", "/api/projects", { name, defaultQueue: "q", queues: [] })
      return { method: "DELETE", url: `/api/projects/${name}` }
    },
    expect: ADMIN
  },
  { route: "GET /api/configs", request: get("/api/configs"), expect: READ },
  { route: "GET /api/configs/:name", request: get("/api/configs/held"), expect: READ },
  { route: "PUT /api/configs/:name", what: "a new template", request: () => Promise.resolve({ method: "PUT", url: `/api/configs/${fresh("new")}`, body: { command: ["true"], hold: true } }), expect: SUBMIT },
  { route: "PUT /api/configs/:name", what: "replacing the caller's own", request: async (t, role) => ({ method: "PUT", url: `/api/configs/${await ownTemplate(t, role)}`, body: { command: ["false"] } }), expect: SUBMIT },
  { route: "PUT /api/configs/:name", what: "replacing another's", request: async (t) => ({ method: "PUT", url: `/api/configs/${await othersTemplate(t)}`, body: { command: ["false"] } }), expect: ADMIN },
  { route: "DELETE /api/configs/:name", what: "the caller's own", request: async (t, role) => ({ method: "DELETE", url: `/api/configs/${await ownTemplate(t, role)}` }), expect: SUBMIT },
  { route: "DELETE /api/configs/:name", what: "another's", request: async (t) => ({ method: "DELETE", url: `/api/configs/${await othersTemplate(t)}` }), expect: ADMIN }
]

function queueConfig(name: string) {
  return { name, priority: 0, maxConcurrent: null, runConcurrency: null, depth: null, gpuPool: null, gpuQuota: null, paused: false }
}

/** Every route of the API, as "METHOD /path/:param". */
const apiRoutes = (): Array<string> => {
  const routes: Array<string> = []
  HttpApi.reflect(GantryApi, { onGroup: () => undefined, onEndpoint: ({ endpoint }) => void routes.push(`${endpoint.method} ${endpoint.path}`) })
  return routes.sort()
}

/** What is wrong with an answer for what was wanted, or null. */
const mismatch = (got: { readonly status: number; readonly body: unknown }, want: Want): string | null => {
  const body = (typeof got.body === "object" && got.body !== null ? got.body : {}) as Record<string, unknown>
  if (typeof want === "number") {
    if (got.status !== want) return `expected ${want}`
    // a success of the common queue API says so
    if (got.status === 200 && "success" in body && body.success !== true) return "expected success: true"
    return null
  }
  if (got.status !== 200 || body.success !== false || body.reason !== want.refused || typeof body.error !== "string")
    return `expected 200 with success: false, reason ${want.refused} and an error`
  return null
}

describe.concurrent("issue 10: roles", () => {
  it("the matrix covers every route of the API", ({ expect }) => {
    expect([...new Set(CASES.map((c) => c.route))].sort()).toEqual(apiRoutes())
  })

  it("every route × every role (and no token, a revoked token) gets the expected status", { timeout: 300_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    const team = await setUp(s)
    const seen: Array<string> = []
    const wrong: Array<string> = []
    for (const c of CASES) {
      for (const role of ROLES) {
        const request = await c.request(team, role)
        const got = await status(team.d, request.method, request.url, request.body, team.tokens[role])
        const want = role === "none" || role === "revoked" ? 401 : c.expect[role]
        const line = `${c.route}${c.what !== undefined ? ` (${c.what})` : ""} as ${role}: ${got.status}`
        seen.push(line)
        const problem = mismatch(got, want)
        if (problem !== null) wrong.push(`${line}, ${problem}: ${JSON.stringify(got.body)}`)
        // a refusal names itself: a code and a message
        if (got.status >= 400) expect(got.body, line).toMatchObject({ code: expect.any(String), message: expect.any(String) })
      }
    }
    expect(wrong).toEqual([])
    expect(seen.length).toBe(CASES.length * ROLES.length)
    const revoked = await status(team.d, "GET", "/api/queue", undefined, team.tokens.revoked)
    expect(revoked.body).toMatchObject({ code: "UNAUTHENTICATED", message: expect.stringMatching(/revoked/) })
  })

  it("the API's description opens without a token; a route that does not exist is a JSON 404 with or without one", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const spec = await d.api<{ openapi: string; paths: Record<string, unknown> }>("GET", "/api/openapi.json", undefined, { token: null })
    expect(spec.openapi).toMatch(/^3\./)
    // every route of the API is in it (OpenAPI writes a parameter {name})
    const documented = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${p.replace(/\{([^}]+)\}/g, ":$1")}`))
    expect(documented.sort()).toEqual(apiRoutes())
    const page = await fetch(`${d.url}/docs`)
    expect([page.status, page.headers.get("content-type")]).toEqual([200, expect.stringMatching(/^text\/html/)])
    expect(await page.text()).toMatch(/openapi\.json|swagger/i)
    for (const token of [null, d.token]) {
      const missing = await status(d, "GET", "/api/nope", undefined, token)
      expect(missing, `token ${token === null ? "none" : "the owner's"}`).toMatchObject({ status: 404, body: { code: "NOT_FOUND", message: "no route GET /api/nope" } })
    }
    // an API route still needs one
    expect(await status(d, "GET", "/api/configs", undefined, null)).toMatchObject({ status: 401, body: { code: "UNAUTHENTICATED" } })
  })

  it("a researcher cannot approve, cancel another's run, change another's template, or raise their level or priority, and nothing changes", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const t = await setUp(s)
    const ana = t.tokens.researcher!
    const blocked = await submitAs(t.d, t.boToken, { hold: false, requiresApproval: true })
    const bos = await submitAs(t.d, t.boToken)
    const own = await submitAs(t.d, ana)
    expect(own).toMatchObject({ user: "ana", level: "researcher", team: "alpha", project: "p", queue: "q", basePriority: 10 })
    const bosTemplate = await othersTemplate(t)
    const templatesBefore = await t.d.api<ReadonlyArray<unknown>>("GET", "/api/configs")
    const policyBefore = await t.d.api<{ version: number }>("GET", "/api/policy")
    const historyBefore = await t.d.api<ReadonlyArray<unknown>>("GET", "/api/policy/history")
    for (const [method, url, body] of [
      ["POST", `/api/queue/${blocked.id}/approve`, undefined],
      ["POST", `/api/runs/${blocked.id}/approve`, undefined],
      ["POST", `/api/queue/${blocked.id}/reject?reason=no`, undefined],
      ["POST", `/api/runs/${blocked.id}/reject`, { reason: "no" }],
      ["POST", `/api/queue/${bos.id}/cancel`, undefined],
      ["POST", `/api/cloud/jobs/${bos.id}/cancel`, undefined],
      ["POST", "/api/runs/cancel", { ids: [own.id, bos.id] }],
      ["POST", `/api/runs/${bos.id}/release`, undefined],
      ["POST", `/api/queue/${own.id}/priority`, { priority: 50 }],
      ["POST", `/api/runs/${own.id}/priority`, { priority: 100 }],
      ["PUT", "/api/users/ana", { level: "admin" }],
      ["POST", "/api/runs", { command: ["true"], level: "lead" }],
      ["POST", "/api/runs", { command: ["true"], priority: 5 }],
      ["POST", "/api/runs", { command: ["true"], user: "bo" }],
      ["POST", "/api/runs", { command: ["true"], team: "beta" }],
      ["POST", "/api/runs/bulk", { submissions: [{ command: ["true"] }, { command: ["true"], priority: 5 }] }],
      ["POST", "/api/tokens", { user: "ana", level: "admin" }],
      ["GET", `/api/queue/user/${t.numbers.bo}`, undefined],
      ["PUT", "/api/configs/held", { command: ["false"] }],
      ["PUT", `/api/configs/${bosTemplate}`, { command: ["false"] }],
      ["DELETE", "/api/configs/held", undefined],
      ["DELETE", `/api/configs/${bosTemplate}`, undefined],
      ["PUT", "/api/policy", { ...policyBefore, version: policyBefore.version + 1 }],
      ["POST", "/api/queue/concurrency", { max_concurrent: 1 }],
      ["POST", "/api/queue/process", undefined],
      ["POST", "/api/queue/cleanup?days=1", undefined]
    ] as const) {
      const r = await status(t.d, method, url, body, ana)
      expect(r.status, `${method} ${url} ${JSON.stringify(body)}`).toBe(403)
      expect(r.body).toMatchObject({ code: "PERMISSION_DENIED" })
    }
    // the common queue API refuses a submission with a 200 that says so
    expect(await t.d.api("POST", "/api/queue/submit", { config_name: "urgent" }, { token: ana })).toMatchObject({
      success: false,
      job_id: null,
      reason: "PERMISSION_DENIED",
      error: expect.stringMatching(/only a lead or an admin may set a priority override/)
    })
    const runs = await t.d.list()
    expect(runs.find((r) => r.id === blocked.id)?.status).toBe("blocked")
    expect(runs.find((r) => r.id === bos.id)?.status).toBe("held")
    expect(runs.find((r) => r.id === own.id)).toMatchObject({ status: "held", priorityOverride: null })
    expect(runs.filter((r) => r.user === "ana")).toHaveLength(1)
    expect((await t.d.api<{ level: string }>("GET", "/api/users/me", undefined, { token: ana })).level).toBe("researcher")
    expect(await t.d.api("GET", "/api/configs")).toEqual(templatesBefore)
    expect(await t.d.api("GET", "/api/policy")).toEqual(policyBefore)
    expect(await t.d.api("GET", "/api/policy/history")).toEqual(historyBefore)
    // their own runs they may cancel, through either API, and their own queue they may read
    expect(await t.d.api("POST", "/api/runs/cancel", { ids: [own.id] }, { token: ana })).toEqual({ cancelled: [own.id] })
    const another = await submitAs(t.d, ana)
    expect(await t.d.api("POST", `/api/queue/${another.id}/cancel`, undefined, { token: ana })).toEqual({ success: true, job_id: another.id })
    expect(await t.d.api("GET", `/api/queue/user/${t.numbers.ana}`, undefined, { token: ana })).toMatchObject({ pending_count: 0, running_count: 0, pending_jobs: [], running_jobs: [] })
    expect((await t.d.list()).filter((r) => r.user === "ana").map((r) => r.status)).toEqual(["cancelled", "cancelled"])
  })
})

describe.concurrent("issue 10: tokens", () => {
  it("a token is shown once, stored hashed, works until revoked; login keeps it in a 0600 file; serve says how to get an admin token", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    // offline, on the daemon's own database, a command acts as its owner (an admin): it may create tokens
    const made = await s.json<{ token: string; record: { id: string }; user: { identity: { name: string; level: string; team: string } } }>([
      "token",
      "create",
      "--user",
      "ana",
      "--level",
      "researcher",
      "--team",
      "alpha",
      "--label",
      "laptop",
      ...mapped
    ])
    expect(made.token).toMatch(/^gantry_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    expect(made.user.identity).toMatchObject({ name: "ana", level: "researcher", team: "alpha" })
    expect(await s.json<{ name: string; level: string }>(["whoami"])).toMatchObject({ name: "tester", level: "admin" })
    const d = await s.serve()
    expect(d.stdout).toMatch(/gantry token create --user tester/)
    expect(d.stdout).toMatch(/admin {5}tester owns this database/)
    // the database holds its hash, never the token
    const bytes = Buffer.concat([s.db, `${s.db}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)))
    expect(bytes.includes(Buffer.from(made.token))).toBe(false)
    const list = await s.json<ReadonlyArray<Record<string, unknown>>>(["token", "list"])
    expect(list).toHaveLength(1)
    expect(JSON.stringify(list)).not.toContain(made.token)
    expect(list[0]).toMatchObject({ id: made.record.id, user: "ana", label: "laptop", createdBy: "tester", revokedAt: null })

    // gantry login URL: checks the token, stores it 0600, and later commands go there as ana
    const login = await s.cli(["login", d.url, "--token", made.token])
    expect(login.code, login.stderr).toBe(0)
    expect(login.stdout).toMatch(/logged in to http:\/\/127\.0\.0\.1:\d+ as ana \(researcher, team alpha/)
    const file = path.join(s.home, "config", "gantry", "credentials.json")
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe("600")
    expect((fs.statSync(path.dirname(file)).mode & 0o777).toString(8)).toBe("700")
    expect(await s.json<{ name: string }>(["whoami"])).toMatchObject({ name: "ana", level: "researcher" })
    const id = await s.submit(["true"], ["--hold"])
    expect((await d.show(id)).run).toMatchObject({ user: "ana", level: "researcher", team: "alpha" })
    const approve = await s.cli(["approve", id])
    expect(approve.code).toBe(77)
    expect(approve.stderr).toMatch(/^gantry: ana is a researcher: only an admin may approve runs/)

    // a wrong token is not stored
    const bad = await s.cli(["login", d.url, "--token", "gantry_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
    expect(bad.code).toBe(77)
    expect(bad.stderr).toMatch(/unknown bearer token/)

    // revoked: refused from the next request on
    await s.ok(["token", "revoke", made.record.id, "--db", s.db])
    const after = await s.cli(["runs"])
    expect(after.code).toBe(77)
    expect(after.stderr).toMatch(/token [0-9a-f]{12} has been revoked/)
    expect((await s.cli(["logout"])).code).toBe(0)
    expect((await s.json<{ name: string }>(["whoami"])).name).toBe("tester")
  })

  it("a token works as X-API-Key too (what the common queue API's clients send); errors carry detail", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const ana = await s.token("ana", mapped)
    const rex = await s.token("rex", mapped)
    await s.ok(["token", "revoke", /^gantry_([0-9a-f]{12})_/.exec(rex)![1]!])
    const call = async (headers: Record<string, string>) => {
      const response = await fetch(`${d.url}/api/users/me`, { headers })
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    }
    expect(await call({ "X-API-Key": ana })).toEqual({ status: 200, body: expect.objectContaining({ name: "ana" }) })
    expect(await call({ "x-api-key": ana })).toMatchObject({ status: 200 })
    expect(await call({ "X-API-Key": rex })).toMatchObject({ status: 401, body: { code: "UNAUTHENTICATED", detail: expect.stringMatching(/has been revoked/) } })
    expect(await call({ authorization: `Bearer ${rex}` })).toMatchObject({ status: 401, body: { detail: expect.stringMatching(/has been revoked/) } })
    expect(await call({})).toMatchObject({ status: 401, body: { detail: expect.stringMatching(/^no token: send Authorization: Bearer TOKEN or X-API-Key: TOKEN/) } })
    expect(await call({ "X-API-Key": "gantry_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })).toMatchObject({ status: 401, body: { detail: "unknown bearer token" } })
  })

  it("submit options that claimed an identity are refused with a reason", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    for (const flag of ["--level", "--team"]) {
      const r = await s.cli(["submit", flag, "lead", "--", "true"])
      expect(r.code).toBe(64)
      expect(r.stderr).toMatch(new RegExp(`^gantry: submit: ${flag} is no longer accepted: a run's ${flag.slice(2)} comes from your identity`))
    }
    expect(fs.existsSync(s.db)).toBe(false)
  })
})

describe.concurrent("issue 10: project routing", () => {
  it("--queue, then the task file's queue, then $GANTRY_QUEUE, then the project's default, then default; a queue the project may not use is refused", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    for (const q of ["q", "r", "s", "t"]) await s.ok(["queue", "create", q])
    await s.ok(["project", "create", "p", "--default-queue", "q", "--queues", "q,r,t"])
    await s.ok(["project", "create", "open", "--default-queue", "s"])
    const ana = await s.token("ana", ["--projects", "p,open", ...mapped])
    const solo = await s.token("solo", mapped)
    const taskR = path.join(s.work, "task-r.json")
    fs.writeFileSync(taskR, JSON.stringify({ command: ["true"], queue: "r" }))
    const as = (token: string, env: NodeJS.ProcessEnv = {}) => ({ env: { GANTRY_URL: d.url, GANTRY_TOKEN: token, ...env } })
    const queueOf = async (token: string, flags: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => {
      const r = await s.cli(["submit", "--hold", "--format", "json", ...flags, "--", "true"], as(token, env))
      if (r.code !== 0) throw new Error(`submit ${flags.join(" ")} exited ${r.code}: ${r.stderr}`)
      return (JSON.parse(r.stdout) as { run: RunJson }).run.queue
    }
    // each level wins over every less specific one given with it
    expect(await queueOf(ana, ["--queue", "t", "--file", taskR], { GANTRY_QUEUE: "q" }), "--queue").toBe("t")
    expect(await queueOf(ana, ["--file", taskR], { GANTRY_QUEUE: "t" }), "the task file").toBe("r")
    expect(await queueOf(ana, [], { GANTRY_QUEUE: "t" }), "$GANTRY_QUEUE").toBe("t")
    expect(await queueOf(ana, []), "ana's first project's default").toBe("q")
    expect(await queueOf(ana, ["--project", "open"]), "the named project's default").toBe("s")
    expect(await queueOf(solo, []), "no project: default").toBe("default")
    // the same rule over HTTP, for a client that sends no queue
    expect((await submitAs(d, ana)).queue).toBe("q")

    const before = (await d.list()).length
    const refused = await s.cli(["submit", "--queue", "s", "--", "true"], as(ana))
    expect(refused.code).toBe(77)
    expect(refused.stderr).toMatch(/^gantry: project p may not use queue s \(it may use q, r, t\)/)
    const envRefused = await s.cli(["submit", "--", "true"], as(ana, { GANTRY_QUEUE: "s" }))
    expect(envRefused.code).toBe(77)
    const notMember = await s.cli(["submit", "--project", "p", "--", "true"], as(solo))
    expect(notMember.code).toBe(77)
    expect(notMember.stderr).toMatch(/solo is not a member of project p/)
    const noProject = await s.cli(["submit", "--project", "nope", "--", "true"], as(ana))
    expect(noProject.code).toBe(66)
    expect(noProject.stderr).toMatch(/no project nope/)
    expect((await d.list()).length, "nothing refused is stored").toBe(before)

    // a project's queues are checked when it is made
    const badDefault = await s.cli(["project", "create", "x", "--default-queue", "s", "--queues", "q"])
    expect(badDefault.code).toBe(64)
    expect(badDefault.stderr).toMatch(/the default queue s must be one of the project's queues/)
    expect((await s.cli(["project", "create", "y", "--default-queue", "nope"])).code).toBe(66)
    expect((await s.json<ReadonlyArray<{ name: string }>>(["projects"])).map((p) => p.name)).toEqual(["open", "p"])
  })
})

describe.concurrent("issue 10: idempotency keys are per user", () => {
  it("two users with one key get two runs; the same user again gets their own run back", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const [ana, bo] = await Promise.all([s.token("ana", mapped), s.token("bo", mapped)])
    const submit = (token: string) => d.api<{ run: RunJson; duplicate: boolean }>("POST", "/api/runs", { command: ["true"], hold: true, idempotencyKey: "nightly-7" }, { token })
    const first = await submit(ana)
    const other = await submit(bo)
    const again = await submit(ana)
    expect(first).toMatchObject({ duplicate: false, run: { user: "ana" } })
    expect(other).toMatchObject({ duplicate: false, run: { user: "bo" } })
    expect(other.run.id).not.toBe(first.run.id)
    expect(again).toMatchObject({ duplicate: true, run: { id: first.run.id, user: "ana" } })
    expect((await d.list()).map((r) => r.user).sort()).toEqual(["ana", "bo"])
  })
})

describe("issue 10: concurrency", () => {
  it("500 concurrent submits from 5 users into a queue of depth 100: each accepted or 429, accepted = stored, no duplicate ids, each run its caller's", { timeout: 300_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    await s.ok(["queue", "create", "deep", "--depth", "100", "--pause"])
    const users = ["u1", "u2", "u3", "u4", "u5"]
    const tokens = await Promise.all(users.map((u) => s.token(u, ["--level", "researcher", ...mapped])))
    const answers = await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        const token = tokens[i % users.length]!
        const r = await status(d, "POST", "/api/runs", { command: ["sleep", "1000"], queue: "deep", name: `n${i}` }, token)
        return { user: users[i % users.length]!, ...r }
      })
    )
    const statuses = new Set(answers.map((a) => a.status))
    expect([...statuses].every((st) => st === 200 || st === 429), JSON.stringify([...statuses])).toBe(true)
    for (const a of answers.filter((x) => x.status === 429)) expect(a.body).toMatchObject({ code: "RESOURCE_EXHAUSTED" })
    const accepted = answers.filter((a) => a.status === 200).map((a) => ({ user: a.user, run: (a.body as { run: RunJson }).run }))
    expect(accepted).toHaveLength(100)
    const stored = (await d.list()).filter((r) => r.queue === "deep")
    expect(stored).toHaveLength(accepted.length)
    expect(new Set(stored.map((r) => r.id)).size).toBe(stored.length)
    const storedById = new Map(stored.map((r) => [r.id, r] as const))
    for (const a of accepted) {
      expect(a.run.user).toBe(a.user)
      expect(storedById.get(a.run.id)?.user).toBe(a.user)
    }
  })
})
