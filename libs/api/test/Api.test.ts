import { OpenApi } from "@effect/platform"
import { describe, expect, it } from "vitest"
import { GantryApi } from "../src/Api.js"

describe("the HTTP API definition", () => {
  const spec = OpenApi.fromApi(GantryApi)

  it("serves the SPEC §8 paths under /api", () => {
    const paths = Object.keys(spec.paths)
    for (const path of [
      "/api/queue",
      "/api/queue/stats",
      "/api/queue/position/{id}",
      "/api/queue/submit",
      "/api/queue/{id}/cancel",
      "/api/queue/{id}/approve",
      "/api/queue/{id}/reject",
      "/api/queue/concurrency",
      "/api/queue/process",
      "/api/queue/cleanup",
      "/api/system/status"
    ])
      expect(paths).toContain(path)
  })

  it("declares the error statuses every client maps to exit codes", () => {
    const submit = spec.paths["/api/queue/submit"]!.post!
    // a schema refusal is a 422 (the platform's own 400 is left out: the daemon never sends it)
    expect(Object.keys(submit.responses).sort()).toEqual(["200", "401", "403", "404", "409", "413", "422", "429", "500"])
  })

  it("requires a token, as a bearer token or an X-API-Key header", () => {
    expect(spec.components.securitySchemes).toHaveProperty("bearer")
    expect(spec.components.securitySchemes).toMatchObject({ apiKey: { type: "apiKey", name: "X-API-Key", in: "header" } })
    expect(spec.security).toEqual([{ bearer: [] }, { apiKey: [] }])
  })
})
