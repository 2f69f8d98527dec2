/**
 * Exit → next start latency of the real runner: `gantry serve` with one slot, N runs queued
 * behind each other, each printing bash's `$EPOCHREALTIME` as its first and last act (no
 * fork). The latency of run i is (first stamp of run i) − (last stamp of run i−1): it holds
 * everything between one process ending and the next one running its first instruction —
 * the wrapper writing the exit file, fs.watch waking the daemon, the exit transition, a
 * cycle, the SQLite commit with synchronous=FULL, and spawning the wrapper and the command.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { serve } from "./Serve.js"

export interface LatencyResult {
  readonly runs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly meanMs: number
  readonly samples: ReadonlyArray<number>
}

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

export const runnerLatency = async (runs: number): Promise<LatencyResult> => {
  const d = await serve("latency", { GANTRY_FAKE_GPUS: "0" })
  try {
    // queue them all on a paused queue, then resume it: the measured chain runs alone
    const pause = (paused: boolean) => d.call("/api/queues/default", { method: "PATCH", body: { paused } })
    await pause(true)
    const ids: Array<string> = []
    for (let i = 0; i < runs; i++) {
      const body = await d.call<{ run: { id: string } }>("/api/runs", {
        method: "POST",
        body: { command: ["bash", "-c", "echo $EPOCHREALTIME; echo $EPOCHREALTIME"], gpus: 0 }
      })
      ids.push(body.run.id)
    }
    await pause(false)
    // wait for the last run to finish: long-poll the change counter
    let version = 0
    for (;;) {
      const last = await d.call<{ run: { status: string } }>(`/api/runs/${ids[ids.length - 1]}`)
      if (["completed", "failed", "cancelled", "rejected"].includes(last.run.status)) break
      version = (await d.call<{ version: number }>(`/api/runs/changes?since=${version}&timeoutMs=10000`)).version
    }
    const stamps = ids.map((id) => {
      const lines = fs.readFileSync(path.join(d.home, "runs", id, "1", "stdout.log"), "utf8").trim().split("\n")
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
    await d.stop()
  }
}
