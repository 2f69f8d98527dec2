/**
 * `gantry sim` (issue 12, first step): what-if replays from the gantry CLI. A generated or a
 * CSV workload (gantry's format or the Philly trace's) under several policies, side by side,
 * deterministic for a seed; bad input named with exit 65, a file it cannot read 66, a wrong
 * combination of options 64, like every other command.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"
import { sandbox } from "./Gantry.js"

interface Compared {
  readonly workload: { readonly name: string; readonly jobs: number }
  readonly gpus: number
  readonly seed: number
  readonly policies: ReadonlyArray<{ readonly name: string; readonly metrics: { readonly jobs: number; readonly overall: { readonly waitMeanMs: number; readonly started: number } } }>
}

describe("issue 12: gantry sim", () => {
  it("compares policies on a generated workload, the same for the same seed; on a CSV of gantry's format or the Philly trace's", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const args = ["sim", "--generate", "--jobs", "300", "--gpus", "8", "--policy", "fifo", "--policy", "backfill"]
    const [first, again] = await Promise.all([s.json<Compared>(args), s.json<Compared>(args)])
    expect(first).toEqual(again)
    expect(first).toMatchObject({ gpus: 8, seed: 1, workload: { jobs: 300 } })
    expect(first.policies.map((p) => [p.name, p.metrics.jobs])).toEqual([
      ["fifo", 300],
      ["backfill", 300]
    ])
    // the same runs, another order: backfill's waits are no longer than fifo's on average
    expect(first.policies[1]!.metrics.overall.waitMeanMs).toBeLessThanOrEqual(first.policies[0]!.metrics.overall.waitMeanMs)

    const csv = path.join(s.work, "history.csv")
    fs.writeFileSync(csv, ["user,team,gpus,submit,duration,time_limit", "ana,vision,2,0,600,700", "bo,speech,2,10,60,120", "cy,vision,1,20,30,60", ""].join("\n"))
    const table = await s.ok(["sim", "--csv", csv, "--gpus", "2", "--policy", "fifo", "--policy", "backfill", "--policy", "priority"])
    expect(table).toMatch(/^workload history\.csv \(3 jobs\), 2 GPUs, seed 1$/m)
    expect(table).toMatch(/^fifo +3 +3 /m)
    expect(table).toMatch(/^against fifo +wait p50/m)
    expect(table).toMatch(/^== priority$/m)

    const philly = path.join(s.work, "philly.csv")
    fs.writeFileSync(philly, ["timestamp,duration,num_gpus,gpu_time,cluster", "2017-10-03 00:00:00,600,1,600,6214e9", "2017-10-03 00:01:00,60,2,120,b436b2", ""].join("\n"))
    const replay = await s.json<Compared>(["sim", "--csv", philly, "--gpus", "2", "--policy", "fifo"])
    expect(replay.policies[0]!.metrics.jobs).toBe(2)
  })

  it("replays the policies in worker threads with the same results as one after the other; --until stops every replay at that instant", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const args = ["sim", "--generate", "--jobs", "400", "--gpus", "8", "--policy", "fifo", "--policy", "fair-share", "--policy", "backfill"]
    // the default is a thread per policy, at most one per core; --threads 1 replays them here, in turn
    const [threaded, serial, two] = await Promise.all([s.json<Compared>(args), s.json<Compared>([...args, "--threads", "1"]), s.json<Compared>([...args, "--threads", "2"])])
    expect(threaded).toEqual(serial)
    expect(two).toEqual(serial)
    expect(serial.policies.map((p) => p.name)).toEqual(["fifo", "fair-share", "backfill"])
    // a generated workload arrives over days: stopped after 6 h, fewer jobs were submitted, and not all started
    const cut = await s.json<Compared>([...args, "--until", "6h"])
    for (const [i, p] of cut.policies.entries()) {
      expect(p.metrics.jobs).toBeLessThan(serial.policies[i]!.metrics.jobs)
      expect(p.metrics.overall.started).toBeLessThanOrEqual(p.metrics.jobs)
    }
    expect((await s.cli([...args, "--threads", "0"])).code).toBe(64)
    expect((await s.cli([...args, "--until", "soon"])).code).toBe(64)
  })

  it("refuses bad input naming the line or key (65), a file it cannot read (66) or write (73), a wrong combination of options or an unknown one (64)", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const file = (name: string, text: string) => {
      const at = path.join(s.work, name)
      fs.writeFileSync(at, text)
      return at
    }
    const missingColumn = file("no-gpus.csv", "user,submit,duration\nana,0,60\n")
    const negative = file("negative.csv", "user,gpus,submit,duration\nana,1,0,60\nbo,1,5,-3\n")
    const policy = file("typo.json", JSON.stringify({ version: 1, limits: { maxConcurent: 3 } }))
    const good = file("ok.csv", "user,gpus,submit,duration\nana,1,0,60\n")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, RegExp]> = [
      [["sim", "--csv", missingColumn, "--gpus", "2"], 65, /no-gpus\.csv:1: missing column gpus/],
      [["sim", "--csv", negative, "--gpus", "2"], 65, /negative\.csv:3: duration: want seconds/],
      [["sim", "--csv", good, "--gpus", "2", "--policy", policy], 65, /typo\.json: .*limits\.maxConcurent: unknown key/],
      [["sim", "--csv", good, "--gpus", "2", "--policy", "strict"], 65, /--policy strict: neither a preset \(fifo, priority, fair-share, backfill\) nor a readable policy file/],
      [["sim", "--csv", good, "--gpus", "2", "--policy", "fifo", "--policy", file("big.csv", "")], 65, /big\.csv: not JSON/],
      [["sim", "--csv", file("huge.csv", "user,gpus,submit,duration\nana,9,0,60\n"), "--gpus", "2"], 65, /job j000001 asks for 9 GPUs; the machine has 2/],
      [["sim", "--csv", path.join(s.work, "nope.csv"), "--gpus", "2"], 66, /--csv .*nope\.csv: cannot read it/],
      [["sim", "--csv", good], 64, /--csv needs --gpus N/],
      [["sim"], 64, /give the workload: --csv PATH, --from-db PATH or --generate/],
      [["sim", "--generate", "--csv", good], 64, /give the workload/],
      [["sim", "--generate", "--no-backfill"], 64, /--no-backfill/],
      [["sim", "--csv", good, "--gpus", "2", "--wait-threshold", "soon"], 64, /--wait-threshold: malformed duration "soon"/],
      [["sim", "--csv", good, "--gpus", "2", "--report", path.join(s.work, "no-such-dir", "r.html")], 73, /--report .*no-such-dir\/r\.html: cannot write it \(ENOENT\)/]
    ]
    const results = await Promise.all(cases.map(([args]) => s.cli(args)))
    cases.forEach(([args, code, message], i) => {
      expect(results[i]!.code, args.join(" ")).toBe(code)
      expect(results[i]!.stderr, args.join(" ")).toMatch(message)
      expect(results[i]!.stdout, args.join(" ")).toBe("")
    })
    const help = await s.cli(["sim", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/--policy/)
    expect(help.stdout).toMatch(/--report/)
    expect(help.stdout).toMatch(/--wait-threshold/)
    expect(help.stdout).not.toMatch(/\x1b\[/)
  })
})
