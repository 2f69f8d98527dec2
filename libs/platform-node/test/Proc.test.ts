import { spawn, spawnSync } from "node:child_process"
import { copyFileSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { currentBootId, groupMembers, isProcessAlive, processStartTime, processUid, sessionMembers } from "../src/Proc.js"
import { cleanupAll, eventually, tempDir, within } from "./helpers.js"

afterEach(cleanupAll)

describe("Proc", () => {
  it("reads a process's start time (field 22 of /proc/<pid>/stat), even when its name holds spaces and parentheses", async () => {
    const dir = tempDir()
    const comm = "a) b (c) d"
    const binary = join(dir, comm)
    copyFileSync("/bin/sleep", binary)
    spawnSync("chmod", ["755", binary])
    const child = spawn(binary, ["30"], { stdio: "ignore" })
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    const pid = child.pid!
    await eventually(() => readFileSync(`/proc/${pid}/stat`, "utf8").includes(`(${comm})`), "the exec")
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const expected = stat.slice(`${pid} (${comm}) `.length).split(" ")[22 - 3]
    expect(expected).toMatch(/^\d+$/)
    expect(processStartTime(pid)).toBe(expected)
    expect(isProcessAlive({ pid, processStart: expected! })).toBe(true)
    child.kill("SIGKILL")
    await within(exited, 5000, "the child to exit")
    expect(processStartTime(pid)).toBeNull()
    expect(isProcessAlive({ pid, processStart: expected! })).toBe(false)
  })

  it("knows this process, and refuses another start time, another boot, or no such pid", () => {
    const start = processStartTime(process.pid)
    expect(start).toMatch(/^\d+$/)
    expect(isProcessAlive({ pid: process.pid, processStart: start! })).toBe(true)
    expect(isProcessAlive({ pid: process.pid, processStart: start!, bootId: currentBootId() })).toBe(true)
    expect(isProcessAlive({ pid: process.pid, processStart: String(Number(start) + 1) })).toBe(false)
    expect(isProcessAlive({ pid: process.pid, processStart: start!, bootId: "00000000-0000-0000-0000-000000000000" })).toBe(false)
    for (const pid of [0, -1, 1.5, Number.NaN, 2 ** 40]) {
      expect(processStartTime(pid)).toBeNull()
      expect(isProcessAlive({ pid, processStart: "1" })).toBe(false)
    }
    expect(currentBootId()).toMatch(/^[0-9a-f-]{36}$/)
  })

  it("lists the live processes of a session (a detached child and its own child), and none for a session that does not exist", async () => {
    const child = spawn("bash", ["-c", "sleep 100 & wait"], { detached: true, stdio: "ignore" })
    const leader = child.pid!
    try {
      await eventually(() => sessionMembers(leader).length === 2, "the session's two processes")
      const members = sessionMembers(leader)
      expect(members.map((m) => m.session)).toEqual([leader, leader])
      expect(members.map((m) => m.pgid)).toEqual([leader, leader])
      expect(members.find((m) => m.pid === leader)?.processStart).toBe(processStartTime(leader))
      expect(sessionMembers(leader).some((m) => m.pid === process.pid)).toBe(false)
      for (const sid of [0, -1, 1.5, 2 ** 40]) expect(sessionMembers(sid)).toEqual([])
      expect(groupMembers(leader).map((m) => m.pid).sort()).toEqual(members.map((m) => m.pid).sort())
      for (const pgid of [0, -1, 1.5, 2 ** 40]) expect(groupMembers(pgid)).toEqual([])
    } finally {
      process.kill(-leader, "SIGKILL")
    }
  })

  it("reads a process's real uid, and none for a pid that does not exist", () => {
    expect(processUid(process.pid)).toBe(process.getuid!())
    for (const pid of [0, -1, 1.5, Number.NaN, 2 ** 40]) expect(processUid(pid)).toBeNull()
  })
})
