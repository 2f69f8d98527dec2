/**
 * The daemon's HTTP server: the API of @gantry/api implemented over a `Control`, with a
 * bearer token, bound to 127.0.0.1 by default, OpenAPI docs at /docs.
 */
import { HttpApiBuilder, HttpApiSwagger, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Authorization, Caller, GantryApi, Unauthorized } from "@gantry/api"
import { Effect, Layer, Redacted } from "effect"
import type { Server } from "node:http"
import type { Control } from "./Control.js"

const handlers = (control: Control) => {
  const queue = HttpApiBuilder.group(GantryApi, "queue", (h) =>
    h
      .handle("list", ({ urlParams }) => control.list(urlParams))
      .handle("stats", () => control.stats)
      .handle("me", ({ urlParams }) => Effect.flatMap(Caller, (caller) => control.list({ ...urlParams, user: caller.name })))
      .handle("position", ({ path }) => control.position(path.id))
      .handle("submit", ({ payload }) => control.submit(payload))
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
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.api(GantryApi).pipe(Layer.provide(handlers(control)), Layer.provide(authorization(options.token, options.owner)))),
    Layer.provideMerge(NodeHttpServer.layer(() => options.server, { host: options.host, port: options.port }))
  )

/** The URL clients use to reach a server built from `layer`. */
export const boundUrl = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://${server.address.hostname}:${server.address.port}` : `unix:${server.address.path}`
)

