/**
 * The daemon's HTTP server: the API of @gantry/api implemented over a `Control`, with a
 * bearer token, bound to 127.0.0.1 by default, OpenAPI docs at /docs. A request body over
 * `SubmissionLimits.requestBytes` is refused (413) before it is read whole.
 */
import { type HttpApp, HttpApiBuilder, HttpApiSwagger, HttpServer, HttpServerError, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Authorization, Caller, GantryApi, Unauthorized } from "@gantry/api"
import { sizeText, SubmissionLimits } from "@gantry/core"
import { Effect, Layer, Redacted } from "effect"
import type { Server } from "node:http"
import { badRequest, type Control, decodeSubmission } from "./Control.js"

/**
 * The submission as sent, judged before the Schema decodes it, so a submission over a limit
 * is told 413 (not a 400 "malformed"), and every refusal carries a code and an exit code.
 */
const submitRaw = (control: Control, request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const text = yield* Effect.mapError(request.text, () => badRequest("the request body could not be read"))
    let body: unknown
    try {
      body = text === "" ? null : (JSON.parse(text) as unknown)
    } catch {
      return yield* Effect.fail(badRequest("the request body is not valid JSON"))
    }
    return yield* control.submit(yield* decodeSubmission(body))
  })

const tooLargeBody = (message: string) =>
  HttpServerResponse.unsafeJson({ _tag: "TooLarge", code: "PAYLOAD_TOO_LARGE", error: "TooLarge", message, exit: 65 }, { status: 413 })

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
    if (read._tag === "Failed") return HttpServerResponse.empty({ status: 400 })
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

const handlers = (control: Control) => {
  const queue = HttpApiBuilder.group(GantryApi, "queue", (h) =>
    h
      .handle("list", ({ urlParams }) => control.list(urlParams))
      .handle("stats", () => control.stats)
      .handle("me", ({ urlParams }) => Effect.flatMap(Caller, (caller) => control.list({ ...urlParams, user: caller.name })))
      .handle("position", ({ path }) => control.position(path.id))
      .handleRaw("submit", ({ request }) => submitRaw(control, request))
      .handle("cancelMany", ({ payload }) => Effect.map(control.cancel(payload.ids, payload.all === true), (cancelled) => ({ cancelled })))
      .handle("cancel", ({ path }) => Effect.map(control.cancel([path.id], false), (cancelled) => ({ cancelled })))
      .handle("release", ({ path }) => control.release(path.id))
      .handle("approve", ({ path }) => control.approve(path.id))
      .handle("reject", ({ path, urlParams }) => control.reject(path.id, urlParams.reason))
      .handle("priority", ({ path, payload }) => control.priority(path.id, payload.priority))
      .handle("limits", () => control.limits)
      .handle("setLimits", ({ payload }) => control.setLimits(payload))
      .handle("process", () => Effect.as(control.trigger, { ok: true }))
      .handle("cleanup", ({ urlParams }) => Effect.map(control.cleanup(urlParams.days), (removed) => ({ removed })))
  )
  const runs = HttpApiBuilder.group(GantryApi, "runs", (h) =>
    h
      .handle("show", ({ path }) => control.show(path.id))
      .handle("changes", ({ urlParams }) => Effect.map(control.changes(urlParams.since, urlParams.timeoutMs ?? 25_000), (version) => ({ version })))
  )
  const queues = HttpApiBuilder.group(GantryApi, "queues", (h) =>
    h
      .handle("list", () => control.queues)
      .handle("create", ({ payload }) => control.createQueue(payload))
      .handle("update", ({ path, payload }) => control.updateQueue(path.name, payload))
      .handle("delete", ({ path, urlParams }) => Effect.as(control.deleteQueue(path.name, urlParams.drain === true), { ok: true }))
  )
  const system = HttpApiBuilder.group(GantryApi, "system", (h) =>
    h
      .handle("status", () => control.status)
      .handle("drain", ({ path }) => Effect.as(control.drain(path.index, true), { ok: true }))
      .handle("undrain", ({ path }) => Effect.as(control.drain(path.index, false), { ok: true }))
  )
  return Layer.mergeAll(queue, runs, queues, system)
}

/**
 * One token, the daemon's, kept in the lease row (readable only by whoever can read the
 * database): its holder is the daemon's owner, an admin.
 */
const authorization = (token: string, owner: string) =>
  Layer.succeed(Authorization, {
    bearer: (given) =>
      Redacted.value(given) === token
        ? Effect.succeed({ name: owner, level: "admin" as const })
        : Effect.fail(new Unauthorized({ code: "UNAUTHENTICATED", error: "Unauthorized", message: "missing or wrong bearer token", exit: 77 }))
  })

export interface ServerOptions {
  /** The Node server to serve on (the daemon keeps it to cut connections at shutdown). */
  readonly server: Server
  readonly host: string
  readonly port: number
  readonly token: string
  /** The user the token stands for (the daemon's OS user). */
  readonly owner: string
}

/** Serves the API; the layer's HttpServer tells the bound address (port 0 picks a free one). */
export const layer = (control: Control, options: ServerOptions) =>
  HttpApiBuilder.serve(bodyLimit).pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.api(GantryApi).pipe(Layer.provide(handlers(control)), Layer.provide(authorization(options.token, options.owner)))),
    Layer.provideMerge(NodeHttpServer.layer(() => options.server, { host: options.host, port: options.port }))
  )

/** The URL clients use to reach a server built from `layer`. */
export const boundUrl = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://${server.address.hostname}:${server.address.port}` : `unix:${server.address.path}`
)

