/**
 * `gantry submit --from FILE.jsonl` (issue 11): scripts that submit thousands send one file,
 * stored in one transaction: all of it, or nothing and the bad line named, whether the CLI
 * finds it (malformed) or the runner does (a queue that fills up on the last line).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"
import { type RunJson, sandbox } from "./Gantry.js"

const jsonl = (dir: string, name: string, lines: ReadonlyArray<unknown>): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, `${lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n")}\n`)
  return file
}

describe.concurrent("issue 11: submit --from FILE.jsonl", () => {
  it("10,000 lines through the daemon are stored in one transaction: one submission instant, consecutive ids", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const file = jsonl(s.work, "many.jsonl", Array.from({ length: 10_000 }, (_, i) => ({ command: ["echo", String(i)], hold: true, name: `job-${i}` })))
    const out = await s.ok(["submit", "--from", file])
    expect(out).toBe("10000 runs submitted in one transaction: 1 … 10000\n")
    const runs = await d.list()
    expect(runs).toHaveLength(10_000)
    // one commit: every run was submitted at the same instant, in the file's order
    expect(new Set(runs.map((r) => r.submittedAt)).size).toBe(1)
    const byName = new Map(runs.map((r) => [r.name, r] as const))
    for (const i of [0, 1, 4_999, 9_999]) expect(byName.get(`job-${i}`)?.id).toBe(String(i + 1))
    expect(runs.every((r) => r.status === "held" && r.user === "tester")).toBe(true)
  })

  it("a bad line anywhere stores nothing and is named: malformed (the CLI) or refused by the runner (a full queue on the last line)", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    await s.ok(["queue", "create", "q", "--depth", "999", "--pause"])
    const good = { command: ["true"], queue: "q" }
    const malformed = jsonl(s.work, "bad.jsonl", [good, "", good, { command: [], queue: "q" }, good])
    const refused = await s.cli(["submit", "--from", malformed])
    expect(refused.code).toBe(64)
    expect(refused.stderr).toMatch(new RegExp(`^gantry: ${malformed.replace(/[.]/g, "\\.")}:4: submission: \\["command"\\] command: name a program to run`))
    const notJson = jsonl(s.work, "notjson.jsonl", [good, "{oops"])
    expect((await s.cli(["submit", "--from", notJson])).stderr).toMatch(/notjson\.jsonl:2: not JSON/)
    // the runner refuses the 1,000th: the queue holds 999
    const full = jsonl(s.work, "full.jsonl", Array.from({ length: 1_000 }, () => good))
    const over = await s.cli(["submit", "--from", full])
    expect(over.code).toBe(75)
    expect(over.stderr).toMatch(/full\.jsonl:1000: queue q is full \(depth 999\) \(nothing was submitted\)/)
    expect(await d.list()).toEqual([])
    // with other flags it is refused: every field comes from the file
    const flags = await s.cli(["submit", "--from", full, "--gpus", "2"])
    expect(flags.code).toBe(64)
    expect(flags.stderr).toMatch(/--from takes every field from .*: give --gpus there/)
    // and over HTTP: a refused submission is named by its index; nothing stored
    const body = { submissions: [good, { ...good, level: "viewer" }] }
    const r = await fetch(`${d.url}/api/runs/bulk`, { method: "POST", headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" }, body: JSON.stringify(body) })
    expect(r.status).toBe(403)
    expect(await r.json()).toMatchObject({ code: "PERMISSION_DENIED", detail: expect.stringMatching(/^submission 2: a run's level comes from its owner's identity/) })
    expect(await d.list()).toEqual([] as ReadonlyArray<RunJson>)
  })
})
