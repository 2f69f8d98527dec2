import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { fieldsTable, formatDuration, localTime, parseDuration, parseFields, project, relativeTime, runDetailText } from "../src/Format.js"
import { aRun } from "@gantry/core/testing"
import type { RunJson } from "@gantry/api"

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["2d", 172_800_000],
    ["250ms", 250],
    ["1.5s", 1500],
    ["45", 45_000],
    [" 5m ", 300_000]
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toEqual({ ms })
  })

  it.each(["", "-5s", "0", "0s", "5x", "m", "5 m", "1h-30m", "abc", "1e3s"])("%j is malformed", (text) => {
    const parsed = parseDuration(text)
    expect("error" in parsed && parsed.error).toMatch(/malformed duration/)
  })
})

describe("formatDuration", () => {
  it.each([
    [500, "500ms"],
    [5_000, "5s"],
    [65_000, "1m5s"],
    [3_600_000, "1h"],
    [5_400_000, "1h30m"],
    [3 * 86_400_000, "3d"]
  ])("%d ms prints as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})

describe("-o fields", () => {
  const run = { ...aRun(), metadata: { run_name: "bert", nested: { lr: 0.1 } } } as RunJson

  it("reads dot paths into metadata and gives null for what is missing", () => {
    expect(project([run], ["id", "status", "metadata.run_name", "metadata.nested.lr", "metadata.nope"])).toEqual([
      { id: run.id, status: run.status, "metadata.run_name": "bert", "metadata.nested.lr": 0.1, "metadata.nope": null }
    ])
  })

  it("refuses empty or malformed field lists", () => {
    expect(parseFields("id,,status")).toHaveProperty("error")
    expect(parseFields("id, status")).toEqual(["id", "status"])
    expect(parseFields("metadata..x")).toHaveProperty("error")
  })
})

describe("times people can read", () => {
  /** 2026-11-30T00:53:20Z: 06:23:20 in India (UTC+05:30, no summer time). */
  const T = 1_796_000_000_000
  let zone: string | undefined
  beforeEach(() => {
    zone = process.env.TZ
    process.env.TZ = "Asia/Kolkata"
  })
  afterEach(() => {
    if (zone === undefined) delete process.env.TZ
    else process.env.TZ = zone
  })

  it("shows a time in the local time zone, to the second, and how long ago or ahead", () => {
    expect(localTime(T)).toBe("2026-11-30 06:23:20")
    expect(localTime(T, T + 3 * 60_000 + 12_000)).toBe("2026-11-30 06:23:20 (3m ago)")
    expect(localTime(null, T)).toBe("-")
    expect(relativeTime(T, T + 400)).toBe("just now")
    expect(relativeTime(T, T + 59_000)).toBe("59s ago")
    expect(relativeTime(T + 2 * 3_600_000, T)).toBe("in 2h")
    expect(relativeTime(T, T + 47 * 3_600_000)).toBe("47h ago")
    expect(relativeTime(T, T + 3 * 86_400_000)).toBe("3d ago")
    // beyond what Date holds (a deadline thousands of centuries ahead): its ISO text, never a number
    expect(localTime(T + Number.MAX_SAFE_INTEGER)).toMatch(/^\+\d{6}-\d\d-\d\dT/)
  })

  const run = { ...aRun({ submittedAt: T, eligibleAt: T, deadlineAt: T + 3_600_000 }), status: "completed", startedAt: T + 1000, endedAt: T + 61_000, exitCode: 0 } as RunJson

  it("-o in a table shows a run's times as local times, never epoch milliseconds", () => {
    const text = fieldsTable([run], ["id", "submittedAt", "startedAt", "endedAt", "deadlineAt", "seq"], T + 120_000)
    expect(text).toContain("2026-11-30 06:23:20 (2m ago)")
    expect(text).toContain("2026-11-30 06:24:21 (59s ago)")
    expect(text).toContain("2026-11-30 07:23:20 (in 58m)")
    expect(text).not.toMatch(/\d{13}/)
  })

  it("runs show gives when the run was submitted, started and ended, its deadline and its timeline in local time", () => {
    const text = runDetailText(
      {
        run,
        timeline: [
          { runId: run.id, from: null, to: "pending", reason: "submitted", at: T, attempt: 1 },
          { runId: run.id, from: "pending", to: "running", reason: "started", at: T + 1000, attempt: 1 }
        ],
        position: null
      },
      T + 120_000
    )
    expect(text).toMatch(/^submitted 2026-11-30 06:23:20 \(2m ago\)$/m)
    expect(text).toMatch(/^started {3}2026-11-30 06:23:21 \(1m ago\) {3}ended 2026-11-30 06:24:21 \(59s ago\)$/m)
    expect(text).toMatch(/deadline 2026-11-30 07:23:20 \(in 58m\)$/m)
    expect(text).toMatch(/^2026-11-30 06:23:21 +pending +running/m)
    expect(text).not.toMatch(/\d{13}|T\d\d:\d\d/)
  })
})
