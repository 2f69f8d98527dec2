/**
 * A CLI people can read (issue 11): `limits` shows the global limit it really applies (the
 * GPU count when none is set) and every policy field; `limits set preset=shared` takes a
 * preset and the settings after it; `--status queued` is the common queue API's word for
 * pending.
 */
import { describe, it } from "vitest"
import { sandbox } from "./Gantry.js"

describe.concurrent("issue 11: readable limits and statuses", () => {
  it("limits shows the effective global limit and every field; preset=shared, then settings on top", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 3 })
    await s.ok(["submit", "--hold", "--", "true"])
    const shown = await s.ok(["limits"])
    expect(shown).toMatch(/^max-concurrent +3 \(the GPU count, at least 1\)$/m)
    expect(shown).toMatch(/^user-max-concurrent +none$/m)
    for (const field of ["team-max-concurrent", "local-gpu-max-concurrent", "local-job-max-concurrent", "fair-share", "fair-share-half-life", "backfill", "kill-grace", "aging", "priority-admin", "priority-lead", "priority-researcher", "priority-viewer", "approval", "version"])
      expect(shown, field).toMatch(new RegExp(`^${field} `, "m"))
    const set = await s.json<{ limits: Record<string, unknown>; levelPriorities: Record<string, number>; version: number }>(["limits", "set", "preset=shared", "max-concurrent=8", "priority-lead=25"])
    expect(set.limits).toMatchObject({ maxConcurrent: 8, userMaxConcurrent: 2, teamMaxConcurrent: 10 })
    expect(set.levelPriorities.lead).toBe(25)
    expect(set.version).toBe(2)
    const bad = await s.cli(["limits", "set", "preset=huge"])
    expect(bad.code).toBe(64)
    expect(bad.stderr).toMatch(/preset: shared or default, not "huge"/)
  })

  it("--status queued lists the pending runs; an unknown status is refused naming the words", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=1"])
    await s.ok(["queue", "update", "default", "--pause"])
    const pending = await s.submit(["true"])
    await s.submit(["true"], ["--hold"])
    const queued = await s.json<ReadonlyArray<{ id: string; status: string }>>(["runs", "--status", "queued"])
    expect(queued.map((r) => [r.id, r.status])).toEqual([[pending, "pending"]])
    const bad = await s.cli(["runs", "--status", "waiting"])
    expect(bad.code).toBe(64)
    expect(bad.stderr).toMatch(/unknown status in "waiting" \(one of held, blocked, pending, .*; queued is pending\)/)
  })
})
