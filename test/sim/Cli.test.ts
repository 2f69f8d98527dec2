/**
 * The README's simulator commands (the block after "Try a policy change before rollout"'s
 * first) accepted as written by the real `gantry sim` (its bundle), at tiny sizes: a slice of
 * the trace, a few M/M/c jobs, a small generated workload. `npm run demo` runs the bundle too.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const gantry = join(root, "apps/runner/bin/gantry")

describe("README's gantry sim commands", () => {
  it("are accepted as written (at tiny sizes) and print their comparison", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const section = readme.slice(readme.indexOf("## Try a policy change before rollout"))
    const block = [...section.matchAll(/```sh\n([\s\S]*?)```/g)][1]?.[1] ?? ""
    const commands = [...block.matchAll(/^gantry (sim .+?)\s*(?:#.*)?$/gm)].map((m) => m[1]!.trim().split(/\s+/))
    expect(commands.length).toBeGreaterThanOrEqual(3)
    for (const words of commands) {
      // same flags, smaller sizes: the first 300 jobs of the trace, a few thousand M/M/c jobs, 200 generated
      const args = words.map((w, i) => (words[i - 1] === "--jobs" ? (words[1] === "mmc" ? "3000" : "200") : w))
      if (args.includes("--csv")) args.push("--limit", "300")
      if (args.includes("--generate") && !args.includes("--jobs")) args.push("--jobs", "200")
      const out = spawnSync(gantry, args, { cwd: root, encoding: "utf8", timeout: 120_000 })
      expect(out.status, `${args.join(" ")}\n${out.stderr}`).toBe(0)
      expect(out.stderr, args.join(" ")).toMatch(/^replayed \d+ jobs/m)
      expect(out.stdout, args.join(" ")).toMatch(args[1] === "mmc" ? /Erlang C .*mean wait/ : /^workload .* GPUs, seed \d+$/m)
    }
  })

  it("npm run demo runs the bundle: fifo against backfill on a generated workload", () => {
    const out = spawnSync("npm", ["run", "--silent", "demo"], { cwd: root, encoding: "utf8", timeout: 120_000 })
    expect(out.status, out.stderr).toBe(0)
    expect(out.stdout).toMatch(/^fifo /m)
    expect(out.stdout).toMatch(/^backfill /m)
  })
})
