/**
 * The daemon's HTTP server: the API of @gantry/api implemented over the runner's `Controls`
 * (the common queue API's routes in CommonApi.ts), bound to 127.0.0.1 by default; its OpenAPI
 * document at /api/openapi.json and browsable at /docs, both without a token. Every request carries a bearer token:
 * a user's (the directory's) or the daemon's session token (the owner's); its identity is the
 * `Caller`, and the Control made for that caller decides what it may do (Control.ts `Access`).
 * A request body over `SubmissionLimits.requestBytes` is refused (413) before it is read whole.
 */
import { type HttpApp, HttpApiBuilder, HttpApiSwagger, HttpServer, HttpServerError, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Authorization, Caller, GantryApi, Unauthorized } from "@gantry/api"
import { sizeText, SubmissionLimits } from "@gantry/core"
import { Cause, Effect, Layer, Redacted } from "effect"
import { timingSafeEqual } from "node:crypto"
import type { Server } from "node:http"
import type { Control, Controls } from "./Control.js"
import * as CommonApi from "./CommonApi.js"
import type { CommonSource } from "./CommonApi.js"
import type { Directory } from "./Directory.js"
import { decodeSubmission, decodeTemplate, invalidArgument } from "./Judge.js"

/**
 * The submission as sent, judged before the Schema decodes it, so a submission over a limit
 * is told 413 (not a 422 "malformed"), and every refusal carries a code and an exit code.
 */
const jsonBody = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const text = yield* Effect.mapError(request.text, () => invalidArgument("the request body could not be read"))
    try {
      return text === "" ? null : (JSON.parse(text) as unknown)
    } catch {
      return yield* Effect.fail(invalidArgument("the request body is not valid JSON"))
    }
  })
const submitRaw = (control: Control, request: HttpServerRequest.HttpServerRequest) =>
  Effect.flatMap(Effect.flatMap(jsonBody(request), decodeSubmission), control.submit)
/** A template as sent, judged like a submission (413 over a limit, 422 naming the field). */
const saveTemplateRaw = (control: Control, name: string, request: HttpServerRequest.HttpServerRequest) =>
  Effect.flatMap(Effect.flatMap(jsonBody(request), decodeTemplate), (submission) => control.saveTemplate(name, submission))

const tooLargeBody = (message: string) => errorJson(413, "TooLarge", "PAYLOAD_TOO_LARGE", "TooLarge", message, 65)

/** How long a refused streamed body may go on being sent (and thrown away) after the 413. */
const LINGER_MS = 5_000

/**
 * A streamed (chunked) body, read as it arrives up to `limit` bytes. Past the limit the rest is
 * read and thrown away, not kept, so the client can finish sending and read the 413 (closing a
 * socket with unread data resets it, and the client may lose the answer), for at most
 * `LINGER_MS` after the answer.
 */
const readStreamed = (request: HttpServerRequest.HttpServerRequest, limit: number) =>
  Effect.async<{ readonly _tag: "Body"; readonly body: Buffer } | { readonly _tag: "TooLarge" } | { readonly _tag: "Failed" }>((resume) => {
    const source = NodeHttpServerRequest.toIncomingMessage(request)
    const chunks: Array<Buffer> = []
    let bytes = 0
    let over = false
    source.on("data", (chunk: Buffer) => {
      if (over) return
      bytes += chunk.length
      if (bytes <= limit) return void chunks.push(chunk)
      over = true
      chunks.length = 0
      NodeHttpServerRequest.toServerResponse(request).once("finish", () => {
        const timer = setTimeout(() => source.destroy(), LINGER_MS)
        timer.unref()
        source.once("end", () => clearTimeout(timer))
      })
      resume(Effect.succeed({ _tag: "TooLarge" }))
    })
    source.once("end", () => {
      if (!over) resume(Effect.succeed({ _tag: "Body", body: Buffer.concat(chunks) }))
    })
    source.once("error", () => {
      if (!over) resume(Effect.succeed({ _tag: "Failed" }))
    })
  })

/**
 * Refuses a body over `SubmissionLimits.requestBytes` with 413 before it is read whole: from
 * its Content-Length, unread (Node throws the rest away as it arrives), or, for a streamed
 * body, by counting its bytes as they arrive. A streamed body within the limit is handed on
 * as a request with that body and its length.
 */
const bodyLimit = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const limit = SubmissionLimits.requestBytes
    const declared = request.headers["content-length"]
    if (declared !== undefined) {
      if (Number(declared) > limit) return tooLargeBody(`the request body is ${declared} bytes; the limit is ${sizeText(limit)}`)
      return yield* app
    }
    if (request.headers["transfer-encoding"] === undefined) return yield* app
    const read = yield* readStreamed(request, limit)
    if (read._tag === "TooLarge") return tooLargeBody(`the request body is over the limit of ${sizeText(limit)}`)
    if (read._tag === "Failed") return errorJson(422, "Invalid", "INVALID_ARGUMENT", "InvalidArgument", "the request body could not be read", 64)
    // the same request (its Node response, URL, headers) whose body is the one read here
    const text = read.body.toString("utf8")
    const whole: HttpServerRequest.HttpServerRequest = Object.create(request, {
      text: { value: Effect.succeed(text) },
      json: {
        value: Effect.try({ try: (): unknown => (text === "" ? null : JSON.parse(text)), catch: (cause) => new HttpServerError.RequestError({ request, reason: "Decode", cause }) })
      },
      arrayBuffer: { value: Effect.sync(() => read.body.buffer.slice(read.body.byteOffset, read.body.byteOffset + read.body.byteLength)) }
    }) as HttpServerRequest.HttpServerRequest
    return yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, whole)
  })

/** An error body as the API's error classes encode it: `detail` is the message unless given (a validation error's issues). */
const errorJson = (status: number, tag: string, code: string, error: string, message: string, exit: number, detail: unknown = message) =>
  HttpServerResponse.unsafeJson({ _tag: tag, code, error, message, exit, detail }, { status })

/**
 * Where a refused field was: a query parameter of that name in the URL, else the body when one
 * was sent, else the path.
 */
const locationOf = (request: HttpServerRequest.HttpServerRequest, field: unknown): string => {
  const query = new URLSearchParams(request.url.split("?")[1] ?? "")
  if (typeof field === "string" && query.has(field)) return "query"
  const length = Number(request.headers["content-length"] ?? 0)
  return length > 0 || request.headers["transfer-encoding"] !== undefined ? "body" : "path"
}

/**
 * Every refusal a body with a code (what the handlers fail with has one already): a route that
 * does not exist is a JSON 404 `NOT_FOUND`, and a request the API's schemas refuse (path,
 * query or body: @effect/platform's HttpApiDecodeError) a 422 `INVALID_ARGUMENT` naming the
 * field, its `detail` the list of problems as FastAPI gives them (`[{loc, msg, type}]`). An API-level middleware: it sees the router's failures
 * before they are encoded (a serve middleware would see them after they were sent).
 */
const errorBodies = HttpApiBuilder.middleware((app) =>
  Effect.catchAllCause(app, (cause) =>
    Effect.gen(function* () {
      // a failure, or a defect (the platform dies with a RequestError when a body is not JSON)
      const squashed: unknown = Cause.squash(cause)
      const error = typeof squashed === "object" && squashed !== null ? (squashed as { readonly _tag?: unknown; readonly message?: unknown; readonly issues?: unknown }) : undefined
      if (error?._tag === "RouteNotFound") {
        const request = yield* HttpServerRequest.HttpServerRequest
        return errorJson(404, "NotFound", "NOT_FOUND", "RouteNotFound", `no route ${request.method} ${request.url.split("?")[0] ?? ""}`, 66)
      }
      if (error?._tag === "RequestError") {
        // a body that is not JSON (or could not be read), for a route that decodes one
        return errorJson(422, "Invalid", "INVALID_ARGUMENT", "InvalidArgument", "the request body is not valid JSON", 64, [
          { loc: ["body"], msg: "the request body is not valid JSON", type: "json_invalid" }
        ])
      }
      if (error?._tag === "HttpApiDecodeError") {
        const request = yield* HttpServerRequest.HttpServerRequest
        const issues = Array.isArray(error.issues) ? (error.issues as ReadonlyArray<{ readonly _tag?: unknown; readonly path?: ReadonlyArray<unknown>; readonly message?: unknown }>) : []
        const message =
          issues.length > 0
            ? issues
                .slice(0, 5)
                .map((i) => `${(i.path ?? []).map((p) => `[${JSON.stringify(p)}]`).join("")} ${String(i.message ?? "")}`.trim())
                .join("; ")
            : "the request is malformed"
        // FastAPI's shape, which the common queue API's clients read: where, what, which kind
        const detail = issues.map((i) => ({
          loc: [locationOf(request, i.path?.[0]), ...(i.path ?? []).map((p) => (typeof p === "number" ? p : String(p)))],
          msg: String(i.message ?? ""),
          type: i._tag === "Missing" ? "missing" : i._tag === "Unexpected" ? "extra_forbidden" : "value_error"
        }))
        return errorJson(422, "Invalid", "INVALID_ARGUMENT", "HttpApiDecodeError", message.slice(0, 1000), 64, detail)
      }
      return yield* Effect.failCause(cause)
    })
  )
)

const handlers = (controls: Controls, source: CommonSource) => {
  /** The Control of this request's caller. */
  const as = <A, E, R>(use: (control: Control) => Effect.Effect<A, E, R>) => Effect.flatMap(Caller, (caller) => use(controls.forCaller(caller)))
  const runs = HttpApiBuilder.group(GantryApi, "runs", (h) =>
    h
      .handle("list", ({ urlParams }) => as((c) => c.list(urlParams)))
      .handleRaw("submit", ({ request }) => as((c) => submitRaw(c, request)))
      .handle("bulk", ({ payload }) => as((c) => Effect.map(c.submitMany(payload.submissions), (runs) => ({ runs }))))
      .handle("cancel", ({ payload }) => as((c) => Effect.map(c.cancel(payload.ids, payload.all === true), (cancelled) => ({ cancelled }))))
      .handle("changes", ({ urlParams }) => as((c) => Effect.map(c.changes(urlParams.since, urlParams.timeoutMs ?? 25_000), (version) => ({ version }))))
      .handle("show", ({ path }) => as((c) => c.show(path.id)))
      .handle("position", ({ path }) => as((c) => c.position(path.id)))
      .handle("release", ({ path }) => as((c) => c.release(path.id)))
      .handle("approve", ({ path }) => as((c) => c.approve(path.id)))
      .handle("reject", ({ path, payload }) => as((c) => c.reject(path.id, payload.reason)))
      .handle("priority", ({ path, payload }) => as((c) => c.priority(path.id, payload.priority)))
  )
  const policy = HttpApiBuilder.group(GantryApi, "policy", (h) =>
    h
      .handle("show", () => as((c) => c.limits))
      .handle("set", ({ payload, urlParams }) => as((c) => c.setLimits(payload, urlParams)))
      .handle("history", ({ urlParams }) => as((c) => c.policyHistory(urlParams.limit)))
      .handle("version", ({ path }) => as((c) => c.policyVersion(path.version)))
  )
  const queues = HttpApiBuilder.group(GantryApi, "queues", (h) =>
    h
      .handle("list", () => as((c) => c.queues))
      .handle("create", ({ payload }) => as((c) => c.createQueue(payload)))
      .handle("update", ({ path, payload }) => as((c) => c.updateQueue(path.name, payload)))
      .handle("delete", ({ path, urlParams }) => as((c) => Effect.as(c.deleteQueue(path.name, urlParams.drain === true), { ok: true })))
  )
  const system = HttpApiBuilder.group(GantryApi, "system", (h) =>
    h
      .handle("status", () => as((c) => c.status))
      .handle("stats", () => as((c) => c.stats))
      .handle("drain", ({ path }) => as((c) => Effect.as(c.drain(path.index, true), { ok: true })))
      .handle("undrain", ({ path }) => as((c) => Effect.as(c.drain(path.index, false), { ok: true })))
  )
  const users = HttpApiBuilder.group(GantryApi, "users", (h) =>
    h
      .handle("me", () => as((c) => c.me))
      .handle("list", () => as((c) => c.users))
      .handle("set", ({ path, payload }) => as((c) => c.setUser(path.name, payload)))
      .handle("tokens", () => as((c) => c.tokens))
      .handle("createToken", ({ payload }) => as((c) => c.createToken(payload)))
      .handle("revokeToken", ({ path }) => as((c) => c.revokeToken(path.id)))
  )
  const projects = HttpApiBuilder.group(GantryApi, "projects", (h) =>
    h
      .handle("list", () => as((c) => c.projects))
      .handle("create", ({ payload }) => as((c) => c.createProject(payload)))
      .handle("update", ({ path, payload }) => as((c) => c.updateProject(path.name, payload)))
      .handle("delete", ({ path }) => as((c) => Effect.as(c.deleteProject(path.name), { ok: true })))
  )
  const configs = HttpApiBuilder.group(GantryApi, "configs", (h) =>
    h
      .handle("list", () => as((c) => c.templates))
      .handle("show", ({ path }) => as((c) => c.template(path.name)))
      .handleRaw("save", ({ path, request }) => as((c) => saveTemplateRaw(c, path.name, request)))
      .handle("delete", ({ path }) => as((c) => Effect.as(c.deleteTemplate(path.name), { ok: true })))
  )
  return Layer.mergeAll(runs, policy, queues, system, users, projects, configs, CommonApi.layer(controls, source))
}

const unauthorized = (message: string) => new Unauthorized({ code: "UNAUTHENTICATED", error: "Unauthorized", message, exit: 77 })

/**
 * A token's identity, from `Authorization: Bearer TOKEN` or `X-API-Key: TOKEN`: the daemon's
 * session token is the owner (an admin); any other is looked up (hashed) in the directory. No
 * token, an unknown one or a revoked one: 401.
 */
const authorization = (sessionToken: string, directory: Directory) => {
  const authenticate = (token: string) => {
    if (token === "") return Effect.fail(unauthorized("no token: send Authorization: Bearer TOKEN or X-API-Key: TOKEN (gantry login URL stores one for the CLI)"))
    if (token.length === sessionToken.length && timingSafeEqual(Buffer.from(token), Buffer.from(sessionToken))) return Effect.succeed(directory.owner)
    const found = directory.authenticate(token)
    switch (found._tag) {
      case "Known":
        return Effect.succeed(found.identity)
      case "Revoked":
        return Effect.fail(unauthorized(`token ${found.id} has been revoked`))
      case "Unknown":
        return Effect.fail(unauthorized("unknown bearer token"))
    }
  }
  /** The bearer token of the request (the middleware tries it first; X-API-Key is tried when it fails). */
  const bearerOf = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const header = request.headers.authorization ?? ""
    return /^bearer /i.test(header) ? header.slice(7).trim() : ""
  })
  return Layer.succeed(Authorization, {
    bearer: (given) => Effect.suspend(() => authenticate(Redacted.value(given).trim())),
    // tried after a bearer token failed: with no key, the bearer token's own refusal is the answer
    apiKey: (given) => Effect.flatMap(bearerOf, (bearer) => authenticate(Redacted.value(given).trim() !== "" ? Redacted.value(given).trim() : bearer))
  })
}

export interface ServerOptions {
  /** The Node server to serve on (the daemon keeps it to cut connections at shutdown). */
  readonly server: Server
  readonly host: string
  readonly port: number
  /** The daemon's session token (published in the lease row): the owner's. */
  readonly token: string
  readonly directory: Directory
  /** What the common queue API's answers are read from (CommonApi.ts). */
  readonly common: Omit<CommonSource, "directory">
}

/** Serves the API; the layer's HttpServer tells the bound address (port 0 picks a free one). */
export const layer = (controls: Controls, options: ServerOptions) =>
  HttpApiBuilder.serve(bodyLimit).pipe(
    Layer.provide(errorBodies),
    // the API's description needs no token (every call it describes does)
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/api/openapi.json" })),
    Layer.provide(HttpApiBuilder.api(GantryApi).pipe(Layer.provide(handlers(controls, { ...options.common, directory: options.directory })), Layer.provide(authorization(options.token, options.directory)))),
    Layer.provideMerge(NodeHttpServer.layer(() => options.server, { host: options.host, port: options.port }))
  )

/** The URL clients use to reach a server built from `layer`. */
export const boundUrl = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://${server.address.hostname}:${server.address.port}` : `unix:${server.address.path}`
)

