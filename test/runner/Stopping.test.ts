/**
 * Acceptance of stopping runs on the real runner: cancel ends the whole process tree (SPEC §5:
 * SIGTERM to the group, killGrace, SIGKILL), and the time limits of SPEC §4 (timeLimit,
 * deadline, maxQueuedTime) end runs with the right status, reason and timeline.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { isAlive, ms, type RunDetail, sandbox, waitFor, waitUntil } from "./Gantry.js"


const KILL_GRACE_MS = 1000

const transition = (detail: RunDetail, from: string, to: string) => {
  const events = detail.timeline.filter((e) => e.from === from && e.to === to)
  expect(events, `run ${detail.run.id}: one ${from} → ${to} in ${JSON.stringify(detail.timeline)}`).toHaveLength(1)
  return events[0]!
}

describe.concurrent("SPEC §5 stopping: cancel ends the whole process tree", () => {
  it("cancel of a running run kills its grandchild too, by TERM at once, or by KILL after the grace when TERM is ignored; the run is cancelled", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=2", `kill-grace=${KILL_GRACE_MS}ms`])
    const d = await s.serve()
    const grandchild = `sleep 100 & echo $! > "${s.work}/gc.$GANTRY_RUN_ID"`
    const polite = await s.submit(s.script({ body: grandchild, sleep: 100 }))
    const stubborn = await s.submit(s.script({ body: `trap '' TERM\n${grandchild}`, sleep: 100 }))
    const ids = [polite, stubborn]
    const gcOf = (id: string) => {
      try {
        return Number(fs.readFileSync(path.join(s.work, `gc.${id}`), "utf8").trim()) || null
      } catch {
        return null
      }
    }
    await waitFor("both runs and their grandchildren started", () => ids.every((id) => s.pidOf(id) !== null && gcOf(id) !== null) || undefined, {
      watch: [s.work],
      daemon: d
    })
    const pids = ids.flatMap((id) => [s.pidOf(id)!, gcOf(id)!])
    for (const pid of pids) s.track(pid)
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} runs before the cancel`).toBe(true)

    const cancel = await s.cli(["cancel", polite, stubborn])
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toContain(`cancelling ${polite} ${stubborn}`)

    const runs = await d.waitTerminal(ids, { timeoutMs: 30_000 })
    for (const r of runs) {
      expect(r.status, `run ${r.id}`).toBe("cancelled")
      expect(r.stopCause).toBe("cancel")
    }
    // every process of both trees is gone (no event tells a pid is gone: poll, bounded)
    await waitUntil(`pids ${pids.join(",")} gone`, () => pids.every((pid) => !isAlive(pid)), { timeoutMs: 10_000 })
    expect(s.ends(polite), "the run did not get to finish its script").toBe(0)
    expect(s.ends(stubborn)).toBe(0)

    const [politeRun, stubbornRun] = runs
    expect(politeRun?.signal).toBe("SIGTERM")
    expect(stubbornRun?.signal, "a run that ignores TERM dies by KILL").toBe("SIGKILL")
    // the polite one died of the TERM (its signal says so), not of a KILL after the grace
    const p = await d.show(polite)
    transition(p, "running", "stopping")
    transition(p, "stopping", "cancelled")
    const q = await d.show(stubborn)
    const stubbornStop = transition(q, "running", "stopping")
    const stubbornEnd = transition(q, "stopping", "cancelled")
    // behaviour bounds, with generous margins: KILL comes after the grace, not before, and not much later
    expect(ms(stubbornEnd.at) - ms(stubbornStop.at), "KILL waits for the grace").toBeGreaterThanOrEqual(KILL_GRACE_MS - 50)
    expect(ms(stubbornEnd.at) - ms(stubbornStop.at), "KILL follows the grace").toBeLessThan(KILL_GRACE_MS + 8000)
  })
})

describe.concurrent("SPEC §4 time limits: timeLimit, deadline, maxQueuedTime", () => {
  it("--time-limit and --deadline stop running runs as failed(time-limit/deadline); --deadline and --max-queued-time end pending ones", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=5", `kill-grace=${KILL_GRACE_MS}ms`])
    await s.ok(["queue", "create", "busy", "--max-concurrent", "1"])
    const d = await s.serve()
    // the only slot of queue `busy` is taken until the end of the test
    const blocker = await s.submit(s.script({ gate: true }), ["--queue", "busy"])
    await s.waitStarted([blocker])

    const timeLimited = await s.submit(s.script({ sleep: 30 }), ["--time-limit", "1s"])
    const deadlineRunning = await s.submit(s.script({ sleep: 30 }), ["--deadline", "2s"])
    const deadlinePending = await s.submit(s.script(), ["--queue", "busy", "--deadline", "1s"])
    const queueTimeout = await s.submit(s.script(), ["--queue", "busy", "--max-queued-time", "1s"])

    const [t, dr, dp, qt] = await d.waitTerminal([timeLimited, deadlineRunning, deadlinePending, queueTimeout], { timeoutMs: 30_000 })
    expect([t, dr, dp, qt].map((r) => [r?.status, r?.failReason])).toEqual([
      ["failed", "time-limit"],
      ["failed", "deadline"],
      ["failed", "deadline"],
      ["failed", "queue-timeout"]
    ])

    // the running ones ran (their processes started) and were stopped on time, not before
    for (const [id, reason, limitMs] of [
      [timeLimited, "time-limit", 1000],
      [deadlineRunning, "deadline", null]
    ] as const) {
      expect(s.starts(id), `run ${id} started`).toBe(1)
      expect(s.ends(id), `run ${id} was stopped before its end`).toBe(0)
      const detail = await d.show(id)
      const started = transition(detail, "pending", "running")
      const stopping = transition(detail, "running", "stopping")
      const failed = transition(detail, "stopping", "failed")
      expect(stopping.reason).toBe(reason)
      expect(failed.reason).toBe(reason)
      if (limitMs !== null) expect(ms(stopping.at) - ms(started.at)).toBeGreaterThanOrEqual(limitMs - 50)
      else expect(ms(stopping.at) - ms(detail.run.submittedAt)).toBeGreaterThanOrEqual(2000 - 50)
    }
    // the pending ones never started
    for (const [id, reason] of [
      [deadlinePending, "deadline"],
      [queueTimeout, "queue-timeout"]
    ] as const) {
      const detail = await d.show(id)
      expect(detail.run.startedAt, `run ${id} never started`).toBeNull()
      expect(s.starts(id)).toBe(0)
      expect(transition(detail, "pending", "failed").reason).toBe(reason)
      expect(detail.timeline.map((e) => e.to)).toEqual(["pending", "failed"])
    }

    s.release(blocker)
    const [b] = await d.waitTerminal([blocker])
    expect(b?.status).toBe("completed")
  })
})
