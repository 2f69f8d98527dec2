import { OpenApi } from "@effect/platform"
import { describe, expect, it } from "vitest"
import { GantryApi } from "../src/Api.js"

describe("the HTTP API definition", () => {
  const spec = OpenApi.fromApi(GantryApi)

  it("serves the SPEC §8 paths under /api: the common queue API's and gantry's own", () => {
    const paths = Object.keys(spec.paths)
    for (const path of [
      "/api/queue",
      "/api/queue/stats",
      "/api/queue/me",
      "/api/queue/user/{user_id}",
      "/api/queue/position/{job_id}",
      "/api/queue/submit",
      "/api/queue/{job_id}/cancel",
      "/api/queue/{job_id}/approve",
      "/api/queue/{job_id}/reject",
      "/api/queue/{job_id}/priority",
      "/api/queue/concurrency",
      "/api/queue/process",
      "/api/queue/cleanup",
      "/api/system/status",
      "/api/cloud/jobs",
      "/api/cloud/jobs/{job_id}",
      "/api/cloud/jobs/{job_id}/cancel",
      "/api/runs",
      "/api/runs/bulk",
      "/api/runs/cancel",
      "/api/runs/changes",
      "/api/runs/{id}",
      "/api/runs/{id}/position",
      "/api/runs/{id}/reject",
      "/api/policy",
      "/api/stats",
      "/api/system",
      "/api/configs",
      "/api/configs/{name}"
    ])
      expect(paths).toContain(path)
  })

  it("declares the error statuses every client maps to exit codes", () => {
    // a schema refusal is a 422 (the platform's own 400 is left out: the daemon never sends it)
    for (const submit of [spec.paths["/api/queue/submit"]!.post!, spec.paths["/api/runs"]!.post!])
      expect(Object.keys(submit.responses).sort()).toEqual(["200", "401", "403", "404", "409", "413", "422", "429", "500"])
  })

  it("requires a token on every call, as a bearer token or an X-API-Key header (the document itself needs none)", () => {
    expect(spec.components.securitySchemes).toHaveProperty("bearer")
    expect(spec.components.securitySchemes).toMatchObject({ apiKey: { type: "apiKey", name: "X-API-Key", in: "header" } })
    // per operation, not for the whole document: /docs and /api/openapi.json open without one
    expect(spec.security).toEqual([])
    const operations = Object.values(spec.paths).flatMap((methods) => Object.values(methods as Record<string, { readonly security?: unknown }>))
    expect(operations.length).toBeGreaterThanOrEqual(50)
    for (const operation of operations) expect(operation.security).toEqual([{ bearer: [] }, { apiKey: [] }])
  })
})
