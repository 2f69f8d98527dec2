/**
 * gantry's workload format (CSV with a header, or JSONL): every column read, rows sorted by
 * submission, ISO times made relative to the earliest, and each bad row refused naming its
 * line and column.
 */
import { describe, expect, it } from "vitest"
import { parseGantryWorkload, WorkloadInputError } from "../src/GantryCsv.js"

describe("gantry's workload format", () => {
  it("reads CSV columns in any order, sorts by submission, and numbers the jobs", () => {
    const csv = ["duration,gpus,user,submit,team,queue,time_limit,exit_code,level,project", "60,2,ana,30,vision,gpu,120,0,lead,imagenet", "5,0,bo,0.5,,,,3,,", ""].join("\n")
    const w = parseGantryWorkload(csv, { file: "w.csv" })
    expect(w.name).toBe("w.csv")
    expect(w.jobs).toEqual([
      { id: "j000001", arrivalMs: 500, durationMs: 5_000, exitCode: 3, user: "bo", level: "researcher", gpus: 0 },
      { id: "j000002", arrivalMs: 30_000, durationMs: 60_000, exitCode: 0, user: "ana", team: "vision", project: "imagenet", queue: "gpu", level: "lead", gpus: 2, timeLimitMs: 120_000 }
    ])
  })

  it("reads JSONL, with ISO submission times relative to the earliest", () => {
    const jsonl = [
      JSON.stringify({ user: "ana", gpus: 1, submit: "2026-12-01T10:00:30Z", duration: 10 }),
      JSON.stringify({ user: "bo", gpus: 1, submit: "2026-12-01T10:00:00Z", duration: 20, time_limit: null })
    ].join("\n")
    const w = parseGantryWorkload(jsonl, { file: "w.jsonl", jsonl: true })
    expect(w.jobs.map((j) => [j.id, j.user, j.arrivalMs, j.durationMs])).toEqual([
      ["j000001", "bo", 0, 20_000],
      ["j000002", "ana", 30_000, 10_000]
    ])
  })

  it.each([
    ["an unknown column", "user,gpus,submit,duration,colour\nana,1,0,1,red", "w.csv:1: unknown column \"colour\""],
    ["a missing column", "user,submit,duration\nana,0,1", "w.csv:1: missing column gpus"],
    ["a negative duration", "user,gpus,submit,duration\nana,1,0,1\nbo,1,0,-5", "w.csv:3: duration: want seconds"],
    ["a zero duration", "user,gpus,submit,duration\nana,1,0,0", "w.csv:2: duration: must be more than 0 seconds"],
    ["a fractional GPU count", "user,gpus,submit,duration\nana,1.5,0,1", "w.csv:2: gpus: want a whole number"],
    ["a row of another width", "user,gpus,submit,duration\nana,1,0", "w.csv:2: 3 fields, the header has 4"],
    ["an unknown level", "user,gpus,submit,duration,level\nana,1,0,1,boss", "w.csv:2: level: one of admin, lead, researcher, viewer"],
    ["an empty file", "user,gpus,submit,duration\n", "w.csv:1: no jobs"],
    ["seconds and ISO times mixed", "user,gpus,submit,duration\nana,1,2026-12-01T10:00:00Z,1\nbo,1,5,1", "w.csv:3: submit: seconds and ISO times mixed"]
  ])("refuses %s, naming the line", (_, csv, message) => {
    expect(() => parseGantryWorkload(csv, { file: "w.csv" })).toThrow(WorkloadInputError)
    expect(() => parseGantryWorkload(csv, { file: "w.csv" })).toThrow(message)
  })

  it("refuses a JSONL line that is not an object or has an unknown key", () => {
    expect(() => parseGantryWorkload('{"user":"a","gpus":1,"submit":0,"duration":1}\n[1]', { file: "w.jsonl", jsonl: true })).toThrow("w.jsonl:2: not a JSON object")
    expect(() => parseGantryWorkload('{"user":"a","gpus":1,"submit":0,"duration":1,"gpu":2}', { file: "w.jsonl", jsonl: true })).toThrow('w.jsonl:1: unknown key "gpu"')
  })
})
