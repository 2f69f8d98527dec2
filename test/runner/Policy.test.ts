/**
 * Roll out what was tested (issue 12): `gantry policy apply|history|diff|show` with the real
 * binary, a real SQLite file and a real `gantry serve` on 127.0.0.1.
 * - apply as an admin makes a new version, recorded with who, when, how and the note; as
 *   anyone else it is refused and nothing changes; a file with an unknown key is exit 65
 *   naming it, an unreadable one 66; a file equal to the live policy makes no version;
 * - every other way the policy changes (`limits set`, `PUT /api/policy`, the common API's
 *   `POST /api/queue/concurrency`) is in the history with its caller;
 * - diff between versions, `current` and files; an unknown version is a 404 (exit 66);
 * - a database from before the history gets one version, its live policy, when opened.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { describe, it } from "vitest"
import { type Daemon, ISO_TIME, ms, type Sandbox, sandbox } from "./Gantry.js"

const isRoot = process.getuid?.() === 0
const mapped = isRoot ? ["--unix-user", "nobody"] : []

interface PolicyJson {
  readonly version: number
  readonly limits: Record<string, number | null>
  readonly killGraceMs: number
  readonly backfill: boolean
  readonly [key: string]: unknown
}
interface Change {
  readonly key: string
  readonly from: unknown
  readonly to: unknown
}
interface VersionJson {
  readonly version: number
  readonly policy: PolicyJson
  readonly appliedBy: string | null
  readonly appliedAt: string
  readonly source: string
  readonly note: string | null
  readonly changes: ReadonlyArray<Change> | null
}

/** Writes a policy file in the sandbox's work folder; returns its path. */
const writeFile = (s: Sandbox, name: string, content: unknown): string => {
  const file = path.join(s.work, name)
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2))
  return file
}

const history = (s: Sandbox, flags: ReadonlyArray<string> = []) => s.json<ReadonlyArray<VersionJson>>(["policy", "history", ...flags])
const live = (d: Daemon) => d.api<PolicyJson>("GET", "/api/policy")

describe.concurrent("issue 12: policy apply, history, diff", () => {
  it("apply as an admin: a new version with who, when, how and the note, and what changed; the same file again makes none", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const ada = await s.token("ada", ["--level", "admin", ...mapped])
    const asAda = ["--url", d.url, "--token", ada]
    const before = await s.json<PolicyJson>(["limits"])
    const [first] = await history(s)
    // a new database's history begins with the policy in force: the built-in default
    expect(first).toMatchObject({ version: before.version, appliedBy: null, source: "default", note: null, changes: null })
    expect(first!.appliedAt).toMatch(ISO_TIME)

    // the file the runner writes, edited: what `gantry sim --policy` would have replayed
    const tested = writeFile(s, "tested.json", { ...before, limits: { ...before.limits, userMaxConcurrent: 2 }, backfill: false })
    const t0 = Date.now()
    const applied = await s.cli(["policy", "apply", tested, "--note", "cap users, as simulated", ...asAda])
    const t1 = Date.now()
    expect(applied.code, applied.stderr).toBe(0)
    expect(applied.stdout).toContain(`as policy version ${before.version + 1} (was version ${before.version})`)
    expect(applied.stdout).toMatch(/^ {2}limits\.userMaxConcurrent: none → 2$/m)
    expect(applied.stdout).toMatch(/^ {2}backfill: true → false$/m)
    const now = await live(d)
    expect(now).toEqual({ ...before, version: before.version + 1, limits: { ...before.limits, userMaxConcurrent: 2 }, backfill: false })

    const [newest, previous] = await history(s, ["--limit", "2"])
    expect(newest).toMatchObject({ version: before.version + 1, appliedBy: "ada", source: "apply", note: "cap users, as simulated", policy: now })
    expect(ms(newest!.appliedAt)).toBeGreaterThanOrEqual(t0 - 1)
    expect(ms(newest!.appliedAt)).toBeLessThanOrEqual(t1 + 1)
    expect(newest!.changes).toEqual([
      { key: "limits.userMaxConcurrent", from: null, to: 2 },
      { key: "backfill", from: true, to: false }
    ])
    expect(previous?.version).toBe(before.version)
    // the table: who, how, the note and a summary of the change
    const table = await s.ok(["policy", "history"])
    expect(table).toMatch(new RegExp(`^${before.version + 1} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +ada +apply +cap users, as simulated +limits\\.userMaxConcurrent: none → 2; backfill: true → false$`, "m"))
    expect(table).toMatch(new RegExp(`^${before.version} +.* system +default +- +the built-in default$`, "m"))

    // the same file again (its own version says nothing): no new version, and it says so
    const again = await s.cli(["policy", "apply", tested, ...asAda])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/no change: .*tested\.json is the live policy \(version \d+\); no new version/)
    const againJson = await s.json<{ applied: boolean; version: number }>(["policy", "apply", tested, ...asAda])
    expect(againJson).toMatchObject({ applied: false, version: before.version + 1 })
    expect((await history(s)).map((v) => v.version)).toEqual([before.version + 1, before.version])
    expect(await live(d)).toEqual(now)
  })

  it("apply as anyone but an admin is refused and changes nothing; a bad file is 65 naming the key, an unreadable one 66", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const lena = await s.token("lena", ["--level", "lead", ...mapped])
    const ana = await s.token("ana", ["--level", "researcher", ...mapped])
    const before = await live(d)
    const historyBefore = await history(s)
    const changed = writeFile(s, "changed.json", { ...before, killGraceMs: 30_000 })
    for (const [who, token] of [
      ["lena", lena],
      ["ana", ana]
    ] as const) {
      const r = await s.cli(["policy", "apply", changed, "--url", d.url, "--token", token])
      expect(r.code, `${who}: ${r.stderr}`).toBe(77)
      expect(r.stderr).toMatch(new RegExp(`gantry: ${who} is an? (lead|researcher): only an admin may change limits and policy`))
    }
    // an unknown key, named with its path; nothing is sent
    const typo = writeFile(s, "typo.json", { ...before, limits: { ...before.limits, userMaxConcurent: 2 } })
    const bad = await s.cli(["policy", "apply", typo])
    expect(bad.code).toBe(65)
    expect(bad.stderr).toMatch(/typo\.json: limits\.userMaxConcurent: unknown key/)
    const wrongValue = writeFile(s, "zero.json", { ...before, limits: { ...before.limits, maxConcurrent: 0 } })
    const zero = await s.cli(["policy", "apply", wrongValue])
    expect(zero.code).toBe(65)
    expect(zero.stderr).toMatch(/zero\.json: limits\.maxConcurrent: /)
    const notJson = await s.cli(["policy", "apply", writeFile(s, "broken.json", "{ nope")])
    expect(notJson.code).toBe(65)
    expect(notJson.stderr).toMatch(/broken\.json: not JSON/)
    const missing = await s.cli(["policy", "apply", path.join(s.work, "absent.json")])
    expect(missing.code).toBe(66)
    expect(missing.stderr).toMatch(/absent\.json: cannot read it \(ENOENT\)/)
    // wrong usage
    expect((await s.cli(["policy", "apply"])).code).toBe(64)
    expect((await s.cli(["policy", "history", "--limit", "0"])).code).toBe(64)
    expect(await live(d)).toEqual(before)
    expect(await history(s)).toEqual(historyBefore)
  })

  it("limits set, PUT /api/policy and POST /api/queue/concurrency are versions too, each with its caller; concurrent changes get one version each", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const ada = await s.token("ada", ["--level", "admin", ...mapped])
    const owner = (await s.json<{ name: string }>(["whoami"])).name
    const start = (await live(d)).version
    // through the daemon with its session token: the database's owner
    await s.ok(["limits", "set", "max-concurrent=3"])
    await s.ok(["limits", "set", "user-max-concurrent=2", "--url", d.url, "--token", ada])
    await d.api("POST", "/api/queue/concurrency", { user_max_concurrent: 1 }, { token: ada })
    const current = await live(d)
    // the body's version is not taken: the runner numbers it
    await d.api("PUT", "/api/policy?note=grace%20for%20checkpoints", { ...current, version: 1, killGraceMs: 60_000 }, { token: ada })
    // a change that changes nothing makes no version, whichever way it comes
    await s.ok(["limits", "set", "max-concurrent=3"])
    await d.api("POST", "/api/queue/concurrency", { max_concurrent: 3 }, { token: ada })
    await d.api("PUT", "/api/policy", await live(d), { token: ada })
    const versions = await history(s, ["--limit", "4"])
    expect(versions.map((v) => [v.version, v.appliedBy, v.source, v.note])).toEqual([
      [start + 4, "ada", "put", "grace for checkpoints"],
      [start + 3, "ada", "concurrency", null],
      [start + 2, "ada", "limits set", null],
      [start + 1, owner, "limits set", null]
    ])
    expect(versions.map((v) => v.changes)).toEqual([
      [{ key: "killGraceMs", from: 10_000, to: 60_000 }],
      [{ key: "limits.userMaxConcurrent", from: 2, to: 1 }],
      [{ key: "limits.userMaxConcurrent", from: null, to: 2 }],
      [{ key: "limits.maxConcurrent", from: null, to: 3 }]
    ])
    expect((await live(d)).version).toBe(start + 4)

    // eight changes at once: eight versions, numbered one after another, none lost
    const base = await live(d)
    await Promise.all(Array.from({ length: 8 }, (_, i) => d.api("PUT", "/api/policy", { ...base, killGraceMs: 1_000 + i }, { token: ada })))
    const burst = (await history(s, ["--limit", "8"])).map((v) => v.version)
    expect(burst).toEqual(Array.from({ length: 8 }, (_, i) => base.version + 8 - i))
    expect((await live(d)).version).toBe(base.version + 8)
    // the API: one version, and a 404 for one that does not exist
    const one = await d.api<VersionJson>("GET", `/api/policy/versions/${start + 1}`)
    expect(one).toMatchObject({ version: start + 1, appliedBy: owner, source: "limits set", policy: { limits: { maxConcurrent: 3 } } })
    await expect(d.api("GET", "/api/policy/versions/424242")).rejects.toMatchObject({ status: 404, body: { code: "NOT_FOUND", message: "no policy version 424242 (gantry policy history lists them)" } })
  })

  it("diff: between versions, current and files; identical says so; an unknown version is a 404 (exit 66)", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const v1 = await live(d)
    await s.ok(["limits", "set", "user-max-concurrent=2", "team-max-concurrent=4"])
    await s.ok(["limits", "set", "user-max-concurrent=none", "backfill=false"])
    const [a, b, c] = [v1.version, v1.version + 1, v1.version + 2]
    const ab = await s.cli(["policy", "diff", String(a), String(b)])
    expect(ab.code).toBe(0)
    expect(ab.stdout).toBe(`version ${a} → version ${b}:\n  limits.userMaxConcurrent: none → 2\n  limits.teamMaxConcurrent: none → 4\n`)
    expect((await s.ok(["policy", "diff", String(b), "current"])).split("\n")).toEqual([`version ${b} → current (version ${c}):`, "  limits.userMaxConcurrent: 2 → none", "  backfill: true → false", ""])
    expect(await s.json(["policy", "diff", String(b), String(c)])).toEqual({
      a: `version ${b}`,
      b: `version ${c}`,
      identical: false,
      changes: [
        { key: "limits.userMaxConcurrent", from: 2, to: null },
        { key: "backfill", from: true, to: false }
      ]
    })
    // a file: the live one as `limits --format json` writes it is identical to current
    const exported = writeFile(s, "live.json", await s.ok(["limits", "--format", "json"]))
    expect(await s.ok(["policy", "diff", "current", exported])).toBe(`current (version ${c}) and ${exported} (version ${c} in the file) are identical\n`)
    const tried = writeFile(s, "tried.json", { ...v1, aging: null })
    expect(await s.ok(["policy", "diff", String(a), tried])).toMatch(/^ {2}aging: \{"starvationThresholdMs":1800000,"agingStep":5,"agingIntervalMs":600000\} → none$/m)
    // two files need no runner
    await d.terminate()
    expect(await s.ok(["policy", "diff", exported, tried])).toMatch(/^ {2}backfill: false → true$/m)
    // offline too, and an unknown version is a 404's message and exit
    expect(await s.ok(["policy", "diff", String(a), String(a)])).toBe(`version ${a} and version ${a} are identical\n`)
    const unknown = await s.cli(["policy", "diff", "99", "current"])
    expect(unknown.code).toBe(66)
    expect(unknown.stderr).toBe("gantry: no policy version 99 (gantry policy history lists them)\n")
    const nonsense = await s.cli(["policy", "diff", "latest", "current"])
    expect(nonsense.code).toBe(66)
    expect(nonsense.stderr).toMatch(/latest: cannot read it \(ENOENT\): neither a version number, current, nor a policy file/)
    const badFile = await s.cli(["policy", "diff", "current", writeFile(s, "typo.json", { ...v1, bogus: true })])
    expect(badFile.code).toBe(65)
    expect(badFile.stderr).toMatch(/typo\.json: bogus: unknown key/)
  })

  it("without a daemon: apply and history act as the database's owner; show names a version's origin", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    // no database yet: limits only reads, apply may create it (as limits set may)
    expect((await s.cli(["limits"])).code).toBe(66)
    const shared = writeFile(s, "shared.json", {
      version: 1,
      limits: { maxConcurrent: 5, userMaxConcurrent: 2, teamMaxConcurrent: 10, localGpuMaxConcurrent: null, localJobMaxConcurrent: null },
      aging: { starvationThresholdMs: 1_800_000, agingStep: 5, agingIntervalMs: 600_000 },
      fairShare: { mode: "limits", halfLifeMs: 86_400_000 },
      approvalRules: [],
      backfill: true,
      levelPriorities: { admin: 30, lead: 20, researcher: 10, viewer: 0 },
      killGraceMs: 10_000
    })
    const applied = await s.json<{ applied: boolean; version: number; previous: number; changes: ReadonlyArray<Change> }>(["policy", "apply", shared, "--note", "shared server"])
    expect(applied).toEqual({
      applied: true,
      version: 2,
      previous: 1,
      changes: [
        { key: "limits.maxConcurrent", from: null, to: 5 },
        { key: "limits.userMaxConcurrent", from: null, to: 2 },
        { key: "limits.teamMaxConcurrent", from: null, to: 10 },
        { key: "fairShare.mode", from: "off", to: "limits" }
      ]
    })
    const owner = (await s.json<{ name: string }>(["whoami"])).name
    expect((await history(s)).map((v) => [v.version, v.appliedBy, v.source, v.note])).toEqual([
      [2, owner, "apply", "shared server"],
      [1, null, "default", null]
    ])
    const shown = await s.ok(["policy", "show"])
    expect(shown).toMatch(new RegExp(`^policy version 2: applied \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d by ${owner} \\(apply\\): shared server$`, "m"))
    expect(shown).toMatch(/^user-max-concurrent +2$/m)
    expect(await s.json(["policy", "show", "1"])).toMatchObject({ version: 1, appliedBy: null, source: "default", policy: { limits: { maxConcurrent: null } } })
    expect((await s.cli(["policy", "show", "7"])).code).toBe(66)
    expect((await s.cli(["policy", "show", "newest"])).code).toBe(64)
  })

  it("a database from before the history (migration 0005) gets one version when opened: its live policy, nobody's", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=4", "kill-grace=20s"])
    const liveBefore = await s.json<PolicyJson>(["limits"])
    // the database as the runner of issue 12 left it: no history table, no migration 6
    const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new (file: string) => { exec(sql: string): void; close(): void }
    const conn = new Sqlite(s.db)
    conn.exec("DROP TABLE policy_versions; DELETE FROM schema_migrations WHERE migration_id = 6")
    conn.close()
    const t0 = Date.now()
    const versions = await history(s)
    expect(versions).toEqual([{ version: liveBefore.version, policy: liveBefore, appliedBy: null, appliedAt: expect.stringMatching(ISO_TIME), source: "migration", note: null, changes: null }])
    expect(ms(versions[0]!.appliedAt)).toBeGreaterThanOrEqual(t0 - 1)
    expect(await s.ok(["policy", "history"])).toMatch(new RegExp(`^${liveBefore.version} +.* system +migration +- +the policy in force when history began$`, "m"))
    // and the next change is the version after it
    await s.ok(["limits", "set", "max-concurrent=2"])
    expect((await history(s)).map((v) => [v.version, v.source])).toEqual([
      [liveBefore.version + 1, "limits set"],
      [liveBefore.version, "migration"]
    ])
  })
})
