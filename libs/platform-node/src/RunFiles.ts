/**
 * Where a run's files are under the data dir, and how the runner (perhaps root) reads, writes
 * and removes them when an account other than its own may own them (NodeExecutor.ts has the
 * layout and the reasons):
 * - paths: `runDir`, `logPaths`, `exitsDir`, `exitPath` (run ids percent-encoded as one segment);
 * - reads that never follow a symlink, never block on a FIFO and stop at 64 KiB
 *   (`readProcInfo`, `readExitFile`: an empty exit file is "not yet");
 * - `appendLine` for the runner's notes in an attempt's `wrapper.log`, likewise;
 * - `removeRunFiles`: an account's folder is removed by `rm -rf` run as that account, never
 *   walked by root (a subfolder swapped for a symlink would send root elsewhere).
 */
import { spawnSync } from "node:child_process"
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, rmdirSync, rmSync, writeSync } from "node:fs"
import { join } from "node:path"
import type { RunExit } from "@gantry/engine"
import { canSwitchUser } from "./Accounts.js"
import { findSetpriv } from "./Programs.js"

/** What the wrapper records in `proc.json` once the command is started. */
export interface ProcInfo {
  readonly wrapperPid: number
  readonly wrapperStart: string
  readonly pid: number
  readonly pgid: number
  /** The command's start time; empty when it ended before the wrapper could read it. */
  readonly processStart: string
  readonly bootId: string
}

/** A run id as one safe path segment. */
export const segment = (runId: string): string =>
  runId === "." || runId === ".." ? runId.replaceAll(".", "%2E") : encodeURIComponent(runId)

/** The folder of one attempt: `<dataDir>/runs/<runId>/<attempt>`. */
export const runDir = (dataDir: string, runId: string, attempt: number): string =>
  join(dataDir, "runs", segment(runId), String(attempt))

/** Where an attempt's stdout and stderr go. */
export const logPaths = (dataDir: string, runId: string, attempt: number): { readonly stdout: string; readonly stderr: string } => {
  const dir = runDir(dataDir, runId, attempt)
  return { stdout: join(dir, "stdout.log"), stderr: join(dir, "stderr.log") }
}

/** The folder the exit files are written to (and watched). */
export const exitsDir = (dataDir: string): string => join(dataDir, "exits")

export const exitName = (runId: string, attempt: number): string => `${segment(runId)}.${attempt}.json`

/** The exit file of one attempt: `<dataDir>/exits/<runId>.<attempt>.json`. */
export const exitPath = (dataDir: string, runId: string, attempt: number): string =>
  join(exitsDir(dataDir), exitName(runId, attempt))

/** How long emptying another account's folder (`rm -rf` as that account) may take. */
const REMOVE_TIMEOUT_MS = 60_000

/**
 * Removes `path` and everything under it; answers what could not be removed. As root, a
 * folder another account owns is never walked by root: that account could swap a subfolder
 * for a symlink while it is walked and have root delete elsewhere. It is emptied by `rm -rf`
 * run as its owner (setpriv), then the empty folder removed; only root's own folders (whose
 * entries no account can change) are walked. Without setpriv such a folder is left.
 */
const removeTree = (path: string, setpriv: () => string | null): Array<string> => {
  let st
  try {
    st = lstatSync(path)
  } catch {
    return []
  }
  if (!st.isDirectory()) {
    rmSync(path, { force: true })
    return []
  }
  if (!canSwitchUser()) {
    rmSync(path, { recursive: true, force: true })
    return []
  }
  if (st.uid === 0) {
    const left = readdirSync(path).flatMap((entry) => removeTree(join(path, entry), setpriv))
    if (left.length > 0) return left
  } else {
    const tool = setpriv()
    if (tool === null) return [path]
    spawnSync(tool, [`--reuid=${st.uid}`, `--regid=${st.gid}`, "--clear-groups", "--", "rm", "-rf", "--", path], {
      cwd: "/",
      stdio: "ignore",
      timeout: REMOVE_TIMEOUT_MS
    })
  }
  try {
    rmdirSync(path)
    return []
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? [] : [path]
  }
}

/**
 * Deletes a run's files (every attempt's folder and exit file), e.g. when old runs are cleaned
 * up; answers the paths it could not remove (an account's folder whose owner cannot empty it,
 * or, as root, one with no setpriv to empty it as its owner; see `removeTree`).
 */
export const removeRunFiles = (dataDir: string, runId: string, attempts: number): ReadonlyArray<string> => {
  let setpriv: string | null | undefined
  const left = removeTree(join(dataDir, "runs", segment(runId)), () => (setpriv === undefined ? (setpriv = findSetpriv()) : setpriv))
  for (let attempt = 1; attempt <= attempts; attempt++) rmSync(exitPath(dataDir, runId, attempt), { force: true })
  return left
}

/** The most a proc.json or an exit file may hold (each is one short line). */
const SMALL_FILE_BYTES = 64 * 1024

/**
 * The text of a small regular file, read without following a symlink and without blocking on
 * a FIFO: under another account's folder (a run that switched accounts) the account chooses
 * what those names are. Null when it cannot be opened (none yet) or is not a regular file;
 * `tooLarge` when it holds more than SMALL_FILE_BYTES.
 */
const readSmallFile = (path: string): string | null | "tooLarge" => {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch {
    return null
  }
  try {
    if (!fstatSync(fd).isFile()) return null
    const buffer = Buffer.alloc(SMALL_FILE_BYTES + 1)
    let length = 0
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null)
      if (n === 0) break
      length += n
      if (length > SMALL_FILE_BYTES) return "tooLarge"
    }
    return buffer.toString("utf8", 0, length)
  } catch {
    return null
  } finally {
    closeSync(fd)
  }
}

/**
 * Appends a line to a file in a folder another account may own (wrapper.log): never through a
 * symlink, never to a FIFO or a hard link of another file (the account would choose which
 * file root writes to). Best effort: false when it was not written.
 */
export const appendLine = (path: string, line: string): boolean => {
  let fd: number
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600)
  } catch {
    return false
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile() || st.nlink !== 1) return false
    writeSync(fd, line)
    return true
  } catch {
    return false
  } finally {
    closeSync(fd)
  }
}

/**
 * The wrapper's record of an attempt's processes; null while it is not (fully) written. It is
 * the wrapper's word: for a run under another account, that account's, which may lie (see
 * `signal`).
 */
export const readProcInfo = (attemptDir: string): ProcInfo | null => {
  try {
    const text = readSmallFile(join(attemptDir, "proc.json"))
    if (text === null || text === "tooLarge") return null
    const raw: unknown = JSON.parse(text)
    if (typeof raw !== "object" || raw === null) return null
    const o = raw as Record<string, unknown>
    const positive = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0
    if (!positive(o.wrapperPid) || !positive(o.pid) || !positive(o.pgid)) return null
    if (typeof o.wrapperStart !== "string" || typeof o.processStart !== "string" || typeof o.bootId !== "string") return null
    return {
      wrapperPid: o.wrapperPid,
      wrapperStart: o.wrapperStart,
      pid: o.pid,
      pgid: o.pgid,
      processStart: o.processStart,
      bootId: o.bootId
    }
  } catch {
    return null
  }
}

export const LOST: RunExit = { exitCode: null, signal: null, lost: true }

/**
 * An exit file's content; null when there is none yet, or it is still empty: the wrapper has
 * created it and not yet written its one line, or, for a run under another account, the
 * spawner created it empty for the account (every reader of exit files goes through this
 * function, so an empty file is "not yet" everywhere); `lost` when it is unreadable.
 */
export const readExitFile = (path: string): RunExit | null => {
  const text = readSmallFile(path)
  if (text === null || text === "") return null
  if (text === "tooLarge") return LOST
  try {
    const o = JSON.parse(text) as Record<string, unknown>
    const exitCode = o.exitCode
    const signal = o.signal
    if ((exitCode === null || (typeof exitCode === "number" && Number.isInteger(exitCode))) && (signal === null || typeof signal === "string")) {
      const endedAt = o.endedAt
      return typeof endedAt === "number" && Number.isSafeInteger(endedAt) && endedAt > 0 ? { exitCode, signal, endedAt } : { exitCode, signal }
    }
  } catch {
    // fall through: the file exists, so the process ended, but how is unknown
  }
  return LOST
}
