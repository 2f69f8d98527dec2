/**
 * A CLI people can read (issue 11): `limits` shows the global limit it really applies (the
 * GPU count when none is set) and every policy field; `limits set preset=shared` takes a
 * preset and the settings after it; `--status queued` is the common queue API's word for
 * pending; tables show times in the local time zone and JSON (the CLI's and the HTTP API's
 * alike) as ISO-8601 UTC, never epoch milliseconds; `runs show --watch` follows a run to its end.
 */
import { describe, it } from "vitest"
import { ISO_TIME, ms, type RunDetail, type RunJson, sandbox } from "./Gantry.js"

/** The CLI's zone in these tests: UTC+05:30 all year, so a time shown in UTC or as epoch ms cannot pass for local. */
const ZONE = { TZ: "Asia/Kolkata" }
/** An ISO time of gantry's JSON as the CLI must show it in ZONE: `2026-11-30 06:23:20`. */
const inZone = (iso: string) => new Date(ms(iso) + 5.5 * 3_600_000).toISOString().slice(0, 19).replace("T", " ")
/** A 13-digit number: epoch milliseconds. */
const EPOCH_MS = /\d{13}/

interface TokenRecord {
  readonly id: string
  readonly createdAt: string
  readonly revokedAt: string | null
}

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

describe.concurrent("issue 11: times people can read, ISO-8601 in JSON", () => {
  it("tables show times in the local time zone, to the second: runs -o, runs show, token list, user list", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { env: ZONE })
    const d = await s.serve()
    const id = await s.submit(["true"], ["--deadline", "1h"])
    const [run] = (await d.waitTerminal([id])) as ReadonlyArray<RunJson>
    expect(run?.status).toBe("completed")

    const listed = await s.ok(["runs", "-o", "id,submittedAt,startedAt,endedAt,status"])
    expect(listed).toMatch(/^ID +SUBMITTEDAT +STARTEDAT +ENDEDAT +STATUS$/m)
    expect(listed).toContain(`${inZone(run!.submittedAt)} (`)
    expect(listed).toMatch(new RegExp(`^${id} +${inZone(run!.submittedAt)} \\(.+\\) +${inZone(run!.startedAt!)} \\(.+\\) +${inZone(run!.endedAt!)} \\(.+\\) +completed$`, "m"))

    const shown = await s.ok(["runs", "show", id])
    expect(shown).toMatch(new RegExp(`^submitted ${inZone(run!.submittedAt)} \\(`, "m"))
    expect(shown).toMatch(new RegExp(`^started {3}${inZone(run!.startedAt!)} \\(.+\\) {3}ended ${inZone(run!.endedAt!)} \\(`, "m"))
    expect(shown).toMatch(/deadline \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in 5\dm\)$/m)
    const detail = await d.show(id)
    for (const event of detail.timeline) expect(shown).toMatch(new RegExp(`^${inZone(event.at)} +${event.from ?? "-"} +${event.to} `, "m"))

    const made = await s.json<{ record: TokenRecord }>(["token", "create", "--user", "ana", "--label", "laptop"])
    const revoked = await s.json<TokenRecord>(["token", "revoke", made.record.id])
    const tokens = await s.ok(["token", "list"])
    expect(tokens).toMatch(new RegExp(`^${made.record.id} +ana +laptop +${inZone(made.record.createdAt)} +tester +${inZone(revoked.revokedAt!)} by tester$`, "m"))
    const users = await s.json<ReadonlyArray<{ identity: { name: string }; createdAt: string }>>(["user", "list"])
    const usersTable = await s.ok(["user", "list"])
    for (const u of users) expect(usersTable).toMatch(new RegExp(`^\\d+ +${u.identity.name}.* ${inZone(u.createdAt)}$`, "m"))

    for (const [what, text] of [["runs -o", listed], ["runs show", shown], ["token list", tokens], ["user list", usersTable]] as const) expect(text, what).not.toMatch(EPOCH_MS)
  })

  it("JSON carries ISO-8601 UTC times: the CLI's --format json (offline and through the daemon) is what GET /api/runs/{id} sends", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { env: ZONE })
    // offline: no daemon, the CLI's own engine
    const offline = await s.json<{ _tag: string; run: RunJson }>(["submit", "--hold", "--", "true"])
    expect(offline.run.submittedAt).toMatch(ISO_TIME)
    const d = await s.serve()
    const id = await s.submit(["true"], ["--deadline", "1h"])
    await d.waitTerminal([id])

    const times = ["submittedAt", "eligibleAt", "startedAt", "endedAt", "deadlineAt"] as const
    const http = await d.api<RunDetail>("GET", `/api/runs/${id}`)
    for (const f of times) expect(http.run[f], `GET /api/runs/${id}: ${f}`).toMatch(ISO_TIME)
    for (const e of http.timeline) expect(e.at).toMatch(ISO_TIME)
    expect(ms(http.run.endedAt!)).toBeGreaterThanOrEqual(ms(http.run.startedAt!))
    expect(ms(http.run.deadlineAt!) - ms(http.run.submittedAt)).toBe(3_600_000)

    // the CLI prints the shape the HTTP API sends
    expect(await s.json<RunDetail>(["runs", "show", id])).toEqual(http)
    const listed = await s.json<ReadonlyArray<RunJson>>(["runs"])
    expect(listed.find((r) => r.id === id)).toEqual(http.run)
    expect(await d.api<ReadonlyArray<RunJson>>("GET", "/api/runs?include_completed=true")).toEqual(expect.arrayContaining([http.run]))
    const picked = await s.json<ReadonlyArray<Record<string, unknown>>>(["runs", "-o", "id,submittedAt,startedAt,metadata"])
    expect(picked.find((r) => r.id === id)).toEqual({ id, submittedAt: http.run.submittedAt, startedAt: http.run.startedAt, metadata: {} })

    const made = await s.json<{ record: TokenRecord; user: { createdAt: string } }>(["token", "create", "--user", "ana"])
    expect([made.record.createdAt, made.user.createdAt]).toEqual([expect.stringMatching(ISO_TIME), expect.stringMatching(ISO_TIME)])
    const revoked = await s.json<TokenRecord>(["token", "revoke", made.record.id])
    expect(revoked.revokedAt).toMatch(ISO_TIME)
    expect(await s.json<ReadonlyArray<TokenRecord>>(["token", "list"])).toEqual(await d.api("GET", "/api/tokens"))
    const users = await s.json<ReadonlyArray<{ createdAt: string }>>(["user", "list"])
    expect(users.length).toBeGreaterThan(0)
    for (const u of users) expect(u.createdAt).toMatch(ISO_TIME)
    expect(users).toEqual(await d.api("GET", "/api/users"))
  })
})

describe.concurrent("issue 11: runs show --watch", () => {
  it("runs show --watch redraws a run as it changes and ends by itself once the run has ended; offline it refuses (69)", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const id = await s.submit(s.script({ gate: true }), ["--hold"])
    const refused = await s.cli(["runs", "show", "--watch", id])
    expect(refused.code).toBe(69)
    expect(refused.stderr).toMatch(/runs show --watch needs a serving runner \(start `gantry serve`\)/)

    const d = await s.serve()
    const watch = s.spawn(["runs", "show", "--watch", id])
    await watch.waitOutput("the held run", (p) => /^status +held$/m.test(p.stdout))
    await s.ok(["release", id])
    await s.waitStarted([id], { daemon: d })
    await watch.waitOutput("the running run", (p) => /^status +running$/m.test(p.stdout))
    expect(watch.child.exitCode, "the watch goes on while the run runs").toBeNull()
    s.release(id)
    const done = await watch.exited
    expect(done.code).toBe(0)
    expect(done.stderr).toBe("")
    expect(done.stdout).not.toMatch(/\x1b/)
    // one screen per state, in order, the last one the run ended
    const screens = done.stdout.split(new RegExp(`(?=^run {7}${id}$)`, "m"))
    const statuses = screens.map((screen) => /^status +(\S+)/m.exec(screen)?.[1])
    expect(statuses[0]).toBe("held")
    expect(statuses).toContain("running")
    expect(statuses.at(-1)).toBe("completed")
    expect(statuses.indexOf("running")).toBeLessThan(statuses.indexOf("completed"))
    expect(screens.at(-1)).toMatch(/^status +completed exit 0$/m)
    expect(screens.at(-1)).toMatch(/ running +completed +1 +exit 0$/m)
    expect(done.stdout).not.toMatch(EPOCH_MS)
  })
})
