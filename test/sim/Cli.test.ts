/**
 * `npm run sim` (libs/sim/src/cli.ts) as a user runs it: the real CLI in a child process.
 * `--help` prints help and runs nothing; an unknown command or flag and a malformed value
 * exit 64 naming it, running nothing; a tiny real run prints the SEED line first; and the
 * README's `npm run sim` commands are accepted as written (at tiny sizes).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

const sim = (...args: ReadonlyArray<string>) => {
  const r = spawnSync(join(root, "node_modules/.bin/tsx"), ["--conditions=@gantry/source", "libs/sim/src/cli.ts", ...args], { cwd: root, encoding: "utf8", timeout: 60_000 })
  // help is coloured by @effect/cli; compare plain text
  const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "")
  return { status: r.status, stdout: plain(r.stdout), stderr: plain(r.stderr) }
}

/** Nothing was simulated: no SEED line, no summary. */
const ranNothing = (out: { stdout: string }) => expect(out.stdout).not.toMatch(/SEED=|submitted \d+/)

describe("the sim CLI", () => {
  it("--help lists the commands and runs nothing", () => {
    const out = sim("--help")
    expect(out.status).toBe(0)
    for (const command of ["demo", "philly", "mmc"]) expect(out.stdout).toContain(command)
    ranNothing(out)
  })

  it("philly --help describes every flag and runs nothing (it used to replay all 82,247 jobs)", () => {
    const out = sim("philly", "--help")
    expect(out.status).toBe(0)
    for (const flag of ["--gpus", "--limit", "--seed", "--path", "--shared", "--time-limit-factor"]) expect(out.stdout).toContain(flag)
    ranNothing(out)
  })

  it.each([
    { args: ["philly", "--limit", "5", "--policy", "strict"], names: "--policy" },
    { args: ["--policy", "strict", "philly"], names: "--policy" },
    { args: ["replay"], names: "replay" }
  ])("an unknown flag or command ($names) exits 64 naming it and runs nothing", ({ args, names }) => {
    const out = sim(...args)
    expect(out.status).toBe(64)
    expect(out.stderr).toContain(names)
    ranNothing(out)
  })

  it.each([
    { args: ["mmc", "--jobs", "many"], message: '--jobs takes a whole number ≥ 0, got "many"' },
    { args: ["mmc", "--load", "high"], message: '--load takes a number ≥ 0, got "high"' },
    { args: ["philly", "--limit", "5", "--time-limit-factor", "0.5"], message: '--time-limit-factor takes a number ≥ 1, got "0.5"' }
  ])("a malformed value ($args) exits 64 naming it and runs nothing", ({ args, message }) => {
    const out = sim(...args)
    expect(out.status).toBe(64)
    expect(out.stderr).toContain(message)
    ranNothing(out)
  })

  it("a tiny M/M/c run prints the SEED line and its options first, then the comparison with Erlang C", () => {
    const out = sim("mmc", "--servers", "2", "--load", "0.5", "--jobs", "200", "--seed", "3")
    expect(out.status).toBe(0)
    const lines = out.stdout.trim().split("\n")
    expect(lines[0]).toBe("SEED=3 workload=mmc-c2-rho0.5-s3 jobs=200 gpus=2 fairShare=off backfill=on aging=on maxConcurrent=gpus userMax=none teamMax=none lost=0")
    expect(lines[1]).toMatch(/^submitted 200, refused 0, 600 run events, \d+ cycles, simulated /)
    expect(lines[lines.length - 1]).toMatch(/^mean wait \d+ ms, Erlang C \d+ ms; wall \d+\.\d\d s$/)
  })

  /** A few jobs in the Philly trace's format (libs/sim Philly.ts), in a temporary file. */
  const phillySample = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-philly-"))
    const file = join(dir, "philly-jobs.csv")
    const rows = Array.from({ length: 40 }, (_, i) => {
      const [duration, gpus] = [60 + i * 7, 1 + (i % 4)]
      return `2017-10-09 0${i % 10}:${String(i).padStart(2, "0")}:00,${duration}.0,${gpus},${duration * gpus}.0,c${i % 3}`
    })
    writeFileSync(file, ["timestamp,duration,num_gpus,gpu_time,cluster", ...rows, ""].join("\n"))
    return file
  }

  it("the README's sim commands are accepted as written (run at tiny sizes)", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const commands = [...readme.matchAll(/^npm run sim -- (.+?)\s*(?:#.*)?$/gm)].map((m) => m[1]!.trim().split(/\s+/))
    expect(commands.length).toBeGreaterThanOrEqual(3)
    for (const words of commands) {
      // same flags, smaller sizes: a slice of the trace, a few M/M/c jobs
      const args = words.map((w, i) => (words[i - 1] === "--limit" ? "30" : words[i - 1] === "--jobs" ? "50" : w))
      if (args[0] === "philly" && !args.includes("--limit")) args.push("--limit", "30")
      // the trace itself lives beside the repository (../shared/data), which a clean clone
      // (CI) lacks: a few rows in its format stand in for it
      if (args[0] === "philly") args.push("--path", phillySample())
      const out = sim(...args)
      expect(out.stderr, args.join(" ")).toBe("")
      expect(out.status, args.join(" ")).toBe(0)
      expect(out.stdout, args.join(" ")).toMatch(/^SEED=\d+ /)
    }
  })
})
