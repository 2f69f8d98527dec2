/**
 * docs/RUNNER.md's table of files names the paths the runner really uses (issue 9, item 15:
 * it named the exit files wrongly). Each documented pattern is instantiated for a run and an
 * attempt and compared with the executor's own path functions.
 */
import { NodeExecutor } from "@gantry/platform-node"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const manual = fs.readFileSync(path.resolve(import.meta.dirname, "../../docs/RUNNER.md"), "utf8")

/** The documented path of a row of the Data table (the first `<data dir>/...` in it), for run 7's attempt 2. */
const documented = (row: string): string => {
  const line = manual.split("\n").find((l) => l.startsWith(`| ${row} |`))
  if (line === undefined) throw new Error(`docs/RUNNER.md has no row "${row}"`)
  const pattern = /`<data dir>\/([^`]+)`/.exec(line)?.[1]
  if (pattern === undefined) throw new Error(`the row "${row}" names no <data dir>/ path`)
  return path.join("/data", pattern.replaceAll("<run id>", "7").replaceAll("<attempt>", "2"))
}

describe("docs/RUNNER.md's Data table", () => {
  it("names the exit file the executor writes and waits for", () => {
    expect(documented("a run's exit status")).toBe(NodeExecutor.exitPath("/data", "7", 2))
  })

  it("names the log files and the attempt folder the executor makes", () => {
    expect(documented("a run's output")).toBe(NodeExecutor.logPaths("/data", "7", 2).stdout)
    expect(path.dirname(documented("a run's processes"))).toBe(NodeExecutor.runDir("/data", "7", 2))
  })
})
