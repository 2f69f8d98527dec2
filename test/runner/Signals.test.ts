/**
 * `gantry serve` stops cleanly on SIGTERM whenever it arrives once it has started: the daemon
 * listens for SIGTERM and SIGINT before it opens the database, so a signal sent while it
 * starts (or right after its ready line) is a clean stop — lease given back, exit 0 — not a
 * kill by the default handler.
 */
import * as fs from "node:fs"
import { describe, it } from "vitest"
import { readLease, sandbox, waitFor } from "./Gantry.js"

describe.concurrent("gantry serve and SIGTERM", () => {
  it("a SIGTERM while the daemon starts (its database just created): it finishes starting, then stops cleanly", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const proc = s.spawn(["serve"])
    // the database appears once the daemon has opened it: it is starting
    await waitFor("the daemon's database", () => (fs.existsSync(s.db) ? true : undefined), { watch: [s.home] })
    proc.child.kill("SIGTERM")
    const result = await proc.exited
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 0, signal: null })
    expect(readLease(s.db)).toBeNull()
  })

  it("a SIGTERM as soon as the ready line is read: a clean stop", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const proc = s.spawn(["serve"])
    await new Promise<void>((resolve) => {
      proc.child.stdout!.on("data", () => {
        if (/serving http/.test(proc.stdout)) resolve()
      })
    })
    proc.child.kill("SIGTERM")
    const result = await proc.exited
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 0, signal: null })
    expect(readLease(s.db)).toBeNull()
  })
})
