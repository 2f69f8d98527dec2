import { describe, expect, it } from "vitest"
import { formatDuration, parseDuration, parseFields, project } from "../src/Format.js"
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
