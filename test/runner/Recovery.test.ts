/**
 * Acceptance of persistence and recovery on the real runner (SPEC §7, §6.3, §6.11): runs
 * outlive the daemon (kill -9 or SIGTERM), a restarted daemon adopts them and records their
 * exits, nothing accepted is lost, nothing starts twice, one daemon per database, and work
 * stored while no daemon runs starts when one comes up.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"
import { isAlive, ms, readLease, type RunJson, type Sandbox, sandbox, waitFor, waitUntil } from "./Gantry.js"


const startsInTimeline = async (s: Sandbox, id: string): Promise<number> => {
  const detail = await s.json<{ timeline: ReadonlyArray<{ from: string | null; to: string }> }>(["runs", "show", id])
  return detail.timeline.filter((e) => e.from === "pending" && e.to === "running").length
}

describe.concurrent("SPEC §7 recovery: kill -9 of the daemon", () => {
  it("five kill -9 and restarts in a row: running runs keep their processes, exits are recorded, pending runs start, nothing starts twice or is lost", { timeout: 150_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=2"])
    // ten gated runs (each ends when the test releases it), two slots: five batches, one per round
    const exitOf = (i: number) => (i % 3 === 2 ? 7 : 0)
    const ids: Array<string> = []
    for (let i = 0; i < 10; i++) ids.push(await s.submit(s.script({ gate: true, exit: exitOf(i) })))
    const expectedExit = new Map(ids.map((id, i) => [id, exitOf(i)] as const))
    const exitsDir = path.join(s.home, "exits")

    let d = await s.serve()
    const ran = new Set<string>()
    for (let round = 1; round <= 5; round++) {
      const running = await d.waitRuns(
        `round ${round}: two runs running with their processes started`,
        (runs) => {
          const now = runs.filter((r) => r.status === "running")
          return now.length === 2 && now.every((r) => s.starts(r.id) === 1 && s.pidOf(r.id) !== null) ? now.map((r) => r.id) : undefined
        },
        { watch: [s.work], timeoutMs: 30_000 }
      )
      for (const id of running) {
        expect(ran.has(id), `run ${id} runs in one round only`).toBe(false)
        ran.add(id)
      }
      const pending = (await d.list()).filter((r) => r.status === "pending")
      expect(pending, `round ${round}: the rest waits`).toHaveLength(10 - 2 * round)
      const pids = new Map(running.map((id) => [id, s.pidOf(id)!] as const))
      const procs = new Map(running.map((id) => [id, s.procInfo(id)] as const))

      await d.kill9()
      for (const [id, pid] of pids) expect(isAlive(pid), `run ${id} (pid ${pid}) outlives the daemon's kill -9`).toBe(true)

      const endWhileDown = round % 2 === 1
      if (endWhileDown) {
        // odd rounds: the runs end while no daemon runs; the next one must learn their exits
        for (const id of running) s.release(id)
        await waitFor(
          `exit files of ${running.join(",")}`,
          // written, not only there: a run under an owner's account gets its exit file made empty at its start
          () => running.every((id) => fs.existsSync(path.join(exitsDir, `${id}.1.json`)) && fs.statSync(path.join(exitsDir, `${id}.1.json`)).size > 0) || undefined,
          { watch: [exitsDir] }
        )
      }

      d = await s.serve()
      if (!endWhileDown) {
        // even rounds: the new daemon adopts the live runs: same processes, still running
        const now = new Map((await d.list()).map((r) => [r.id, r] as const))
        for (const id of running) {
          expect(now.get(id)?.status, `run ${id} adopted`).toBe("running")
          expect(isAlive(pids.get(id)!), `run ${id}'s process is alive after the restart`).toBe(true)
          expect(s.procInfo(id), `run ${id} was not started again`).toEqual(procs.get(id))
          expect(s.procInfo(id)?.pid).toBe(pids.get(id))
        }
        for (const id of running) s.release(id)
      }
      const ended = new Map((await d.waitTerminal(running, { timeoutMs: 30_000 })).map((r) => [r.id, r] as const))
      for (const id of running) {
        const run = ended.get(id)!
        const code = expectedExit.get(id)!
        expect(run.exitCode, `run ${id}'s exit code`).toBe(code)
        expect(run.status, `run ${id}`).toBe(code === 0 ? "completed" : "failed")
        if (code !== 0) expect(run.failReason).toBe("exit-code")
        expect(s.starts(id), `run ${id} started once`).toBe(1)
        expect(s.ends(id), `run ${id} ended once`).toBe(1)
      }
    }

    // nothing accepted is lost, nothing started twice
    const runs: ReadonlyArray<RunJson> = await s.runs()
    expect(runs.map((r) => r.id).sort()).toEqual([...ids].sort())
    for (const r of runs) {
      expect(r.status, `run ${r.id}`).toBe(expectedExit.get(r.id) === 0 ? "completed" : "failed")
      expect(r.exitCode).toBe(expectedExit.get(r.id))
      expect(s.starts(r.id), `start records of ${r.id}`).toBe(1)
    }
    const timelineStarts = await Promise.all(ids.map((id) => startsInTimeline(s, id)))
    expect(timelineStarts).toEqual(ids.map(() => 1))
    expect(ran.size).toBe(10)
  })
})

describe.concurrent("SPEC §7 lease: one daemon per database", () => {
  it("a second gantry serve on the same database is refused, naming the first one's pid, and starts nothing", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const id = await s.submit(s.script({ gate: true }))
    await s.waitStarted([id])

    const second = await s.cli(["serve"])
    expect(second.code, `second serve: ${second.stderr}`).not.toBe(0)
    expect(second.code).not.toBeNull()
    expect(second.stderr).toMatch(new RegExp(`another gantry serve .*\\(pid ${d.pid}\\b`))
    expect(second.stdout).not.toMatch(/serving/)

    // the first daemon still serves, still holds the lease, and its run was not started again
    expect(d.running).toBe(true)
    expect(readLease(s.db)?.pid).toBe(d.pid)
    expect((await d.list()).find((r) => r.id === id)?.status).toBe("running")
    expect(s.starts(id)).toBe(1)
    s.release(id)
    const [run] = await d.waitTerminal([id])
    expect(run?.status).toBe("completed")
    expect(s.starts(id)).toBe(1)
    expect(await startsInTimeline(s, id)).toBe(1)
  })
})

describe.concurrent("SPEC §7 submissions with and without a daemon", () => {
  it("a submission made with no daemon is stored pending and starts when serve comes up; one made while it serves starts by itself", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const offline = await s.submit(s.script())
    const stored = await s.runs()
    expect(stored.map((r) => [r.id, r.status])).toEqual([[offline, "pending"]])
    expect(s.starts(offline)).toBe(0)

    const d = await s.serve()
    const [first] = await d.waitTerminal([offline])
    expect(first?.status).toBe("completed")
    expect(s.starts(offline)).toBe(1)

    // with the daemon serving: no trigger, no `gantry process`; the submission's own event starts it
    const online = await s.submit(s.script({ gate: true }))
    await d.waitRuns(`run ${online} running with its process started`, (runs) => runs.find((r) => r.id === online)?.status === "running" && s.starts(online) === 1, {
      watch: [s.work]
    })
    s.release(online)
    const [second] = await d.waitTerminal([online])
    expect(second?.status).toBe("completed")
    expect(s.starts(online)).toBe(1)
  })
})

describe.concurrent("SPEC §7: SIGTERM stops the daemon, not the runs", () => {
  it("SIGTERM with followers attached (runs --watch, logs -f): their long-polls are answered and the daemon exits at once", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const a = await s.submit(s.script({ gate: true }))
    await s.waitStarted([a])
    const watch = s.spawn(["runs", "--watch", "--format", "json"])
    const follow = s.spawn(["logs", "-f", a])
    await watch.waitOutput("the first screen of runs --watch", (p) => p.stdout.includes(`"${a}"`))
    // both now wait in a 25 s long-poll; the daemon must not wait for them
    const t0 = Date.now()
    expect(await d.terminate()).toEqual({ code: 0, signal: null })
    expect(Date.now() - t0, "the daemon does not wait out the followers' 25 s long-polls").toBeLessThan(10_000)
    const [w, f] = await Promise.all([watch.exited, follow.exited])
    expect(w.code, `runs --watch: ${w.stderr}`).toBe(69)
    expect(f.code, `logs -f: ${f.stderr}`).toBe(69)
    expect(isAlive(s.pidOf(a)!), "the run keeps running").toBe(true)
  })


  it("SIGTERM: the daemon exits 0 and leaves its runs running; a new serve adopts them and records their exits", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=1"])
    const d = await s.serve()
    const a = await s.submit(s.script({ gate: true, exit: 4 }))
    const b = await s.submit(s.script({ gate: true }))
    await s.waitStarted([a])
    const pid = s.pidOf(a)!
    expect((await d.list()).find((r) => r.id === b)?.status).toBe("pending")

    const exit = await d.terminate()
    expect(exit).toEqual({ code: 0, signal: null })
    expect(isAlive(pid), `run ${a} (pid ${pid}) outlives the daemon`).toBe(true)
    expect(readLease(s.db), "the lease is given back").toBeNull()
    expect(s.starts(b)).toBe(0)
    // with no daemon, a running run cannot be stopped: refused (69), and the pending one is not cancelled either
    const cancel = await s.cli(["cancel", "--all"])
    expect(cancel.code).toBe(69)
    expect(cancel.stderr).toMatch(new RegExp(`run ${a} is running: only a serving runner can cancel it`))
    expect((await s.runs()).map((r) => [r.id, r.status])).toEqual([
      [b, "pending"],
      [a, "running"]
    ])

    const d2 = await s.serve()
    const now = new Map((await d2.list()).map((r) => [r.id, r] as const))
    expect(now.get(a)?.status, "adopted").toBe("running")
    expect(now.get(b)?.status).toBe("pending")
    expect(s.procInfo(a)?.pid).toBe(pid)

    s.release(a)
    const [ranA] = await d2.waitTerminal([a])
    expect(ranA?.status).toBe("failed")
    expect(ranA?.exitCode).toBe(4)
    expect(ranA?.failReason).toBe("exit-code")
    // its slot is free again: b starts, under the new daemon
    await s.waitStarted([b], { daemon: d2 })
    s.release(b)
    const [ranB] = await d2.waitTerminal([b])
    expect(ranB?.status).toBe("completed")
    expect(s.starts(a)).toBe(1)
    expect(s.starts(b)).toBe(1)
  })
})

describe.concurrent("SPEC §5/§7: stops survive a restart", () => {
  it("a cancel in progress (TERM ignored) and a time limit that expires while no daemon runs are carried out by the next daemon", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=2", "kill-grace=3s"])
    const d = await s.serve()
    const stubborn = await s.submit(s.script({ body: "trap '' TERM", sleep: 100 }))
    // long enough for the steps up to kill9 even on a loaded machine (the first daemon must not enforce it)
    const limited = await s.submit(s.script({ sleep: 100 }), ["--time-limit", "6s"])
    await s.waitStarted([stubborn, limited], { daemon: d })
    const pids = [s.pidOf(stubborn)!, s.pidOf(limited)!]

    await s.ok(["cancel", stubborn])
    await d.waitRuns(`run ${stubborn} stopping`, (runs) => runs.find((r) => r.id === stubborn)?.status === "stopping")
    await d.kill9()
    expect(isAlive(pids[0]!), "TERM was ignored and the daemon died before its KILL").toBe(true)
    // let the time limit pass while no daemon runs (a known instant, not a guess)
    const startedAt = ms((await s.runs()).find((r) => r.id === limited)!.startedAt!)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + 6000 + 100 - Date.now())))
    expect(isAlive(pids[1]!), "nobody enforced the time limit while no daemon ran").toBe(true)

    const d2 = await s.serve()
    const [cancelled, timedOut] = await d2.waitTerminal([stubborn, limited], { timeoutMs: 30_000 })
    expect([cancelled?.status, cancelled?.signal]).toEqual(["cancelled", "SIGKILL"])
    expect([timedOut?.status, timedOut?.failReason]).toEqual(["failed", "time-limit"])
    await waitUntil(`pids ${pids.join(",")} gone`, () => pids.every((pid) => !isAlive(pid)), { timeoutMs: 10_000 })
    expect(s.starts(stubborn)).toBe(1)
    expect(s.starts(limited)).toBe(1)
  })
})
