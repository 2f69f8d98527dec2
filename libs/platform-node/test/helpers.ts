/**
 * Test helpers: temporary data dirs, executors in their own Scope (a "runner" that can die),
 * runs with a gate file, and bounded waits. Waiting is on events (onExit) wherever possible;
 * `eventually` is only for external process state (a pid gone, a file written by a process).
 * GANTRY_TEST_KEEP=1 keeps the temporary data dirs (wrapper.log, jobs, proc.json) for a look.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Run } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import type { ExecutorService, RunExit } from "@gantry/engine"
import { Effect, Exit, Scope } from "effect"
import * as NodeExecutor from "../src/NodeExecutor.js"
import { isProcessAlive } from "../src/Proc.js"

const dirs: Array<string> = []

/** A fresh temporary folder, removed (after its runs are killed) by `cleanupAll`. */
export const tempDir = (prefix = "gantry-pn-"): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

/** Kills every run still alive under the temporary data dirs, then removes them. */
export const cleanupAll = (): void => {
  for (const dir of dirs.splice(0)) {
    const runs = join(dir, "runs")
    if (existsSync(runs)) {
      for (const id of readdirSync(runs)) {
        for (const attempt of readdirSync(join(runs, id))) {
          const info = NodeExecutor.readProcInfo(join(runs, id, attempt))
          if (info === null) continue
          // the wrapper or, when a test killed the wrapper, the command it left behind
          if (isProcessAlive({ pid: info.wrapperPid, processStart: info.wrapperStart }) || isProcessAlive({ pid: info.pid, processStart: info.processStart })) {
            try {
              process.kill(-info.pgid, "SIGKILL")
            } catch {
              // already gone
            }
          }
        }
      }
    }
    if (process.env.GANTRY_TEST_KEEP === undefined) rmSync(dir, { recursive: true, force: true })
  }
}

/** Rejects after `ms` with a message naming what was awaited. */
export const within = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    promise.then(
      (a) => {
        clearTimeout(timer)
        resolve(a)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e instanceof Error ? e : new Error(String(e)))
      }
    )
  })

/** Polls a condition on external state (another process) every 10 ms, for at most `ms`. */
export const eventually = async (condition: () => boolean, what: string, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * An onExit that records every call and lets a test await the first. `calls` and `next()`
 * give the exits without `endedAt` (so a test states the status it expects); `raw` keeps it,
 * and the time of each call is in `heardAt`.
 */
export const exitRecorder = () => {
  const calls: Array<RunExit> = []
  const raw: Array<RunExit> = []
  const heardAt: Array<number> = []
  let wake: ((exit: RunExit) => void) | undefined
  const first = new Promise<RunExit>((resolve) => (wake = resolve))
  return {
    calls,
    raw,
    heardAt,
    onExit: (exit: RunExit) => {
      heardAt.push(Date.now())
      raw.push(exit)
      const { endedAt: _endedAt, ...rest } = exit
      calls.push(rest)
      wake?.(rest)
    },
    next: (what = "the run's exit", ms = 5000) => within(first, ms, what)
  }
}

/** An executor in a Scope of its own: `close()` is the runner dying (its watch ends, runs live on). */
export const openExecutor = (dataDir: string): { readonly executor: ExecutorService; readonly close: () => void } => {
  const scope = Effect.runSync(Scope.make())
  const executor = Effect.runSync(Scope.extend(NodeExecutor.make({ dataDir }), scope))
  return { executor, close: () => Effect.runSync(Scope.close(scope, Exit.void)) }
}

let counter = 0

/** A running run record with the given command (the rest from core's test builder). */
export const runOf = (command: ReadonlyArray<string>, o: Partial<Pick<Run, "cwd" | "env" | "attempt">> & { id?: string } = {}): Run => ({
  ...aRun({ id: o.id ?? `run-${process.pid}-${++counter}`, gpus: 0 }),
  command,
  cwd: o.cwd ?? null,
  env: o.env ?? {},
  status: "running",
  attempt: o.attempt ?? 1
})

/** A command that waits until `gate` exists, then exits with `code`. */
export const gated = (gate: string, code: number): ReadonlyArray<string> => [
  "sh",
  "-c",
  `while [ ! -e "$0" ]; do sleep 0.02; done; exit ${code}`,
  gate
]

export const open = (gate: string): void => writeFileSync(gate, "")

export const start = (executor: ExecutorService, run: Run, onExit: (exit: RunExit) => void, gpus: ReadonlyArray<number> = []) =>
  Effect.runPromise(executor.start({ run, gpus }, onExit))

/** The wrapper's process record of an attempt, once the wrapper has written it. */
export const procInfoOf = async (dataDir: string, run: Run): Promise<NodeExecutor.ProcInfo> => {
  const dir = NodeExecutor.runDir(dataDir, run.id, run.attempt)
  let info: NodeExecutor.ProcInfo | null = null
  await eventually(() => (info = NodeExecutor.readProcInfo(dir)) !== null, `proc.json of ${run.id}`)
  return info!
}
