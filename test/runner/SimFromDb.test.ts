/**
 * `gantry sim --from-db PATH` (issue 12): a runner database's own history replayed under
 * candidate policies and `current` (the policy in force), with the shadow fidelity: how closely
 * the replay reproduces what really happened. Real processes, fake GPUs, a real `gantry serve`:
 *
 * - a serial history (max-concurrent=1, gated runs released in order, one left running) read
 *   while the daemon is running and writing: the report, the still-running note, and `current`
 *   reproducing the start order exactly;
 * - sim ≡ runner: a scripted workload of 30 runs from four users of three levels asking 1, 2 or
 *   4 of 8 GPUs, under a per-user limit, with submissions and releases interleaved in an order
 *   the test controls (each step waits for the daemon's cycle that follows it); rebuilt from the
 *   database and replayed with each run ending at its real end instant, the simulator starts the
 *   same runs in the same order on the same GPUs;
 * - bad input: not a gantry database (65, naming it), a schema newer than this gantry (65), a
 *   missing file (66), `--policy current` without --from-db (64).
 */
import { defaultPolicy } from "@gantry/core"
import { fidelity, presetPolicy, replayOfHistory, simulate } from "@gantry/sim"
import { readHistory } from "@gantry/store-sqlite"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { describe, it } from "vitest"
import { type Daemon, isTerminal, type RunJson, type Sandbox, sandbox } from "./Gantry.js"

const isRoot = process.getuid?.() === 0
/** As root the daemon starts each run under its owner's account: these users' runs run as root (explicitly mapped), so they can write the sandbox's records. */
const mapped = isRoot ? ["--unix-user", "root"] : []

interface FidelityJson {
  readonly compared: number
  readonly onlyReal: number
  readonly onlyReplay: number
  readonly startOrder: number
  readonly sameGpus: number
  readonly waitErrorMeanMs: number
}
interface Report {
  readonly workload: { readonly name: string; readonly jobs: number }
  readonly gpus: number
  readonly source: { readonly database: string; readonly snapshotAt: string; readonly currentPolicyVersion: number; readonly counts: Record<string, number>; readonly notes: ReadonlyArray<string> }
  readonly policies: ReadonlyArray<{
    readonly name: string
    readonly metrics: { readonly jobs: number; readonly overall: { readonly started: number }; readonly byUser: Record<string, unknown> }
    readonly fidelity: FidelityJson
  }>
}

/** A gated run submitted through the API (as the daemon's owner, on behalf of `user`). */
const submitAs = async (s: Sandbox, d: Daemon, user: string, gpus: number, extra: Record<string, unknown> = {}): Promise<string> => {
  const r = await d.api<{ _tag: string; run: RunJson }>("POST", "/api/runs", { user, command: s.script({ gate: true }), gpus, ...extra })
  if (r._tag !== "Accepted") throw new Error(`not accepted: ${JSON.stringify(r)}`)
  return r.run.id
}

/** A cycle that began after every change so far has finished (the common API's explicit process). */
const settle = (d: Daemon) => d.api("POST", "/api/queue/process")

/** Releases a running run's gate and waits for its end and the cycle after it. */
const finish = async (s: Sandbox, d: Daemon, id: string): Promise<void> => {
  await s.waitStarted([id], { daemon: d })
  s.release(id)
  await d.waitTerminal([id])
  await settle(d)
}

describe.concurrent("issue 12: gantry sim --from-db", () => {
  it("replays a serial history read while the daemon runs and writes; current reproduces its start order exactly", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    const d = await s.serve()
    await s.ok(["limits", "set", "max-concurrent=1"])
    await s.ok(["user", "set", "ana", "--level", "researcher", "--team", "vision", ...mapped])
    await s.ok(["user", "set", "lena", "--level", "lead", "--team", "vision", ...mapped])
    const ids: Array<string> = []
    for (const [user, gpus] of [["ana", 1], ["lena", 2], ["ana", 1], ["lena", 1], ["ana", 2]] as const) {
      ids.push(await submitAs(s, d, user, gpus))
      await settle(d)
    }
    // one at a time (the lead's runs first): each released when it runs; the last one stays running
    const running = async () => (await d.list()).filter((r) => r.status === "running").map((r) => r.id)
    const order: Array<string> = []
    for (let i = 0; i < ids.length; i++) {
      const now = await running()
      expect(now).toHaveLength(1)
      order.push(now[0]!)
      if (i < ids.length - 1) await finish(s, d, now[0]!)
    }
    await s.waitStarted([order.at(-1)!], { daemon: d })
    expect(order).not.toEqual(ids)

    // the replay reads while the daemon commits submissions (held: they never compete)
    const sim = s.cli(["sim", "--from-db", s.db, "--policy", "current", "--policy", "fifo", "--format", "json"])
    let reading = true
    void sim.then(() => (reading = false))
    const writes = (async () => {
      let n = 0
      while (reading) {
        await d.api("POST", "/api/runs", { command: ["true"], hold: true })
        n++
      }
      return n
    })()
    const [result, written] = await Promise.all([sim, writes])
    expect(result.code, result.stderr).toBe(0)
    expect(written).toBeGreaterThan(0)
    expect((await d.list()).filter((r) => r.status === "held")).toHaveLength(written)
    const report = JSON.parse(result.stdout) as Report
    expect(report.gpus).toBe(2)
    expect(report.workload).toMatchObject({ name: "gantry.db", jobs: 5 })
    expect(report.source.database).toBe(s.db)
    expect(report.source.currentPolicyVersion).toBe(2)
    // one snapshot: whatever held runs it saw are all left out, and nothing else changed
    expect(report.source.counts.runs! - report.source.counts.heldLeftOut!).toBe(5)
    expect(report.source.counts).toMatchObject({ jobs: 5, started: 5, stillRunning: 1 })
    expect(report.source.notes).toContain("1 run still running: their elapsed time used as duration")
    expect(report.policies.map((p) => p.name)).toEqual(["current (v2)", "fifo"])
    for (const p of report.policies) {
      expect(p.metrics.jobs).toBe(5)
      expect(p.metrics.overall.started).toBe(5)
      expect(Object.keys(p.metrics.byUser)).toEqual(["ana", "lena"])
      expect(p.fidelity).toMatchObject({ compared: 5, onlyReal: 0, onlyReplay: 0 })
    }
    const current = report.policies[0]!.fidelity
    expect(current.startOrder).toBe(1)
    expect(current.sameGpus).toBe(1)

    const table = await s.ok(["sim", "--from-db", s.db, "--policy", "current", "--policy", "fifo"])
    expect(table).toMatch(/^workload gantry\.db \(5 jobs\), 2 GPUs, seed 1$/m)
    expect(table).toMatch(new RegExp(`^database ${s.db.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(schema \\d+\\), read \\d{4}-\\d\\d-\\d\\dT[^ ]+Z, runs from \\d{4}-[^ ]+Z; policy in force: v2$`, "m"))
    expect(table).toMatch(/^ {2}1 run still running: their elapsed time used as duration$/m)
    expect(table).toMatch(/^against what happened +compared +start order +same gpus +wait error mean/m)
    expect(table).toMatch(/^current \(v2\) +5 +100% +100% /m)
    // with no --policy: the policy in force, then gantry's default
    const defaults = JSON.parse(await s.ok(["sim", "--from-db", s.db, "--format", "json"])) as Report
    expect(defaults.policies.map((p) => p.name)).toEqual(["current (v2)", "backfill"])
    expect(d.running).toBe(true)
  })

  it("sim ≡ runner: a scripted workload replayed from the database starts the same runs in the same order on the same GPUs", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 8 })
    const d = await s.serve()
    await s.ok(["limits", "set", "user-max-concurrent=3"])
    const users = [
      ["ana", "researcher", "vision"],
      ["bo", "researcher", "speech"],
      ["lena", "lead", "vision"],
      ["ada", "admin", "none"]
    ] as const
    for (const [name, level, team] of users) await s.ok(["user", "set", name, "--level", level, "--team", team, ...mapped])

    // 30 runs: users in turn, 1, 2 or 4 GPUs, a third with a 1 h time limit and a third with 2 h (backfill uses them)
    const N = 30
    const plan = Array.from({ length: N }, (_, i) => ({
      user: users[(i * 5) % 4]![0],
      gpus: [1, 2, 4, 1, 1, 2, 4, 1, 2, 1][i % 10]!,
      ...(i % 3 === 0 ? { timeLimitMs: 3_600_000 } : i % 3 === 1 ? { timeLimitMs: 7_200_000 } : {})
    }))
    const ids: Array<string> = []
    const rankOf = (id: string) => (ids.indexOf(id) * 11) % N // the order the test releases runs in: a fixed permutation
    const submitNext = async () => {
      const p = plan[ids.length]!
      ids.push(await submitAs(s, d, p.user, p.gpus, "timeLimitMs" in p ? { timeLimitMs: p.timeLimitMs } : {}))
      await settle(d)
    }
    const releaseNext = async () => {
      const running = (await d.list()).filter((r) => r.status === "running" && ids.includes(r.id))
      if (running.length === 0) throw new Error(`nothing running to release: ${JSON.stringify((await d.list()).map((r) => [r.id, r.status]))}`)
      const next = running.reduce((a, b) => (rankOf(b.id) < rankOf(a.id) ? b : a))
      await finish(s, d, next.id)
    }
    // 14 submissions, then a release and a submission in turn, then releases until every run has ended
    for (let i = 0; i < 14; i++) await submitNext()
    while (ids.length < N) {
      await releaseNext()
      await submitNext()
    }
    while (!(await d.list()).filter((r) => ids.includes(r.id)).every((r) => isTerminal(r.status))) await releaseNext()

    const history = readHistory(s.db)
    expect(history.runs).toHaveLength(N)
    expect(history.runs.map((r) => r.status)).toEqual(Array.from({ length: N }, () => "completed"))
    expect(history.policy?.version).toBe(2)
    const replay = replayOfHistory(history, { ends: "real-ends" })
    expect(replay.real).toHaveLength(N)
    // the history is not trivial: runs waited, and started in another order than submitted
    expect(replay.real.map((r) => r.jobId)).not.toEqual(ids)
    // (a run that started on its arrival did so in the cycle right after its submission: its
    // start follows its own submission in the timeline; the others waited for an end)
    const waited = history.events.filter((e, i) => e.to === "running" && !(history.events[i - 1]?.runId === e.runId && history.events[i - 1]?.to === "pending"))
    expect(waited.length).toBeGreaterThan(N / 2)

    const report = simulate({ seed: 1, workload: replay.workload, gpus: 8, policy: history.policy ?? defaultPolicy, queues: replay.queues, starts: true, eventLog: false })
    const replayed = report.starts!
    // the same start order, and the same GPUs for every run
    expect(replayed.map((r) => r.jobId)).toEqual(replay.real.map((r) => r.jobId))
    const sorted = (gpus: ReadonlyArray<number> | null) => [...(gpus ?? [])].sort((a, b) => a - b)
    expect(Object.fromEntries(replayed.map((r) => [r.jobId, sorted(r.gpus)]))).toEqual(Object.fromEntries(replay.real.map((r) => [r.jobId, sorted(r.gpus)])))
    expect(report.metrics.overall.finished).toBe(N)
    // and the check has teeth: under another policy (fifo: no per-user limit, every level
    // alike) the same history replays in another order
    const other = simulate({ seed: 1, workload: replay.workload, gpus: 8, policy: presetPolicy.fifo, queues: replay.queues, starts: true, eventLog: false })
    expect(other.starts!.map((r) => r.jobId)).not.toEqual(replay.real.map((r) => r.jobId))
    // the replay `gantry sim` makes (measured durations, so its clock drifts from the real one
    // by the runner's start latency): every run still starts in it
    const measured = replayOfHistory(history)
    const m = simulate({ seed: 1, workload: measured.workload, gpus: 8, policy: history.policy ?? defaultPolicy, queues: measured.queues, starts: true, eventLog: false })
    expect(fidelity(measured.real, m.starts!, { horizonMs: measured.horizonMs })).toMatchObject({ compared: N, onlyReal: 0, onlyReplay: 0 })
  })

  it("refuses a database that is not gantry's (65) or is newer than this gantry (65), a missing one (66), and --policy current without one (64)", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new (file: string) => { exec(sql: string): void; close(): void }
    const other = path.join(s.work, "other.db")
    const db = new Sqlite(other)
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    db.close()
    const text = path.join(s.work, "text.db")
    fs.writeFileSync(text, "this is not a database at all, just text\n".repeat(200))
    // a gantry database, made by a submission, then marked with a migration from the future
    await s.submit(["true"], ["--hold"])
    const newer = path.join(s.work, "newer.db")
    fs.copyFileSync(s.db, newer)
    const marked = new Sqlite(newer)
    marked.exec("INSERT INTO schema_migrations (migration_id, name) VALUES (9999, 'from_the_future')")
    marked.close()
    const good = path.join(s.work, "ok.csv")
    fs.writeFileSync(good, "user,gpus,submit,duration\nana,1,0,60\n")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, RegExp]> = [
      [["sim", "--from-db", other, "--gpus", "2"], 65, /--from-db .*other\.db: not a gantry database \(no schema_migrations table\)/],
      [["sim", "--from-db", text, "--gpus", "2"], 65, /--from-db .*text\.db: not a gantry database \(file is not a database\)/],
      [["sim", "--from-db", newer, "--gpus", "2"], 65, /--from-db .*newer\.db: its schema is newer than this gantry knows \(migration 9999;/],
      [["sim", "--from-db", path.join(s.work, "nope.db"), "--gpus", "2"], 66, /--from-db .*nope\.db: cannot read it/],
      [["sim", "--csv", good, "--gpus", "2", "--policy", "current"], 64, /--policy current .*needs --from-db PATH/],
      [["sim", "--generate", "--policy", "fifo", "--policy", "current"], 64, /--policy current .*needs --from-db PATH/],
      [["sim", "--from-db", s.db, "--csv", good], 64, /give the workload: --csv PATH, --from-db PATH or --generate \(one of them\)/]
    ]
    const results = await Promise.all(cases.map(([args]) => s.cli(args)))
    cases.forEach(([args, code, message], i) => {
      expect(results[i]!.code, `${args.join(" ")}: ${results[i]!.stderr}`).toBe(code)
      expect(results[i]!.stderr, args.join(" ")).toMatch(message)
      expect(results[i]!.stdout, args.join(" ")).toBe("")
    })
    // the file it refused is left as it was: read-only
    expect(fs.readFileSync(text, "utf8")).toBe("this is not a database at all, just text\n".repeat(200))
    expect(fs.existsSync(`${other}-wal`)).toBe(false)
  })
})
