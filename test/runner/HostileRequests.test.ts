/**
 * Hostile HTTP requests against a real `gantry serve` (issue 10): 2,400 fast-check-generated
 * requests, each a route of the API with at least one defect — missing, malformed, forged,
 * revoked or too weak a token; a path id that is unicode, a traversal, huge or empty; a query
 * parameter of the wrong type; a body of the wrong type, not JSON, or over the size limit —
 * plus random garbage routes.
 *
 * The property, for every request: the answer is a 4xx with a code, a message and a `detail` (never a
 * 5xx, never a success: each request is defective; the common queue API's submit refuses a
 * caller it serves with a 200 that says `success: false`, as that API does), the daemon stays
 * up, and the database (its file and its WAL) is byte-for-byte what it was before the request.
 * The table lists every route of the API, and what a defect is comes from the route's own
 * schemas (a value its path, query or body schema takes is no defect).
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import { HttpApi } from "@effect/platform"
import { GantryApi, TemplateName } from "@gantry/api"
import { defaultPolicy } from "@gantry/core"
import { Either, Option, Schema } from "effect"
import fc from "fast-check"
import { describe, it } from "vitest"
import type { Daemon, RunJson, Sandbox } from "./Gantry.js"
import { sandbox, waitFor } from "./Gantry.js"

const isRoot = process.getuid?.() === 0
const mapped = isRoot ? ["--unix-user", "nobody"] : []

interface SqliteDatabase {
  pragma(text: string): unknown
  prepare(sql: string): { get(): unknown }
  close(): void
}
const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new (filename: string) => SqliteDatabase

/** The database's bytes, as a digest of its file and its WAL. */
const digest = (db: string): string => {
  const hash = createHash("sha256")
  for (const f of [db, `${db}-wal`]) hash.update(fs.existsSync(f) ? fs.readFileSync(f) : Buffer.alloc(0)).update("|")
  return hash.digest("hex")
}

type Auth = { readonly kind: "none" } | { readonly kind: "token"; readonly header: string }

interface Request {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer | null
  /** The body is over the size limit: the server may cut the connection after its 413. */
  readonly oversized: boolean
  /** A refusal may be a 200 that says `success: false` (Template.refusesWith200). */
  readonly refusesWith200: boolean
  readonly label: string
}

/** One request over a fresh connection, with the path exactly as given (no URL normalisation). */
const send = (d: Daemon, r: Request): Promise<{ readonly status: number; readonly text: string } | { readonly error: string }> =>
  new Promise((resolve) => {
    const url = new URL(d.url)
    const request = http.request({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers: r.headers, agent: false })
    request.on("response", (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (text += chunk.length + text.length > 65_536 ? "" : chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text }))
      response.on("error", (e) => resolve({ error: e.message }))
    })
    request.on("error", (e) => resolve({ error: e.message }))
    if (r.body !== null) request.end(r.body)
    else request.end()
  })

// ------------------------------------------------------------------ what a request is made of

const unicode = fc.oneof(fc.string({ unit: "grapheme", maxLength: 20 }), fc.string({ unit: "binary", maxLength: 20 }))
/** Path segments that name nothing, or try to climb out. */
const hostileSegment = fc.oneof(
  fc.constantFrom("..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e", "%00", "a%00b", "%ff%fe", "-1", "1e309", "99999999999999999999999", "0x10", "%20", "NaN", "null"),
  unicode.map((s) => encodeURIComponent(s)).filter((s) => s !== "")
)
const decoded = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}
/** GPU indices that are not this machine's two (fake) GPUs, or no index at all. */
const BAD_GPU = fc.constantFrom("-1", "1.5", "abc", "2", "99", "1e3", "99999999999999999999999", "%00", "..", "%2e%2e", "0x1", "", "%20")
/** User names the directory refuses: blank, padded, control characters, '/', path dots, too long. */
const BAD_USER = fc.constantFrom("%20", "%20ana", "ana%20", "%00", "a%0Ab", "a%1Bb", "..", ".", "a%2Fb", "%2e%2e%2fetc", "x".repeat(129), "%7F")
/** Template names the schema refuses (any other would be saved). */
const BAD_TEMPLATE = hostileSegment.filter((seg) => !Schema.is(TemplateName)(decoded(seg)))
const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -(2 ** 63), 1e21, 0.5, -1)
/** A JSON value of the wrong kind for whatever field it lands in. */
const wrongValue = fc.oneof(
  hugeNumber,
  unicode,
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 })
)

interface Template {
  /** The route as the API defines it: METHOD and path with a :param. */
  readonly route: string
  /** A valid value for the path's parameter. */
  readonly param?: string
  /** Path values that name nothing or are refused (default: hostile segments other than `existing`). */
  readonly badParams?: fc.Arbitrary<string>
  /** Values of the parameter that name something that exists (a defect must not hit one). */
  readonly existing?: ReadonlyArray<string>
  /** A valid body, whose fields a body defect breaks (the first is required). */
  readonly body?: Readonly<Record<string, unknown>>
  /** A query string valid for it, and a parameter to break. */
  readonly query?: { readonly valid: string; readonly key: string }
  /** Who may call it (a weaker caller is refused). */
  readonly least: "viewer" | "researcher" | "lead" | "admin"
  /**
   * It refuses a caller it may serve (a weaker one) with a 200 whose body says `success: false`:
   * the common queue API's submit, as that API's clients expect.
   */
  readonly refusesWith200?: boolean
}

interface Fixture {
  readonly heldId: string
  readonly tokens: { readonly admin: string; readonly researcher: string; readonly viewer: string; readonly revoked: string }
  readonly tokenId: string
  /** Every user's number (`user_id`), and bo's (a researcher: someone else's to the weaker callers). */
  readonly userNumbers: ReadonlyArray<string>
  readonly boNumber: string
  /** The policy in force, as `GET /api/policy` answers it. */
  readonly policy: Readonly<Record<string, unknown>>
}

/** Every route of the API with a valid example; each request breaks one thing of it. */
const templates = (f: Fixture): ReadonlyArray<Template> => [
  // the common queue API
  { route: "GET /api/queue", query: { valid: "limit=5", key: "limit" }, least: "viewer" },
  { route: "GET /api/queue/stats", least: "viewer" },
  { route: "GET /api/queue/me", least: "viewer" },
  { route: "GET /api/queue/user/:user_id", param: f.boNumber, existing: f.userNumbers, least: "lead" },
  { route: "GET /api/queue/position/:job_id", param: f.heldId, existing: [f.heldId], least: "viewer" },
  { route: "POST /api/queue/submit", body: { config_name: "t", no_wait: false, any_gpu: false, for_approval: false, target: "local" }, least: "researcher", refusesWith200: true },
  { route: "POST /api/queue/:job_id/cancel", param: f.heldId, existing: [f.heldId], least: "lead" },
  { route: "POST /api/queue/:job_id/approve", param: f.heldId, existing: [f.heldId], least: "admin" },
  { route: "POST /api/queue/:job_id/reject", param: f.heldId, existing: [f.heldId], query: { valid: "reason=no", key: "reason" }, least: "admin" },
  { route: "POST /api/queue/:job_id/priority", param: f.heldId, existing: [f.heldId], body: { priority: 5 }, least: "lead" },
  { route: "GET /api/queue/concurrency", least: "viewer" },
  { route: "POST /api/queue/concurrency", body: { max_concurrent: 2, enable_fair_share: false }, least: "admin" },
  { route: "POST /api/queue/process", least: "admin" },
  { route: "POST /api/queue/cleanup", query: { valid: "days=30", key: "days" }, least: "admin" },
  { route: "GET /api/system/status", query: { valid: "include_allocation=true", key: "include_allocation" }, least: "viewer" },
  { route: "GET /api/cloud/jobs", query: { valid: "limit=5&job_type=local", key: "limit" }, least: "viewer" },
  { route: "GET /api/cloud/jobs/:job_id", param: f.heldId, existing: [f.heldId], least: "viewer" },
  { route: "POST /api/cloud/jobs/:job_id/cancel", param: f.heldId, existing: [f.heldId], least: "lead" },
  // gantry's own
  { route: "GET /api/runs", query: { valid: "limit=5&offset=0", key: "offset" }, least: "viewer" },
  { route: "POST /api/runs", body: { command: ["true"], gpus: 0, hold: true }, least: "researcher" },
  { route: "POST /api/runs/bulk", body: { submissions: [{ command: ["true"], gpus: 0, hold: true }] }, least: "researcher" },
  { route: "POST /api/runs/cancel", body: { ids: [f.heldId] }, least: "lead" },
  { route: "GET /api/runs/changes", query: { valid: "since=0&timeoutMs=0", key: "since" }, least: "viewer" },
  { route: "GET /api/runs/:id", param: f.heldId, existing: [f.heldId], least: "viewer" },
  { route: "GET /api/runs/:id/position", param: f.heldId, existing: [f.heldId], least: "viewer" },
  { route: "POST /api/runs/:id/release", param: f.heldId, existing: [f.heldId], least: "lead" },
  { route: "POST /api/runs/:id/approve", param: f.heldId, existing: [f.heldId], least: "admin" },
  { route: "POST /api/runs/:id/reject", param: f.heldId, existing: [f.heldId], body: { reason: "no" }, least: "admin" },
  { route: "POST /api/runs/:id/priority", param: f.heldId, existing: [f.heldId], body: { priority: 5 }, least: "lead" },
  { route: "GET /api/policy", least: "viewer" },
  { route: "PUT /api/policy", body: { ...f.policy, version: Number(f.policy.version) + 1 }, least: "admin" },
  { route: "GET /api/policy/history", query: { valid: "limit=5", key: "limit" }, least: "viewer" },
  { route: "GET /api/policy/versions/:version", param: String(f.policy.version), existing: [String(f.policy.version)], least: "viewer" },
  { route: "GET /api/stats", least: "viewer" },
  { route: "GET /api/system", least: "viewer" },
  { route: "GET /api/queues", least: "viewer" },
  { route: "POST /api/queues", body: { name: "fresh", priority: 0, maxConcurrent: null, runConcurrency: null, depth: null, gpuPool: null, gpuQuota: null, paused: true }, least: "admin" },
  { route: "PATCH /api/queues/:name", param: "default", existing: ["default", "spare"], body: { priority: 1 }, least: "admin" },
  { route: "DELETE /api/queues/:name", param: "spare", existing: ["default", "spare"], least: "admin" },
  { route: "POST /api/gpus/:index/drain", param: "0", badParams: BAD_GPU, least: "admin" },
  { route: "POST /api/gpus/:index/undrain", param: "0", badParams: BAD_GPU, least: "admin" },
  { route: "GET /api/users/me", least: "viewer" },
  { route: "GET /api/users", least: "admin" },
  { route: "PUT /api/users/:name", param: "ana", badParams: BAD_USER, body: { level: "lead" }, least: "admin" },
  { route: "GET /api/tokens", least: "admin" },
  { route: "POST /api/tokens", body: { user: "zed", level: "viewer" }, least: "admin" },
  { route: "DELETE /api/tokens/:id", param: f.tokenId, existing: [f.tokenId], least: "admin" },
  { route: "GET /api/projects", least: "viewer" },
  { route: "POST /api/projects", body: { name: "np", defaultQueue: "default", queues: [] }, least: "admin" },
  { route: "PATCH /api/projects/:name", param: "p", existing: ["p"], body: { defaultQueue: "default" }, least: "admin" },
  { route: "DELETE /api/projects/:name", param: "p", existing: ["p"], least: "admin" },
  { route: "GET /api/configs", least: "viewer" },
  { route: "GET /api/configs/:name", param: "t", existing: ["t"], least: "viewer" },
  // any name the schema takes would save a template: the path's defects are names it refuses
  { route: "PUT /api/configs/:name", param: "t", badParams: BAD_TEMPLATE, body: { command: ["true"], hold: true }, least: "researcher" },
  { route: "DELETE /api/configs/:name", param: "t", existing: ["t"], least: "admin" }
]

const OVERSIZED = Buffer.alloc(5 * 1024 * 1024, 0x61)

// ------------------------------------------------------------------ what the API accepts

/** An endpoint's schemas: its path parameters, query and body. */
interface Endpoint {
  readonly pathSchema: Option.Option<unknown>
  readonly urlParamsSchema: Option.Option<unknown>
  readonly payloadSchema: Option.Option<unknown>
}

/** Every endpoint of the API, by "METHOD /path/:param". */
const ENDPOINTS: ReadonlyMap<string, Endpoint> = (() => {
  const endpoints = new Map<string, Endpoint>()
  HttpApi.reflect(GantryApi, { onGroup: () => undefined, onEndpoint: ({ endpoint }) => void endpoints.set(`${endpoint.method} ${endpoint.path}`, endpoint) })
  return endpoints
})()

const endpointOf = (t: Template): Endpoint => {
  const endpoint = ENDPOINTS.get(t.route)
  if (endpoint === undefined) throw new Error(`the API has no route ${t.route}`)
  return endpoint
}

/** What one of the endpoint's schemas (its path, query or body) makes of a value: Right(decoded) or Left. */
const decodeBy = (schema: Option.Option<unknown>, value: unknown): Either.Either<unknown, unknown> =>
  Option.match(schema, {
    onNone: () => Either.left("no schema"),
    // as the daemon decodes: a query's unknown parameters are ignored, a body's refused (its schema says so)
    onSome: (s) => Schema.decodeUnknownEither(s as Schema.Schema<unknown, unknown, never>)(value)
  })

/** A query string as the daemon reads it: a repeated key is a list. */
const queryRecord = (query: string): Record<string, string | Array<string>> => {
  const out: Record<string, string | Array<string>> = {}
  for (const [k, v] of new URLSearchParams(query)) {
    const seen = out[k]
    out[k] = seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v]
  }
  return out
}

/** The route's path with `{}` where its parameter goes. */
const pathOf = (t: Template): string => t.route.split(" ")[1]!.replace(/:[a-z_]+/, "{}")
const methodOf = (t: Template): string => t.route.split(" ")[0]!

/** A request of `t` with at least one defect. */
const defective = (t: Template, f: Fixture): fc.Arbitrary<Request> => {
  const weaker = { viewer: [], researcher: ["viewer"], lead: ["viewer", "researcher"], admin: ["viewer", "researcher"] }[t.least] as ReadonlyArray<"viewer" | "researcher">
  const badAuth: fc.Arbitrary<Auth> = fc.oneof(
    fc.constant<Auth>({ kind: "none" }),
    fc.constantFrom("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", `bearer${f.tokens.admin}`, `Bearer ${f.tokens.revoked}`, `Bearer ${f.tokens.admin}x`, `Bearer ${f.tokens.admin.slice(0, -1)}`).map((header): Auth => ({ kind: "token", header })),
    // anything a client can put in a header (visible ASCII, spaces, Latin-1)
    fc.stringMatching(/^[\x20-\x7e\xa0-\xff]{0,80}$/).map((s): Auth => ({ kind: "token", header: `Bearer gantry_${s}` })),
    fc.stringMatching(/^[\x21-\x7e]{1,200}$/).map((s): Auth => ({ kind: "token", header: s })),
    fc.stringMatching(/^gantry_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/).map((tok): Auth => ({ kind: "token", header: `Bearer ${tok}` })),
    ...(weaker.length > 0 ? [fc.constantFrom(...weaker).map((w): Auth => ({ kind: "token", header: `Bearer ${f.tokens[w]}` }))] : [])
  )
  const goodAuth: Auth = { kind: "token", header: `Bearer ${f.tokens.admin}` }
  const endpoint = endpointOf(t)
  const valid = (auth: Auth, param: string | undefined, query: string | undefined, body: Buffer | null, oversized = false, label = ""): Request => {
    const headers: Record<string, string> = {}
    if (auth.kind === "token") headers.authorization = auth.header
    if (body !== null) {
      headers["content-type"] = "application/json"
      headers["content-length"] = String(body.length)
    }
    const p = pathOf(t).replace("{}", param ?? t.param ?? "")
    return { method: methodOf(t), path: query === undefined ? p : `${p}?${query}`, headers, body, oversized, refusesWith200: t.refusesWith200 === true, label: `${t.route} ${label}` }
  }
  const json = (v: unknown) => Buffer.from(JSON.stringify(v))
  const validBody = t.body === undefined ? null : json(t.body)
  const kinds: Array<fc.Arbitrary<Request>> = [badAuth.map((auth) => valid(auth, undefined, t.query?.valid, validBody, false, "(bad auth)"))]
  if (t.param !== undefined) {
    // a segment that names something that exists, as the path's schema reads it ("07" is user 7), is no defect
    const paramName = /:([a-z_]+)/.exec(t.route)![1]!
    const asPath = (value: string) => JSON.stringify(Either.getOrElse(decodeBy(endpoint.pathSchema, { [paramName]: value }), () => ({ refused: value })))
    const existing = new Set((t.existing ?? []).map(asPath))
    const bad = t.badParams ?? hostileSegment.filter((seg) => !existing.has(asPath(decoded(seg))))
    kinds.push(bad.map((seg) => valid(goodAuth, seg, t.query?.valid, validBody, false, `(path ${seg})`)))
  }
  if (t.query !== undefined) {
    const { valid: validQuery, key } = t.query
    const withValue = (v: string) => validQuery.replace(new RegExp(`${key}=[^&]*`), `${key}=${v}`)
    kinds.push(
      fc
        .oneof(hostileSegment, fc.constantFrom("", "-5", "1.5", "9".repeat(400), "true&limit=abc", "true&days=0"))
        // a value the query's schema takes (a reason may be anything but empty) is no defect
        .filter((v) => Either.isLeft(decodeBy(endpoint.urlParamsSchema, queryRecord(withValue(v)))))
        .map((v) => valid(goodAuth, undefined, withValue(v), validBody, false, `(query ${key}=${v})`))
    )
  }
  if (t.body !== undefined) {
    const body = t.body
    const firstKey = Object.keys(body)[0]!
    // what the body's schema takes is no defect
    const accepts = (v: unknown) => Either.isRight(decodeBy(endpoint.payloadSchema, { ...body, [firstKey]: v }))
    kinds.push(
      wrongValue
        .filter((v) => !accepts(v))
        .map((v) => valid(goodAuth, undefined, t.query?.valid, json({ ...body, [firstKey]: v }), false, `(body ${firstKey}=${JSON.stringify(v)})`)),
      fc.constantFrom("{", "[1,", "null", "\"x\"", "{\"a\":1}}", "\u0000", "{\"command\":[\"true\"]".repeat(3)).map((text) => valid(goodAuth, undefined, t.query?.valid, Buffer.from(text), false, `(body ${JSON.stringify(text)})`)),
      fc.constant(valid(goodAuth, undefined, t.query?.valid, OVERSIZED, true, "(body over the limit)"))
    )
  }
  return fc.oneof(...kinds)
}

/** A route that does not exist, with anything for a method and headers. */
const garbage = (f: Fixture): fc.Arbitrary<Request> =>
  fc
    .record({
      method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
      segments: fc.array(hostileSegment, { minLength: 1, maxLength: 4 }),
      prefix: fc.constantFrom("/api/", "/", "/api/queue/", "/api/runs/x/", "/docs/../api/"),
      token: fc.boolean()
    })
    .map(({ method, segments, prefix, token }): Request => ({
      method,
      path: `${prefix}nope/${segments.join("/")}`,
      headers: token ? { authorization: `Bearer ${f.tokens.admin}` } : ({} as Record<string, string>),
      body: null,
      oversized: false,
      refusesWith200: false,
      label: "(garbage route)"
    }))

const setUp = async (s: Sandbox) => {
  const d = await s.serve()
  // nothing may start, so nothing changes the database but the requests themselves
  await s.ok(["queue", "update", "default", "--pause"])
  await s.ok(["queue", "create", "spare", "--pause"])
  await s.ok(["project", "create", "p", "--default-queue", "default"])
  const admin = await s.token("root2", ["--level", "admin", ...mapped])
  const researcher = await s.token("ana", ["--level", "researcher", ...mapped])
  const viewer = await s.token("vic", ["--level", "viewer", ...mapped])
  const revoked = await s.token("rex", ["--level", "admin", ...mapped])
  const bo = await s.token("bo", ["--level", "researcher", ...mapped])
  const tokenId = /^gantry_([0-9a-f]{12})_/.exec(revoked)![1]!
  await s.ok(["token", "revoke", tokenId])
  const held = await d.api<{ run: RunJson }>("POST", "/api/runs", { command: ["true"], hold: true }, { token: bo })
  // the saved template the common queue API's submit names (the owner's, an admin's)
  await d.api("PUT", "/api/configs/t", { command: ["true"], hold: true })
  const liveTokenId = /^gantry_([0-9a-f]{12})_/.exec(researcher)![1]!
  const users = await d.api<ReadonlyArray<{ id: number; identity: { name: string } }>>("GET", "/api/users")
  const policy = await d.api<Record<string, unknown>>("GET", "/api/policy")
  return {
    d,
    fixture: {
      heldId: held.run.id,
      tokens: { admin, researcher, viewer, revoked },
      tokenId: liveTokenId,
      userNumbers: users.map((u) => String(u.id)),
      boNumber: String(users.find((u) => u.identity.name === "bo")!.id),
      policy
    }
  }
}

describe("issue 10: hostile requests", () => {
  it("the table has every route of the API, each with a valid example", ({ expect }) => {
    const fixture: Fixture = {
      heldId: "1",
      tokens: { admin: "a", researcher: "r", viewer: "v", revoked: "x" },
      tokenId: "0123456789ab",
      userNumbers: ["1"],
      boNumber: "1",
      policy: defaultPolicy
    }
    const table = templates(fixture)
    expect(table.map((t) => t.route).sort()).toEqual([...ENDPOINTS.keys()].sort())
    // each example is one the route's schemas take: a defect is then what breaks it
    for (const t of table) {
      const endpoint = endpointOf(t)
      if (t.param !== undefined) expect(Either.isRight(decodeBy(endpoint.pathSchema, { [/:([a-z_]+)/.exec(t.route)![1]!]: t.param })), `${t.route} path`).toBe(true)
      if (t.query !== undefined) expect(Either.isRight(decodeBy(endpoint.urlParamsSchema, queryRecord(t.query.valid))), `${t.route} query`).toBe(true)
      if (t.body !== undefined) expect(decodeBy(endpoint.payloadSchema, t.body), `${t.route} body`).toMatchObject({ _tag: "Right" })
    }
  })

  it("2,400 defective requests: each refused with a 4xx and a code, the daemon up, the database byte-for-byte unchanged", { timeout: 600_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    const { d, fixture } = await setUp(s)
    // every cycle so far in the journal (an entry is written with the next commit, or on its
    // own within half a second): from here on nothing but a request could write
    await waitFor(
      "the journal to hold every cycle",
      async () => {
        const { cycles } = await d.api<{ cycles: number }>("GET", "/api/stats")
        const conn = new Sqlite(s.db)
        try {
          const row = conn.prepare("SELECT MAX(cycle) AS last FROM journal").get() as { last: number | null }
          return (row.last ?? 0) === cycles
        } finally {
          conn.close()
        }
      },
      { watch: [s.home] }
    )
    // the WAL folded into the file, so each digest reads a small database
    const conn = new Sqlite(s.db)
    conn.pragma("wal_checkpoint(TRUNCATE)")
    conn.close()
    const baseline = digest(s.db)
    const request = fc.oneof({ weight: 9, arbitrary: fc.oneof(...templates(fixture).map((t) => defective(t, fixture))) }, { weight: 1, arbitrary: garbage(fixture) })
    let sent = 0
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        sent++
        const answer = await send(d, r)
        if ("error" in answer) {
          // only a body over the limit may see its connection cut (after the 413 is sent)
          expect(r.oversized, `${r.label}: ${answer.error}`).toBe(true)
        } else if (r.refusesWith200 && answer.status === 200) {
          // the common queue API's submit refuses a caller it serves with a 200 that says so
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
          expect(JSON.parse(answer.text), r.label).toMatchObject({ success: false, job_id: null, error: expect.any(String), reason: expect.any(String) })
        } else {
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
          expect(answer.status, `${r.label} → ${answer.status} ${answer.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400)
          expect(answer.status, `${r.label} → ${answer.status} ${answer.text.slice(0, 300)}`).toBeLessThan(500)
          // every refusal names itself: a code, a message, and the common queue API's `detail`
          expect(JSON.parse(answer.text), r.label).toMatchObject({ code: expect.any(String), message: expect.any(String), detail: expect.anything() })
        }
        expect(d.running, `the daemon died at ${r.label}`).toBe(true)
        expect(digest(s.db), `the database changed at ${r.label}`).toBe(baseline)
      }),
      { numRuns: 2_400 }
    )
    expect(sent).toBeGreaterThanOrEqual(2_400)
    // the daemon still serves, and every kind of refusal was seen
    expect((await d.api<{ pending: number }>("GET", "/api/stats", undefined, { token: fixture.tokens.viewer })).pending).toBe(0)
    for (const code of [401, 403, 404, 413, 422]) expect(statuses.get(code) ?? 0, `${code} answers (${JSON.stringify([...statuses])})`).toBeGreaterThan(0)
  })
})
