/**
 * Runner throughput: N trivial `true` runs end to end, with 1 and 2 slots, through
 * `gantry serve` (synchronous=FULL) and through task-spooler (`tsp`), in the same process,
 * one after the other. Both get the runs one at a time from this process — tsp through its
 * client (one process per job, as a shell loop would), gantry through its HTTP API (one
 * request per run, each acknowledged only after its commit) — and the clock stops when the
 * last run has ended.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { serve } from "./Serve.js"

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
  const d = await serve("throughput", { GANTRY_FAKE_GPUS: "0" })
  try {
    const policy = await d.call<{ version: number; limits: Record<string, unknown> }>("/api/policy")
    await d.call("/api/policy", { method: "PUT", body: { ...policy, version: policy.version + 1, limits: { ...policy.limits, maxConcurrent: slots } } })
    const t0 = performance.now()
    let last = ""
    for (let i = 0; i < runs; i++) last = (await d.call<{ run: { id: string } }>("/api/runs", { method: "POST", body: { command: ["true"], gpus: 0 } })).run.id
    // wait until nothing is left unfinished: long-poll the change counter
    let version = 0
    for (;;) {
      const open = await d.call<ReadonlyArray<unknown>>("/api/runs?include_completed=false&limit=1")
      if (open.length === 0) break
      version = (await d.call<{ version: number }>(`/api/runs/changes?since=${version}&timeoutMs=10000`)).version
    }
    const seconds = (performance.now() - t0) / 1000
    const end = await d.call<{ run: { status: string } }>(`/api/runs/${last}`)
    if (end.run.status !== "completed") throw new Error(`last run ${last} is ${end.run.status}`)
    return seconds
  } finally {
    await d.stop()
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
