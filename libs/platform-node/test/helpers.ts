/**
 * Test helpers: temporary data dirs, executors in their own Scope (a "runner" that can die),
 * runs with a gate file, and bounded waits. Waiting is on events (onExit) wherever possible;
 * `eventually` is only for external process state (a pid gone, a file written by a process).
 * GANTRY_TEST_KEEP=1 keeps the temporary data dirs (wrapper.log, jobs, proc.json) for a look.
 * `anAccount` makes a throwaway Unix account (root only: a test that needs one fails without).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Run } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import type { ExecutorService, RunExit } from "@gantry/engine"
import { Effect, Exit, Scope } from "effect"
import { expect, onTestFinished } from "vitest"
import { lookupAccount, type RunAccount } from "../src/Accounts.js"
import * as NodeExecutor from "../src/NodeExecutor.js"
import { isProcessAlive, processUid } from "../src/Proc.js"

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
export const openExecutor = (
  dataDir: string,
  options: Omit<NodeExecutor.NodeExecutorOptions, "dataDir"> = {}
): { readonly executor: ExecutorService; readonly close: () => void } => {
  const scope = Effect.runSync(Scope.make())
  const executor = Effect.runSync(Scope.extend(NodeExecutor.make({ ...options, dataDir }), scope))
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

/** A throwaway Unix account (`anAccount`) and the supplementary group it was given. */
export interface TestAccount {
  readonly account: RunAccount
  /** A group the account is a member of besides its primary group. */
  readonly extraGid: number
}

/**
 * Creates a throwaway account (`gty<hex>`, no user group, home a fresh folder it owns, shell
 * bash) in a throwaway supplementary group (`gtg<hex>`); when the test has finished, its
 * processes are killed (by pid) and the account, group and home are removed. Needs root:
 * without it the test fails here, it is not skipped.
 */
export const anAccount = (): TestAccount => {
  expect(process.getuid?.(), "this test starts processes as another account: it must run as root").toBe(0)
  const tag = randomBytes(4).toString("hex")
  const name = `gty${tag}`
  const groupName = `gtg${tag}`
  const home = mkdtempSync(join(tmpdir(), `gantry-home-${tag}-`))
  execFileSync("groupadd", [groupName])
  let made = false
  onTestFinished(() => {
    if (made) {
      const uid = lookupAccount(name)?.uid
      if (uid !== undefined) killProcessesOf(uid)
      const r = spawnSync("userdel", [name], { stdio: "ignore" })
      if (r.status !== 0) spawnSync("userdel", ["-f", name], { stdio: "ignore" })
    }
    spawnSync("groupdel", [groupName], { stdio: "ignore" })
    rmSync(home, { recursive: true, force: true })
  })
  execFileSync("useradd", ["-M", "-N", "-s", "/bin/bash", "-d", home, "-G", groupName, name])
  made = true
  const account = lookupAccount(name)
  if (account === null) throw new Error(`useradd made ${name}, getent does not know it`)
  chownSync(home, account.uid, account.gid)
  chmodSync(home, 0o700)
  const extraGid = Number(execFileSync("getent", ["group", groupName], { encoding: "utf8" }).split(":")[2])
  return { account, extraGid }
}

/** SIGKILL to every live process whose real uid is `uid`, one pid at a time. */
export const killProcessesOf = (uid: number): void => {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (processUid(pid) !== uid) continue
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
}

/** A data dir that other accounts can search (a run under another account must reach its folder). */
export const traversableDataDir = (): string => {
  const dir = tempDir()
  chmodSync(dir, 0o711)
  return dir
}

/** A folder owned by `account`, 0700: only it (and root) can use it. */
export const folderOf = (account: RunAccount, prefix = "gantry-work-"): string => {
  const dir = tempDir(prefix)
  chownSync(dir, account.uid, account.gid)
  chmodSync(dir, 0o700)
  return dir
}
