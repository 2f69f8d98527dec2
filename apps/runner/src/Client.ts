/**
 * `Control` over HTTP: the CLI's client for a serving daemon, derived from the API
 * definition (HttpApiClient), so client and server cannot drift apart. Transport and decode
 * failures become the API's tagged errors with their exit codes.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { type ApiError, Invalid, GantryApi, Internal } from "@gantry/api"
import type { ProjectName, RunId, UserName } from "@gantry/core"
import { Effect } from "effect"
import type { Control } from "./Control.js"

/** Maps what is not an API error (connection refused, a decode failure) to one, keeping API errors. */
const settle = <A, E>(effect: Effect.Effect<A, E>, url: string): Effect.Effect<A, ApiError> =>
  Effect.mapError(effect, (error): ApiError => {
    const tagged = error as { readonly _tag?: string; readonly message?: string }
    switch (tagged._tag) {
      case "Invalid":
      case "Unauthorized":
      case "Forbidden":
      case "NotFound":
      case "Conflict":
      case "TooLarge":
      case "Exhausted":
      case "Internal":
        return error as ApiError
      case "HttpApiDecodeError":
      case "ParseError":
        return new Invalid({ code: "INVALID_ARGUMENT", error: tagged._tag, message: tagged.message ?? "invalid request", exit: 64 })
      default:
        return new Internal({ code: "UNAVAILABLE", error: tagged._tag ?? "Unknown", message: `cannot reach the runner at ${url}: ${tagged.message ?? String(error)}`, exit: 69 })
    }
  })

export const httpControl = (url: string, token: string): Effect.Effect<Control> =>
  Effect.gen(function* () {
    const client = yield* HttpApiClient.make(GantryApi, {
      baseUrl: url,
      transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
    })
    const s = <A, E>(effect: Effect.Effect<A, E>) => settle(effect, url)
    const control: Control = {
      mode: "daemon",
      submit: (payload) => s(client.runs.submit({ payload })),
      submitMany: (submissions) => s(Effect.map(client.runs.bulk({ payload: { submissions } }), (r) => r.runs)),
      list: (urlParams) => s(client.runs.list({ urlParams })),
      show: (id) => s(client.runs.show({ path: { id } })),
      position: (id) => s(client.runs.position({ path: { id } })),
      cancel: (ids, all) => s(Effect.map(client.runs.cancel({ payload: { ids, all } }), (r) => r.cancelled)),
      release: (id) => s(client.runs.release({ path: { id } })),
      approve: (id) => s(client.runs.approve({ path: { id } })),
      reject: (id, reason) => s(client.runs.reject({ path: { id }, payload: { reason } })),
      priority: (id, priority) => s(client.runs.priority({ path: { id }, payload: { priority } })),
      limits: s(client.policy.show()),
      setLimits: (payload, how = {}) =>
        s(
          client.policy.set({
            payload,
            // the common API's concurrency route is the daemon's own: over PUT it is a plain put
            urlParams: { ...(how.source !== undefined && how.source !== "concurrency" ? { source: how.source } : {}), ...(how.note !== undefined ? { note: how.note } : {}) }
          })
        ),
      policyHistory: (limit) => s(client.policy.history({ urlParams: limit === undefined ? {} : { limit } })),
      policyVersion: (version) => s(client.policy.version({ path: { version } })),
      // the common queue API's process and cleanup say what gantry's CLI prints
      process: s(Effect.map(client.commonQueue.process(), (r) => r.job_ids.map((id) => id as RunId))),
      cleanup: (days) => s(Effect.map(client.commonQueue.cleanup({ urlParams: { days } }), (r) => r.deleted)),
      stats: s(client.system.stats()),
      queues: s(client.queues.list()),
      createQueue: (payload) => s(client.queues.create({ payload })),
      updateQueue: (name, payload) => s(client.queues.update({ path: { name }, payload })),
      deleteQueue: (name, drain) => s(Effect.asVoid(client.queues.delete({ path: { name }, urlParams: { drain } }))),
      status: s(client.system.status()),
      drain: (index, drained) => s(Effect.asVoid(drained ? client.system.drain({ path: { index } }) : client.system.undrain({ path: { index } }))),
      changes: (since, timeoutMs) => s(Effect.map(client.runs.changes({ urlParams: { since, timeoutMs } }), (r) => r.version)),
      me: s(client.users.me()),
      users: s(client.users.list()),
      setUser: (name, payload) => s(client.users.set({ path: { name: name as UserName }, payload })),
      tokens: s(client.users.tokens()),
      createToken: (payload) => s(client.users.createToken({ payload })),
      revokeToken: (id) => s(client.users.revokeToken({ path: { id } })),
      projects: s(client.projects.list()),
      createProject: (payload) => s(client.projects.create({ payload })),
      updateProject: (name, payload) => s(client.projects.update({ path: { name: name as ProjectName }, payload })),
      deleteProject: (name) => s(Effect.asVoid(client.projects.delete({ path: { name: name as ProjectName } }))),
      templates: s(client.configs.list()),
      template: (name) => s(client.configs.show({ path: { name } })),
      saveTemplate: (name, payload) => s(client.configs.save({ path: { name }, payload })),
      deleteTemplate: (name) => s(Effect.asVoid(client.configs.delete({ path: { name } })))
    }
    return control
  }).pipe(Effect.provide(FetchHttpClient.layer))
