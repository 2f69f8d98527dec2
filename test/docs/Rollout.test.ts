/**
 * README's "Try a policy change before rollout" is run as written (its first shell block): a
 * scratch server with fake GPUs, a few real runs, the what-if from its database against a
 * candidate file with the HTML report, the rollout and the history. Only GANTRY_HOME's folder
 * is chosen by the test (the block makes it with mktemp; TMPDIR puts it where the test can clean up).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../..")
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const section = readme.slice(readme.indexOf("## Try a policy change before rollout"))
const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1]
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-rollout-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe("README: Try a policy change before rollout", () => {
  it("runs as written: the history replayed under current, the candidate and a preset, the report written, the candidate rolled out and in the history", () => {
    expect(block, "the section has a shell block").toBeDefined()
    const env: Record<string, string> = { ...process.env, TMPDIR: tmp } as Record<string, string>
    delete env.GANTRY_HOME
    delete env.GANTRY_FAKE_GPUS
    // the server's pid is killed by the block's last line; a failing line stops it (-e)
    const out = spawnSync("bash", ["-e", "-c", block!], { cwd: root, env, encoding: "utf8", timeout: 240_000 })
    expect(out.stderr, out.stdout).not.toMatch(/gantry: /)
    expect(out.status, `${out.stdout}\n${out.stderr}`).toBe(0)
    const [home] = fs.readdirSync(tmp).filter((f) => fs.existsSync(path.join(tmp, f, "gantry.db")))
    expect(home, "the block's GANTRY_HOME").toBeDefined()
    const dir = path.join(tmp, home!)
    // the what-if: the database named, three policies, current with its version, fidelity
    expect(out.stdout).toMatch(/database .*gantry\.db/)
    expect(out.stdout).toMatch(/^current \(v\d+\)/m)
    expect(out.stdout).toMatch(/^candidate /m) // a policy file is named by its base name
    expect(out.stdout).toMatch(/^fair-share /m)
    expect(out.stdout).toMatch(/fidelity|start order/i)
    // the report, one self-contained file with its four charts
    const html = fs.readFileSync(path.join(dir, "report.html"), "utf8")
    for (const chart of ["wait-distribution", "gpu-utilisation", "queue-length", "team-waits"]) expect(html).toContain(`data-chart="${chart}"`)
    expect(html).not.toMatch(/<script[^>]+src=/)
    // rolled out: the candidate is in force and the history says who, how and why
    const candidate = JSON.parse(fs.readFileSync(path.join(dir, "candidate.json"), "utf8")) as { limits: { userMaxConcurrent: number | null } }
    expect(candidate.limits.userMaxConcurrent).toBe(1)
    expect(out.stdout).toMatch(/one run per user at a time/)
    expect(out.stdout).toMatch(/apply/)
  }, 300_000)
})
