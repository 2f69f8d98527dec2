/**
 * Acceptance of the `gantry` command line (SPEC §8): `-o` field selection, refusals of bad
 * input with the exit codes of Cli.ts's table and nothing changed in the database, and
 * `run` / `logs` / `logs -f` streaming a run's output.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"
import { type Daemon, sandbox } from "./Gantry.js"


describe.concurrent("SPEC §8 runs -o", () => {
  it("runs -o id,status,metadata.run_name --format json prints objects with exactly those keys, run_name from --metadata", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const alpha = await s.submit(["true"], ["--metadata", "run_name=alpha"])
    const beta = await s.submit(["true"], ["--metadata", "run_name=beta", "--metadata", "lr=0.1"])
    const plain = await s.submit(["true"])

    const result = await s.cli(["runs", "-o", "id,status,metadata.run_name", "--format", "json", "-l", "0"])
    expect(result.code, result.stderr).toBe(0)
    const rows = JSON.parse(result.stdout) as Array<Record<string, unknown>>
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(["id", "metadata.run_name", "status"])
    // newest first; a run without the field shows null
    expect(rows).toEqual([
      { id: plain, status: "pending", "metadata.run_name": null },
      { id: beta, status: "pending", "metadata.run_name": "beta" },
      { id: alpha, status: "pending", "metadata.run_name": "alpha" }
    ])
    // the value of --metadata K=V is parsed as JSON when it is JSON
    const all = await s.runs()
    expect(all.find((r) => r.id === beta)?.metadata).toEqual({ run_name: "beta", lr: 0.1 })

    const table = await s.ok(["runs", "-o", "id,metadata.run_name"])
    expect(table.split("\n")[0]).toMatch(/^ID\s+METADATA\.RUN_NAME$/)
    expect(table).toMatch(new RegExp(`^${alpha}\\s+alpha$`, "m"))
  })
})

// ------------------------------------------------------------------ bad input

interface BadCase {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly exit: number
  readonly stderr: RegExp
}

const badCases = (files: { readonly policy: string; readonly queue: string; readonly submission: string; readonly emptyCommand: string }): ReadonlyArray<BadCase> => [
  { name: "unknown queue", args: ["submit", "--queue", "nope", "--", "true"], exit: 66, stderr: /no queue nope/ },
  { name: "unknown queue (update)", args: ["queue", "update", "nope", "--pause"], exit: 66, stderr: /no queue nope/ },
  { name: "unknown queue (delete)", args: ["queue", "delete", "nope"], exit: 66, stderr: /no queue nope/ },
  { name: "unknown run id (cancel)", args: ["cancel", "999"], exit: 66, stderr: /no run 999/ },
  { name: "unknown run id (runs show)", args: ["runs", "show", "999"], exit: 66, stderr: /no run 999/ },
  { name: "unknown run id (approve)", args: ["approve", "999"], exit: 66, stderr: /no run 999/ },
  { name: "unknown run id (release)", args: ["release", "999"], exit: 66, stderr: /no run 999/ },
  { name: "unknown run id (reject)", args: ["reject", "999", "--reason", "no"], exit: 66, stderr: /no run 999/ },
  { name: "unknown run id (priority)", args: ["priority", "999", "5"], exit: 66, stderr: /no run 999/ },
  { name: "unknown GPU (gpu drain)", args: ["gpu", "drain", "9"], exit: 66, stderr: /no GPU 9/ },
  { name: "more GPUs than exist", args: ["submit", "--gpus", "5", "--", "true"], exit: 64, stderr: /5 GPUs/ },
  { name: "a device id that does not exist", args: ["submit", "--gpus", "1", "--device-ids", "7", "--", "true"], exit: 64, stderr: /GPU 7/ },
  { name: "malformed duration --time-limit 5x", args: ["submit", "--time-limit", "5x", "--", "true"], exit: 64, stderr: /--time-limit: malformed duration "5x"/ },
  { name: "malformed duration --deadline -3s", args: ["submit", "--deadline", "-3s", "--", "true"], exit: 64, stderr: /--deadline: malformed duration "-3s"/ },
  { name: "malformed duration --max-queued-time 0", args: ["submit", "--max-queued-time", "0", "--", "true"], exit: 64, stderr: /--max-queued-time: malformed duration "0"/ },
  { name: "negative --gpus -1", args: ["submit", "--gpus", "-1", "--", "true"], exit: 64, stderr: /--gpus must be a whole number ≥ 0, not -1/ },
  { name: "--max-attempts 0", args: ["submit", "--max-attempts", "0", "--", "true"], exit: 64, stderr: /--max-attempts must be at least 1, not 0/ },
  { name: "negative -l -1", args: ["runs", "-l", "-1"], exit: 64, stderr: /-l must be ≥ 0, not -1/ },
  { name: "negative limit max-concurrent=-1", args: ["limits", "set", "max-concurrent=-1"], exit: 64, stderr: /max-concurrent: expected a whole number/ },
  { name: "a zero limit max-concurrent=0", args: ["limits", "set", "max-concurrent=0"], exit: 64, stderr: /max-concurrent: expected a whole number ≥ 1 or "none", not "0"/ },
  { name: "a zero queue depth", args: ["queue", "create", "q3", "--depth", "0"], exit: 64, stderr: /--depth: expected a whole number ≥ 1 or "none", not "0"/ },
  { name: "unknown limit key", args: ["limits", "set", "max-concurent=3"], exit: 64, stderr: /unknown setting "max-concurent"/ },
  { name: "cleanup --days 0", args: ["cleanup", "--days", "0"], exit: 64, stderr: /--days must be from 1 to 365/ },
  { name: "unknown status filter", args: ["runs", "--status", "bogus"], exit: 64, stderr: /unknown status in "bogus"/ },
  { name: "unknown field in limits set --file", args: ["limits", "set", "--file", files.policy], exit: 64, stderr: /\["bogus"\][\s\S]*is unexpected/ },
  { name: "unknown field in queue create --file", args: ["queue", "create", "q2", "--file", files.queue], exit: 64, stderr: /\["bogus"\][\s\S]*is unexpected/ },
  { name: "unknown field in submit --file", args: ["submit", "--file", files.submission], exit: 64, stderr: /\["bogus"\][\s\S]*is unexpected/ },
  { name: "an empty command (submit --file)", args: ["submit", "--file", files.emptyCommand], exit: 64, stderr: /command/ },
  { name: "an empty program name", args: ["submit", "--", ""], exit: 64, stderr: /command/ },
  { name: "on behalf of a user the runner does not know", args: ["submit", "--as", "ghost", "--", "true"], exit: 66, stderr: /no user ghost/ },
  { name: "a queue that exists", args: ["queue", "create", "q"], exit: 65, stderr: /queue q already exists/ },
  { name: "queue depth full", args: ["submit", "--queue", "q", "--", "true"], exit: 75, stderr: /queue q is full \(depth 1\)/ }
]

describe.concurrent.each(["offline", "daemon"] as const)("SPEC §8 bad input is refused and changes nothing (%s)", (mode) => {
  it("each bad command prints a clear message on stderr, exits with its code, and the database is unchanged", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 4 })
    let daemon: Daemon | undefined
    if (mode === "daemon") daemon = await s.serve()
    await s.ok(["queue", "create", "q", "--depth", "1"])
    const first = await s.submit(s.script({ gate: true }), ["--queue", "q"])
    const policy = await s.json<Record<string, unknown>>(["limits"])
    const files = {
      policy: path.join(s.work, "policy.json"),
      queue: path.join(s.work, "queue.json"),
      submission: path.join(s.work, "submission.json"),
      emptyCommand: path.join(s.work, "empty-command.json")
    }
    fs.writeFileSync(files.policy, JSON.stringify({ ...policy, bogus: 1 }))
    fs.writeFileSync(files.queue, JSON.stringify({ maxConcurrent: 2, bogus: 1 }))
    fs.writeFileSync(files.submission, JSON.stringify({ command: ["true"], bogus: 1 }))
    fs.writeFileSync(files.emptyCommand, JSON.stringify({ command: [] }))
    if (daemon !== undefined) await s.waitStarted([first], { daemon })

    const dump = async () => ({
      runs: await s.runs(),
      queues: await s.json<unknown>(["queues"]),
      limits: await s.json<unknown>(["limits"]),
      gpus: await s.json<unknown>(["gpus"])
    })
    const before = await dump()
    expect(before.runs.map((r) => r.id)).toEqual([first])

    // the cases change nothing, so they may run side by side (three at a time)
    const failures: Array<string> = []
    const queue = [...badCases(files)]
    const worker = async () => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
        const r = await s.cli(c.args)
        if (r.code !== c.exit || !c.stderr.test(r.stderr) || !r.stderr.startsWith("gantry: ") || r.stdout !== "")
          failures.push(`${c.name}: gantry ${c.args.join(" ")} → exit ${r.code ?? r.signal} (want ${c.exit}), stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`)
      }
    }
    await Promise.all([worker(), worker(), worker()])
    expect.soft(failures).toEqual([])
    expect(await dump()).toEqual(before)
  })
})

// ------------------------------------------------------------------ run, logs, logs -f

describe.concurrent("SPEC §8 run and logs", () => {
  it("gantry run streams stdout and stderr and exits with the run's code; logs prints a finished run; logs -f follows a live one to its end", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()

    const run = await s.cli(["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"])
    expect(run.code, run.stderr).toBe(3)
    expect(run.stdout).toBe("out\n")
    expect(run.stderr).toContain("err\n")
    expect(run.stderr).not.toContain("out")
    const id = /gantry: run (\S+) /.exec(run.stderr)?.[1]
    expect(id, run.stderr).toBeDefined()
    const [ended] = await d.waitTerminal([id!])
    expect([ended?.status, ended?.exitCode]).toEqual(["failed", 3])

    const logs = await s.cli(["logs", id!])
    expect(logs).toMatchObject({ code: 0, stdout: "out\n", stderr: "err\n" })

    const live = await s.submit(s.script({ gate: true, body: "echo first; echo first-err >&2", after: "echo second; echo second-err >&2" }))
    await s.waitStarted([live], { daemon: d })
    const follow = s.spawn(["logs", "-f", live])
    await follow.waitOutput("the output so far", (p) => p.stdout.includes("first\n") && p.stderr.includes("first-err\n"))
    expect(follow.child.exitCode, "logs -f keeps following a running run").toBeNull()
    s.release(live)
    const followed = await follow.exited
    expect(followed.code, followed.stderr).toBe(0)
    expect(followed.stdout).toBe("first\nsecond\n")
    expect(followed.stderr).toBe("first-err\nsecond-err\n")
    const [liveRun] = await d.waitTerminal([live])
    expect(liveRun?.status).toBe("completed")
  })
})

// ------------------------------------------------------------------ --no-wait, --dry-run, retries

describe.concurrent("SPEC §4 --no-wait and --dry-run", () => {
  it("with a daemon: --no-wait starts now or is refused with 75 and nothing stored; --dry-run answers and stores nothing", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=1"])
    const d = await s.serve()
    const first = await s.submit(s.script({ gate: true }), ["--no-wait"])
    await s.waitStarted([first], { daemon: d })

    const refused = await s.cli(["submit", "--no-wait", "--", "true"])
    expect(refused.code).toBe(75)
    expect(refused.stderr).toMatch(/refused \(--no-wait\).*global-limit/)
    const wouldWait = await s.json<unknown>(["submit", "--dry-run", "--", "true"])
    expect(wouldWait).toEqual({ _tag: "DryRun", wouldStart: false, gpus: [], reason: "global-limit" })
    expect((await d.list()).map((r) => r.id)).toEqual([first])

    s.release(first)
    await d.waitTerminal([first])
    expect(await s.ok(["submit", "--dry-run", "--", "true"])).toBe("would start now on GPUs []\n")
    expect((await d.list()).map((r) => r.id)).toEqual([first])
  })

  it("with no daemon, --no-wait cannot start now, so it is refused and nothing is stored", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const r = await s.cli(["submit", "--no-wait", "--", "true"])
    // nothing can start while no runner serves the database: SPEC §4 "start now or refuse"
    expect(r.code, `stdout ${r.stdout} stderr ${r.stderr}`).not.toBe(0)
    expect([69, 75]).toContain(r.code)
    expect(r.stderr).toMatch(/^gantry: /)
    expect(await s.runs()).toEqual([])
  })
})

describe.concurrent("SPEC §8 gantry run: retries and cancel", () => {
  it("gantry run streams every attempt of a retried run and exits with the last one's code; a cancelled run exits 130", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    // attempt 1 prints and fails after its gate, attempt 2 prints and succeeds after its gate
    const retried = s.spawn([
      "run",
      "--max-attempts",
      "2",
      "--",
      ...s.script({ gate: true, body: "echo attempt-$GANTRY_ATTEMPT", after: `[ "$GANTRY_ATTEMPT" = 2 ] || exit 9` })
    ])
    await retried.waitOutput("attempt 1's output", (p) => p.stdout.includes("attempt-1\n"))
    const id = /gantry: run (\S+) /.exec(retried.stderr)![1]!
    s.release(id)
    await retried.waitOutput("attempt 2's output", (p) => p.stdout.includes("attempt-2\n"))
    s.release(id)
    const done = await retried.exited
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout).toBe("attempt-1\nattempt-2\n")
    const detail = await d.show(id)
    expect(detail.run).toMatchObject({ status: "completed", attempt: 2 })
    expect(detail.timeline.filter((e) => e.from === "pending" && e.to === "running").map((e) => e.attempt)).toEqual([1, 2])

    const cancelled = s.spawn(["run", "--", ...s.script({ gate: true, body: "echo waiting" })])
    await cancelled.waitOutput("the run's output", (p) => p.stdout.includes("waiting\n"))
    const cid = /gantry: run (\S+) /.exec(cancelled.stderr)![1]!
    await s.ok(["cancel", cid])
    const ended = await cancelled.exited
    expect(ended.code).toBe(130)
    expect(ended.stderr).toMatch(new RegExp(`gantry: run ${cid} cancelled`))
  })
})
