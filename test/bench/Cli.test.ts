/**
 * `npm run bench` (benchmarks/bin/bench) as a user runs it: the real bundle in a child
 * process. `--help` prints help and runs nothing; an unknown benchmark or flag and a
 * malformed value exit 64 naming it, running nothing; one tiny real run prints its table.
 * (npm test also runs every benchmark at smoke size: the benchmarks project's test.)
 */
import { spawnSync } from "node:child_process"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

const bench = (...args: ReadonlyArray<string>) => {
  // the first call may rebuild the bundle (esbuild, a few seconds)
  const r = spawnSync(join(root, "benchmarks/bin/bench"), args, { cwd: root, encoding: "utf8", timeout: 120_000 })
  const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "")
  return { status: r.status, stdout: plain(r.stdout), stderr: plain(r.stderr) }
}

/** No benchmark ran: none of their headers. */
const ranNothing = (out: { stdout: string }) => expect(out.stdout).not.toMatch(/^(dispatch|sim|runner|latency): /m)

describe("the bench CLI", () => {
  it("--help lists the benchmarks and --smoke, and runs nothing", () => {
    const out = bench("--help")
    expect(out.status).toBe(0)
    for (const word of ["dispatch", "sim", "runner", "latency", "--smoke"]) expect(out.stdout).toContain(word)
    ranNothing(out)
  })

  it("NAME --help describes that benchmark and runs nothing", () => {
    const out = bench("runner", "--help")
    expect(out.status).toBe(0)
    expect(out.stdout).toContain("task-spooler")
    ranNothing(out)
  })

  it.each([
    { args: ["dispatch", "--no-backfill"], names: "--no-backfill" },
    { args: ["--policy", "strict"], names: "--policy" },
    { args: ["--smoke", "throughput"], names: "throughput" }
  ])("an unknown flag or benchmark ($names) exits 64 naming it and runs nothing", ({ args, names }) => {
    const out = bench(...args)
    expect(out.status).toBe(64)
    expect(out.stderr).toContain(names)
    ranNothing(out)
  })

  it("a malformed value (--smoke=maybe) exits 64 naming it and runs nothing", () => {
    const out = bench("dispatch", "--smoke=maybe")
    expect(out.status).toBe(64)
    expect(out.stderr).toContain("maybe")
    ranNothing(out)
  })

  it("a tiny real run: dispatch --smoke prints its table (and --smoke before the name means the same)", () => {
    for (const args of [["dispatch", "--smoke"], ["--smoke", "dispatch"]]) {
      const out = bench(...args)
      expect(out.status, out.stderr).toBe(0)
      const lines = out.stdout.trim().split("\n")
      expect(lines[0]).toMatch(/^dispatch: one decide\(\) cycle/)
      expect(lines[1]).toBe("pending    decide µs  starts  examined  µs/start  full-scan µs  speed-up")
      expect(lines.slice(2, 4).map((l) => l.trim().split(/\s+/)[0])).toEqual(["1000", "10000"])
      expect(lines[4]).toMatch(/^growth 1000 → 10000 pending: \d+\.\d\d×$/)
    }
  })
})
