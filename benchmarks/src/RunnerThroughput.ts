/**
 * Runner throughput: N trivial `true` runs end to end, with 1 and 2 slots, through
 * `gantry serve` (synchronous=FULL) and through task-spooler (`tsp`), in the same process,
 * one after the other. Both get the runs one at a time from this process — tsp through its
 * client (one process per job, as a shell loop would), gantry through its HTTP API (one
 * request per run, each acknowledged only after its commit) — and the clock stops when the
 * last run has ended.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const GANTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../apps/runner/bin/gantry")

export const tspAvailable = (): boolean => spawnSync("tsp", ["-V"], { stdio: "ignore" }).status === 0

/** Seconds for `runs` jobs through a fresh task-spooler server with `slots` slots. */
export const tspSeconds = (runs: number, slots: number): number => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-tsp-"))
  const env = { ...process.env, TS_SOCKET: path.join(dir, "socket"), TMPDIR: dir, TS_SLOTS: String(slots), TS_MAXFINISHED: String(runs + 10) }
  try {
    const t0 = performance.now()
    const ids: Array<string> = []
    for (let i = 0; i < runs; i++) ids.push(execFileSync("tsp", ["-n", "true"], { env }).toString().trim())
    // every job has ended once each, in order, has been waited for
    for (const id of ids) execFileSync("tsp", ["-w", id], { env, stdio: "ignore" })
    return (performance.now() - t0) / 1000
  } finally {
    spawnSync("tsp", ["-K"], { env, stdio: "ignore" })
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Seconds for `runs` runs of `true` through a fresh `gantry serve` with `slots` slots. */
export const gantrySeconds = async (runs: number, slots: number): Promise<number> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-throughput-"))
  const daemon = spawn(GANTRY, ["serve"], { env: { ...process.env, GANTRY_HOME: home, GANTRY_FAKE_GPUS: "0" }, stdio: ["ignore", "pipe", "inherit"] })
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = ""
      daemon.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const m = /serving (http:\/\/\S+)/.exec(out)
        if (m !== null) resolve(m[1]!)
      })
      daemon.once("exit", (code) => reject(new Error(`gantry serve exited ${code}`)))
    })
    const token = (
      JSON.parse(
        execFileSync("node", ["-e", `const D=require("better-sqlite3");console.log(new D(process.argv[1],{readonly:true}).prepare("select holder from lease").get().holder)`, path.join(home, "gantry.db")], {
          cwd: path.dirname(GANTRY)
        }).toString()
      ) as { token: string }
    ).token
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" }
    const call = async <A>(route: string, init: { method?: string; body?: unknown } = {}): Promise<A> => {
      const response = await fetch(`${url}${route}`, { method: init.method ?? "GET", headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) })
      if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`)
      return (await response.json()) as A
    }
    const policy = await call<{ version: number; limits: Record<string, unknown> }>("/api/queue/concurrency")
    await call("/api/queue/concurrency", { method: "POST", body: { ...policy, version: policy.version + 1, limits: { ...policy.limits, maxConcurrent: slots } } })
    const t0 = performance.now()
    let last = ""
    for (let i = 0; i < runs; i++) last = (await call<{ run: { id: string } }>("/api/queue/submit", { method: "POST", body: { user: "bench", command: ["true"], gpus: 0 } })).run.id
    // wait until nothing is left unfinished: long-poll the change counter
    let version = 0
    for (;;) {
      const open = await call<ReadonlyArray<unknown>>("/api/queue?include_completed=false&limit=1")
      if (open.length === 0) break
      version = (await call<{ version: number }>(`/api/runs/changes?since=${version}&timeoutMs=10000`)).version
    }
    const seconds = (performance.now() - t0) / 1000
    const end = await call<{ run: { status: string } }>(`/api/runs/${last}`)
    if (end.run.status !== "completed") throw new Error(`last run ${last} is ${end.run.status}`)
    return seconds
  } finally {
    daemon.kill("SIGTERM")
    await new Promise((resolve) => (daemon.exitCode !== null ? resolve(null) : daemon.once("exit", resolve)))
    fs.rmSync(home, { recursive: true, force: true })
  }
}

export interface ThroughputRow {
  readonly slots: number
  readonly gantryRunsPerSecond: number
  readonly tspRunsPerSecond: number | null
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export const runnerThroughput = async (runs: number, repeats: number): Promise<ReadonlyArray<ThroughputRow>> => {
  const rows: Array<ThroughputRow> = []
  const tsp = tspAvailable()
  for (const slots of [1, 2]) {
    const g: Array<number> = []
    const t: Array<number> = []
    for (let r = 0; r < repeats; r++) {
      // alternate, so drift on the machine hits both alike
      if (tsp) t.push(tspSeconds(runs, slots))
      g.push(await gantrySeconds(runs, slots))
    }
    rows.push({ slots, gantryRunsPerSecond: runs / median(g), tspRunsPerSecond: tsp ? runs / median(t) : null })
  }
  return rows
}
