/**
 * Exit → next start latency of the real runner: `gantry serve` with one slot, N runs queued
 * behind each other, each printing bash's `$EPOCHREALTIME` as its first and last act (no
 * fork). The latency of run i is (first stamp of run i) − (last stamp of run i−1): it holds
 * everything between one process ending and the next one running its first instruction —
 * the wrapper writing the exit file, fs.watch waking the daemon, the exit transition, a
 * cycle, the SQLite commit with synchronous=FULL, and spawning the wrapper and the command.
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const GANTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../apps/runner/bin/gantry")

export interface LatencyResult {
  readonly runs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly meanMs: number
  readonly samples: ReadonlyArray<number>
}

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

interface Lease {
  readonly url: string
  readonly token: string
}

export const runnerLatency = async (runs: number): Promise<LatencyResult> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-latency-"))
  const env = { ...process.env, GANTRY_HOME: home, GANTRY_FAKE_GPUS: "0" }
  const daemon = spawn(GANTRY, ["serve"], { env, stdio: ["ignore", "pipe", "inherit"] })
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
    const lease = JSON.parse(
      execFileSync("node", ["-e", `const D=require("better-sqlite3");const d=new D(process.argv[1],{readonly:true});console.log(d.prepare("select holder from lease").get().holder)`, path.join(home, "gantry.db")], {
        cwd: path.dirname(GANTRY)
      }).toString()
    ) as Lease
    const headers = { authorization: `Bearer ${lease.token}`, "content-type": "application/json" }
    // queue them all on a paused queue, then resume it: the measured chain runs alone
    const pause = (paused: boolean) => fetch(`${url}/api/queues/default`, { method: "PATCH", headers, body: JSON.stringify({ paused }) })
    await pause(true)
    const ids: Array<string> = []
    for (let i = 0; i < runs; i++) {
      const response = await fetch(`${url}/api/queue/submit`, {
        method: "POST",
        headers,
        body: JSON.stringify({ user: "bench", command: ["bash", "-c", "echo $EPOCHREALTIME; echo $EPOCHREALTIME"], gpus: 0 })
      })
      const body = (await response.json()) as { run: { id: string } }
      ids.push(body.run.id)
    }
    await pause(false)
    // wait for the last run to finish: long-poll the change counter
    let version = 0
    for (;;) {
      const last = (await (await fetch(`${url}/api/runs/${ids[ids.length - 1]}`, { headers })).json()) as { run: { status: string } }
      if (["completed", "failed", "cancelled", "rejected"].includes(last.run.status)) break
      version = ((await (await fetch(`${url}/api/runs/changes?since=${version}&timeoutMs=10000`, { headers })).json()) as { version: number }).version
    }
    const stamps = ids.map((id) => {
      const lines = fs.readFileSync(path.join(home, "runs", id, "1", "stdout.log"), "utf8").trim().split("\n")
      return { first: Number(lines[0]) * 1000, last: Number(lines[lines.length - 1]) * 1000 }
    })
    const samples = stamps.slice(1).map((s, i) => s.first - stamps[i]!.last)
    const sorted = [...samples].sort((a, b) => a - b)
    return {
      runs,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      maxMs: sorted[sorted.length - 1]!,
      meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
      samples
    }
  } finally {
    daemon.kill("SIGTERM")
    await new Promise((resolve) => (daemon.exitCode !== null ? resolve(null) : daemon.once("exit", resolve)))
    fs.rmSync(home, { recursive: true, force: true })
  }
}
