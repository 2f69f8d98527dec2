import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { defaultPhillyPath, loadPhillyCsv, parsePhillyCsv } from "../src/Philly.js"


const HEADER = "timestamp,duration,num_gpus,gpu_time,cluster"
const SAMPLE = [
  HEADER,
  "2017-10-09 07:01:55,66.0,1,66.0,11cb48",
  "2017-10-09 06:13:03,2951.0,1,2951.0,6214e9",
  "2017-09-29 07:58:32,860662.0,1,860662.0,6c71a0",
  "2017-10-09 06:13:03,0.4,8,3.2,6214e9",
  "2017-10-09 06:13:36,2759.25,2,5518.5,6214E9",
  ""
].join("\n")

describe("parsePhillyCsv", () => {
  it("parses the inline sample: sorted by timestamp (stable), arrivals from the earliest, ms durations", () => {
    const w = parsePhillyCsv(SAMPLE)
    expect(w.jobs.map((j) => [j.id, j.arrivalMs, j.durationMs, j.gpus, j.team])).toEqual([
      ["j000001", 0, 860_662_000, 1, "c-6c71a0"],
      // 2017-09-29 07:58:32 -> 2017-10-09 06:13:03 is 9 d 22 h 14 min 31 s = 857 671 s.
      ["j000002", 857_671_000, 2_951_000, 1, "c-6214e9"],
      ["j000003", 857_671_000, 400, 8, "c-6214e9"], // same instant: row order kept
      ["j000004", 857_704_000, 2_759_250, 2, "c-6214e9"],
      ["j000005", 860_603_000, 66_000, 1, "c-11cb48"] // 06:13:03 + 48 min 52 s
    ])
    for (const j of w.jobs) {
      expect(j.user).toBe(j.team)
      expect([j.exitCode, j.level]).toEqual([0, "researcher"])
    }
    expect(w.name).toBe("philly")
    expect(w.description).toContain("5 of 5 jobs from 2017-09-29T07:58:32.000Z")
  })

  it("keeps the earliest `limit` jobs and can use one user for all", () => {
    const w = parsePhillyCsv(SAMPLE, { limit: 2, userFromCluster: false })
    expect(w.jobs.map((j) => j.id)).toEqual(["j000001", "j000002"])
    expect(w.jobs.map((j) => j.user)).toEqual(["philly", "philly"])
    expect(w.jobs.map((j) => j.team)).toEqual(["c-6c71a0", "c-6214e9"])
    expect(w.name).toBe("philly-2")
  })

  it("rounds durations to ms with a floor of 1 ms, accepts CRLF and a BOM", () => {
    const text = `\uFEFF${HEADER}\r\n2017-10-09 07:01:55,0.0,1,0.0,ab\r\n2017-10-09 07:01:56,1.2345,1,1.2345,ab\r\n`
    expect(parsePhillyCsv(text).jobs.map((j) => j.durationMs)).toEqual([1, 1235])
  })

  it("returns an empty workload for a header alone", () => {
    expect(parsePhillyCsv(`${HEADER}\n`).jobs).toEqual([])
  })

  it.each([
    ["a wrong header", "time,duration\n", /line 1: expected header/],
    ["a missing field", `${HEADER}\n2017-10-09 07:01:55,66.0,1,66.0\n`, /line 2: expected 5 fields, got 4/],
    ["a bad timestamp", `${HEADER}\n2017-10-09T07:01:55,66.0,1,66.0,ab\n`, /line 2: timestamp/],
    ["an impossible date", `${HEADER}\n2017-02-30 07:01:55,66.0,1,66.0,ab\n`, /line 2: .*not a valid date/],
    ["a negative duration", `${HEADER}\n2017-10-09 07:01:55,-1,1,-1,ab\n`, /line 2: duration/],
    ["fractional gpus", `${HEADER}\n2017-10-09 07:01:55,1,1.5,1.5,ab\n`, /line 2: num_gpus/],
    ["an inconsistent gpu_time", `${HEADER}\n2017-10-09 07:01:55,10,2,10,ab\n`, /line 2: gpu_time/],
    ["a non-hex cluster", `${HEADER}\n2017-10-09 07:01:55,10,2,20,zz!\n`, /line 2: cluster/],
    ["a bad row after good ones", `${HEADER}\n\n2017-10-09 07:01:55,1,1,1,ab\n2017-10-09 07:01:55,x,1,1,ab\n`, /line 4: duration "x"/]
  ])("rejects %s with an Error naming the line", (_, text, message) => {
    expect(() => parsePhillyCsv(text)).toThrow(message)
  })

  it("rejects a negative limit", () => {
    expect(() => parsePhillyCsv(SAMPLE, { limit: -1 })).toThrow(RangeError)
  })

  it("resolves the default path to <root>/../shared/data/philly-jobs.csv", () => {
    expect(defaultPhillyPath("/a/main")).toBe("/a/shared/data/philly-jobs.csv")
  })

  // The real trace lives beside the repository (../shared/data, never copied in) and a clean
  // clone, like CI's, does not have it: the loader is tested on a file in its format, always;
  // the real trace is replayed by `npm run bench -- sim`, which says so when it is not there.
  it("loads a trace file: the sample's jobs, sorted, the same as parsing its text; limit takes the first N", () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-philly-"))
    const file = join(dir, "philly-jobs.csv")
    writeFileSync(file, SAMPLE)
    try {
      const w = loadPhillyCsv(file)
      expect(w.jobs).toEqual(parsePhillyCsv(SAMPLE).jobs)
      expect(w.jobs).toHaveLength(5)
      expect(w.jobs.filter((j, i) => i > 0 && j.arrivalMs < w.jobs[i - 1]!.arrivalMs)).toEqual([])
      expect(loadPhillyCsv(file, { limit: 2 }).jobs).toEqual(w.jobs.slice(0, 2))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
