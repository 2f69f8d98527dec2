import { describe, expect, it } from "vitest"
import { normalizeArgv } from "../src/Cli.js"

describe("normalizeArgv", () => {
  it("writes boolean flags as --flag=true, so a run id like 1 is never read as the flag's value", () => {
    expect(normalizeArgv(["node", "gantry", "logs", "-f", "1"])).toEqual(["node", "gantry", "logs", "--follow=true", "1"])
    expect(normalizeArgv(["node", "gantry", "queue", "delete", "--drain", "0"])).toEqual(["node", "gantry", "queue", "delete", "--drain=true", "0"])
  })

  it("leaves the command after -- alone, and other options as they are", () => {
    expect(normalizeArgv(["node", "gantry", "submit", "--hold", "--gpus", "1", "--", "grep", "-f", "--all", "x"])).toEqual([
      "node",
      "gantry",
      "submit",
      "--hold=true",
      "--gpus",
      "1",
      "--",
      "grep",
      "-f",
      "--all",
      "x"
    ])
  })
})
