import { OpenApi } from "@effect/platform"
import { Run, RunEvent } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, expectTypeOf, it } from "vitest"
import { GantryApi, IsoTime, isoTimeOf, msOfIsoTime, NewToken, RUN_TIME_FIELDS, RunDetail, RunEventJson, RunJson, SubmitResult, TokenJson, UserJson } from "../src/Api.js"

/** ISO-8601 UTC as the wire carries every time. */
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
/** 2026-11-30T00:53:20.000Z */
const T = 1_796_000_000_000

describe("the HTTP API definition", () => {
  const spec = OpenApi.fromApi(GantryApi)

  it("serves the SPEC §8 paths under /api", () => {
    const paths = Object.keys(spec.paths)
    for (const path of [
      "/api/queue",
      "/api/queue/stats",
      "/api/queue/me",
      "/api/queue/position/{job_id}",
      "/api/queue/submit",
      "/api/queue/{job_id}/cancel",
      "/api/queue/{job_id}/approve",
      "/api/queue/{job_id}/reject",
      "/api/queue/concurrency",
      "/api/queue/process",
      "/api/queue/cleanup",
      "/api/system/status",
      "/api/cloud/jobs",
      "/api/cloud/jobs/{job_id}",
      "/api/cloud/jobs/{job_id}/cancel",
      "/api/runs",
      "/api/runs/{id}",
      "/api/policy",
      "/api/policy/history",
      "/api/policy/versions/{version}",
      "/api/configs/{name}"
    ])
      expect(paths).toContain(path)
  })

  it("declares the error statuses every client maps to exit codes", () => {
    // a schema refusal is a 422 (the platform's own 400 is left out: the daemon never sends it)
    for (const path of ["/api/runs", "/api/queue/submit"])
      expect(Object.keys(spec.paths[path]!.post!.responses).sort(), path).toEqual(["200", "401", "403", "404", "409", "413", "422", "429", "500"])
  })

  it("requires a token on every operation, as a bearer token or an X-API-Key header", () => {
    expect(spec.components.securitySchemes).toHaveProperty("bearer")
    expect(spec.components.securitySchemes).toMatchObject({ apiKey: { type: "apiKey", name: "X-API-Key", in: "header" } })
    // per group (so /docs and /api/openapi.json themselves need none): on each operation
    const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
      Object.entries(item as Record<string, { readonly security?: unknown }>).map(([method, op]) => [`${method} ${path}`, op.security] as const)
    )
    expect(operations.length).toBeGreaterThan(40)
    for (const [what, security] of operations) expect(security, what).toEqual([{ bearer: [] }, { apiKey: [] }])
  })
})

describe("times on the wire: IsoTime", () => {
  it("writes epoch milliseconds as Date's ISO-8601 UTC text, and reads it back", () => {
    fc.assert(
      fc.property(fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 }), (ms) => {
        const text = Schema.encodeSync(IsoTime)(ms)
        expect(text).toBe(new Date(ms).toISOString())
        expect(Schema.decodeSync(IsoTime)(text)).toBe(ms)
      })
    )
  })

  it("takes any valid ISO-8601 time, with Z or an offset, and the same instant whatever the zone", () => {
    const decode = Schema.decodeSync(IsoTime)
    expect(decode("2026-11-30T00:53:20Z")).toBe(T)
    expect(decode("2026-11-30T00:53:20.000Z")).toBe(T)
    expect(decode("2026-11-30T01:53:20+01:00")).toBe(T)
    expect(decode("2026-11-29T19:23:20-05:30")).toBe(T)
    expect(decode("2026-11-30T00:53:20.123456789Z")).toBe(T + 123)
    expect(decode("2024-02-29T00:00:00Z")).toBe(Date.UTC(2024, 1, 29))
  })

  it("refuses epoch numbers and any text that is not an ISO-8601 time, naming the rule", () => {
    for (const bad of [String(T), "", "now", "2026-11-30", "2026-11-30 00:53:20Z", "2026-11-30T00:53:20", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-30T24:00:00Z", "2026-11-30T00:60:00Z", "2026-11-30T00:00:60Z", "2026-11-30T00:00:00+24:00", "-000000-01-01T00:00:00Z", " 2026-11-30T00:53:20Z"]) {
      const decoded = Schema.decodeUnknownEither(IsoTime)(bad)
      expect(Either.isLeft(decoded), JSON.stringify(bad)).toBe(true)
      if (Either.isLeft(decoded)) expect(decoded.left.message).toMatch(/an ISO-8601 time, e\.g\. 2026-12-03T14:10:58Z/)
    }
    expect(Either.isLeft(Schema.decodeUnknownEither(IsoTime)(T))).toBe(true)
  })

  it("writes a time beyond Date's 275,760 years (a deadline far ahead) with an expanded year, and reads it back", () => {
    expect(isoTimeOf(253_402_300_800_000)).toBe("+010000-01-01T00:00:00.000Z")
    const far = Date.now() + Number.MAX_SAFE_INTEGER
    const text = isoTimeOf(far)
    expect(text).toMatch(/^\+2\d{5}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(msOfIsoTime(text!)).toBe(Math.floor(far))
    fc.assert(
      fc.property(fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (ms) => {
        expect(msOfIsoTime(isoTimeOf(ms)!)).toBe(ms)
      })
    )
    expect(isoTimeOf(Number.NaN)).toBeUndefined()
    expect(isoTimeOf(Number.POSITIVE_INFINITY)).toBeUndefined()
  })
})

describe("the API's records carry core's types in memory and ISO times on the wire", () => {
  const run: Run = { ...aRun({ submittedAt: T, eligibleAt: T + 1000, deadlineAt: T + 60_000 }), status: "completed", startedAt: T + 2000, endedAt: T + 3000, exitCode: 0 }

  it("a run's Type is core's Run, a timeline event's core's RunEvent", () => {
    expectTypeOf<RunJson>().toEqualTypeOf<Run>()
    expectTypeOf<RunEventJson>().toEqualTypeOf<RunEvent>()
  })

  it("every time of a run and of its events is ISO text on the wire (every field of core's schemas named ...At)", () => {
    const timeFields = Object.keys(Run.fields).filter((f) => f.endsWith("At"))
    expect([...RUN_TIME_FIELDS].sort()).toEqual(timeFields.sort())
    const wire = Schema.encodeSync(RunJson)(run) as Record<string, unknown>
    for (const f of timeFields) expect(wire[f], f).toMatch(ISO_UTC)
    expect(wire.submittedAt).toBe("2026-11-30T00:53:20.000Z")
    expect(Object.keys(wire)).toEqual(Object.keys(Run.fields))
    expect(Schema.decodeUnknownSync(RunJson)(wire)).toEqual(run)
    expect(Object.keys(RunEvent.fields).filter((f) => f.endsWith("At") || f === "at")).toEqual(["at"])
    const event: RunEvent = { runId: run.id, from: null, to: "pending", reason: "submitted", at: T, attempt: 1 }
    expect(Schema.encodeSync(RunEventJson)(event)).toEqual({ ...event, at: "2026-11-30T00:53:20.000Z" })
  })

  it("a run's detail, a submission's result, users and tokens carry ISO times; none is a number", () => {
    const numbersAt = (value: unknown, path = ""): Array<string> =>
      value !== null && typeof value === "object"
        ? Object.entries(value).flatMap(([k, v]) => (/At$|^at$/.test(k) && typeof v === "number" ? [`${path}${k}`] : numbersAt(v, `${path}${k}.`)))
        : []
    const detail = Schema.encodeSync(RunDetail)({ run, timeline: [{ runId: run.id, from: null, to: "pending", reason: "submitted", at: T, attempt: 1 }], position: null })
    const accepted = Schema.encodeSync(SubmitResult)({ _tag: "Accepted", run, duplicate: false })
    const user = { id: 2, identity: { name: "ana", level: "researcher", team: null, projects: [], unixUser: null }, owner: false, createdAt: T } as unknown as UserJson
    const token: TokenJson = { id: "0123456789ab", user: run.user, label: null, createdAt: T, createdBy: "root", revokedAt: T + 5, revokedBy: "root" }
    const made = Schema.encodeSync(NewToken)({ token: "gantry_x", record: token, user })
    for (const encoded of [detail, accepted, made, Schema.encodeSync(UserJson)(user), Schema.encodeSync(TokenJson)(token)]) expect(numbersAt(encoded)).toEqual([])
    expect(made.record).toMatchObject({ createdAt: "2026-11-30T00:53:20.000Z", revokedAt: "2026-11-30T00:53:20.005Z" })
    expect(made.user.createdAt).toBe("2026-11-30T00:53:20.000Z")
  })

  it("the OpenAPI document says a time is a date-time string", () => {
    const spec = OpenApi.fromApi(GantryApi)
    expect(spec.components.schemas.IsoTime).toMatchObject({ type: "string", format: "date-time" })
    const ok = spec.paths["/api/runs/{id}"]!.get!.responses["200"]!
    expect(JSON.stringify(ok)).toMatch(/"submittedAt":\{"\$ref":"#\/components\/schemas\/IsoTime"\}/)
  })
})
