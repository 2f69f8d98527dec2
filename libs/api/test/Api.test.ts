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
    expect(Object.keys(submit.responses).sort()).toEqual(["200", "400", "401", "403", "404", "409", "413", "429", "500"])
  })

  it("requires the bearer token", () => {
    expect(spec.components.securitySchemes).toHaveProperty("bearer")
    expect(spec.security).toEqual([{ bearer: [] }])
  })
})
