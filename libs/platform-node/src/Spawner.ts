/**
 * The spawner: a small long-lived node process that starts the run wrappers for the runner.
 *
 * Why: `child_process.spawn` forks the calling process, and a fork costs in proportion to the
 * caller's mapped memory. From the runner (a daemon holding the engine, the HTTP server and
 * SQLite) one spawn took about 6 ms, blocking its event loop each time: a quarter of its CPU
 * in `npm run bench -- runner`, and the largest part of a run's exit → next start latency.
 * From this process, which holds nothing else, it takes about 1.5 ms, and not on the runner's
 * thread.
 *
 * NodeExecutor writes SPAWNER_SCRIPT to `<dataDir>/gantry-spawner.mjs` and starts it with the
 * runner's own node binary and an IPC channel. Each request names the program, arguments,
 * cwd, environment, the attempt's folder and the two log files (and, for a run under another
 * account, that account: see `SpawnRequest.owner`); the spawner prepares the folder (file
 * system calls, too, took the runner's time), opens the files, spawns the program
 * detached (a new session, so it outlives both processes), and answers `started` with its pid
 * or `failed` with the reason; later `exited` when that process has exited (the wrapper writes
 * its exit file before it exits, so `exited` is a fast path, never the only news of an exit).
 * The spawner exits when the runner closes the channel or dies; the runs it started go on.
 *
 * If the spawner dies while the runner lives, the next request starts a new one. The spawner
 * acknowledges each request before it acts on it: a request it had not acknowledged goes to
 * the new spawner; one it had acknowledged and not answered fails with SpawnError (its
 * wrapper may or may not exist; its exit file, if any, is still watched; docs/RUNNER.md "Processes").
 */
import { type ChildProcess, spawn } from "node:child_process"
import { chmodSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** One start: everything the spawner needs, as plain JSON. */
export interface SpawnRequest {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * The attempt's folder and exit file. A fresh attempt: both are removed (nothing of an
   * earlier try of the same attempt may be mistaken for it), then the folder is made, and
   * only then is the program spawned (so a missing folder means "never spawned").
   */
  readonly dir: string
  readonly exitFile: string
  /** Files the spawner creates (truncating) for the process's stdout and stderr. */
  readonly stdout: string
  readonly stderr: string
  /**
   * The account the program runs as, when not the spawner's own (the program is then setpriv,
   * which switches to it): the attempt's folder (0700), the log files (0600) and the exit
   * file, created empty (0600), are made its, and the folder above the attempt's searchable
   * by all (0711). The files are made while the folder is still the spawner's alone, so the
   * account cannot put a symlink in their place.
   */
  readonly owner?: { readonly uid: number; readonly gid: number }
  /**
   * setpriv, to empty an earlier try's attempt folder that another account owns as that
   * account (when the spawner runs as root): root never walks a folder another account can
   * change while it is walked (a subfolder swapped for a symlink would send it elsewhere).
   */
  readonly setpriv?: string
}

export type SpawnReply = { readonly pid: number } | { readonly error: string }

type Message =
  | { readonly type: "received"; readonly id: number }
  | { readonly type: "started"; readonly id: number; readonly pid: number }
  | { readonly type: "failed"; readonly id: number; readonly error: string }
  | { readonly type: "exited"; readonly id: number }

export const SPAWNER_SCRIPT = `// gantry spawner, written by @gantry/platform-node (see its src/Spawner.ts).
import { spawn } from "node:child_process"
import { chmodSync, chownSync, closeSync, fchownSync, lstatSync, mkdirSync, openSync, renameSync, rmdirSync, rmSync } from "node:fs"
import { dirname } from "node:path"
const reply = (message) => { if (process.connected) process.send(message) }
const root = process.getuid?.() === 0
// An earlier try's attempt folder. One another account owns is moved aside (its parent is
// root's: the account cannot touch the move) and emptied as that account, never walked by root.
const removeFolder = (dir, setpriv) => {
  let st
  try { st = lstatSync(dir) } catch { return }
  if (!root || !st.isDirectory() || st.uid === 0) return rmSync(dir, { recursive: true, force: true })
  const aside = dir + ".stale-" + Date.now() + "-" + process.pid
  renameSync(dir, aside)
  if (!setpriv) return
  const rm = spawn(setpriv, ["--reuid=" + st.uid, "--regid=" + st.gid, "--clear-groups", "--", "rm", "-rf", "--", aside], { cwd: "/", stdio: "ignore" })
  rm.once("error", () => {})
  rm.once("exit", () => { try { rmdirSync(aside) } catch {} })
  rm.unref()
}
process.on("message", (m) => {
  // first, so the runner knows from here on this request may have been carried out
  reply({ type: "received", id: m.id })
  const fds = []
  let child
  try {
    rmSync(m.exitFile, { force: true })
    removeFolder(m.dir, m.setpriv)
    if (m.owner) {
      // the account must reach its attempt's folder: search, no listing
      mkdirSync(dirname(m.dir), { recursive: true, mode: 0o711 })
      chmodSync(dirname(m.dir), 0o711)
    }
    // private: folders 0700, files 0600 (whatever the umask, which can only take bits away)
    mkdirSync(m.dir, { recursive: true, mode: 0o700 })
    fds.push(openSync(m.stdout, "w", 0o600), openSync(m.stderr, "w", 0o600))
    if (m.owner) {
      const { uid, gid } = m.owner
      for (const fd of fds) fchownSync(fd, uid, gid)
      // the account's wrapper writes it; exits/ stays root's, so it can write only this one
      const exit = openSync(m.exitFile, "wx", 0o600)
      try { fchownSync(exit, uid, gid) } finally { closeSync(exit) }
      chownSync(m.dir, uid, gid)
    }
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: true, stdio: ["ignore", fds[0], fds[1]] })
  } catch (error) {
    reply({ type: "failed", id: m.id, error: String(error && error.message || error) })
    return
  } finally {
    for (const fd of fds) closeSync(fd)
  }
  if (child.pid === undefined) {
    child.once("error", (error) => reply({ type: "failed", id: m.id, error: error.message }))
    return
  }
  child.once("exit", () => reply({ type: "exited", id: m.id }))
  child.unref()
  reply({ type: "started", id: m.id, pid: child.pid })
})
process.on("disconnect", () => process.exit(0))
`

/** Writes the spawner script under `dataDir`, atomically (a running spawner keeps its copy). */
export const installSpawner = (dataDir: string): string => {
  const file = join(dataDir, "gantry-spawner.mjs")
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, SPAWNER_SCRIPT, { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
  return file
}

interface Helper {
  readonly process: ChildProcess
  /** Requests sent to it and not yet answered: while there are any, its channel keeps the runner alive. */
  readonly waiting: Set<number>
}

interface Pending {
  readonly request: SpawnRequest
  readonly resume: (reply: SpawnReply) => void
  readonly onExit: () => void
  /** The spawner the request went to. */
  helper: Helper | null
  /** The spawner said it has it (until then it has not carried it out: it says so first). */
  received: boolean
  /** Sent a second time already. */
  retried: boolean
  started: boolean
}

/**
 * The runner's side: `spawn` sends a request and calls back with the answer; `onExit` runs
 * when the started process has exited. `close` ends the spawner (never the runs).
 */
export class Spawner {
  private helper: Helper | null = null
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private closed = false

  constructor(private readonly script: string) {}

  spawn(request: SpawnRequest, resume: (reply: SpawnReply) => void, onExit: () => void): void {
    if (this.closed) return resume({ error: "the runner is shutting down" })
    const id = this.nextId++
    this.pending.set(id, { request, resume, onExit, helper: null, received: false, retried: false, started: false })
    this.send(id)
  }

  close(): void {
    this.closed = true
    const helper = this.helper
    if (helper === null) return
    if (helper.process.connected) helper.process.disconnect()
    this.gone(helper, "the runner is shutting down")
  }

  private send(id: number): void {
    const entry = this.pending.get(id)!
    const helper = this.ensure()
    entry.helper = helper
    entry.received = false
    helper.waiting.add(id)
    if (helper.waiting.size === 1) helper.process.channel?.ref()
    helper.process.send({ ...entry.request, id }, (error) => {
      if (error === null || error === undefined || entry.helper !== helper || entry.started || !this.pending.has(id)) return
      if (this.helper === helper) this.helper = null
      this.retryOrFail(id, helper, `the spawner did not take the request: ${error.message}`)
    })
  }

  /**
   * A request a spawner did not take (refused by its channel, or never acknowledged before
   * the channel closed) is sent once more, to a new spawner; one it took and did not answer
   * fails: it may or may not have been carried out.
   */
  private retryOrFail(id: number, helper: Helper, error: string): void {
    const entry = this.pending.get(id)
    if (entry === undefined || entry.started) return
    this.unwait(helper, id)
    if (entry.retried || this.closed) return this.answer(id, { error })
    entry.retried = true
    this.send(id)
  }

  private ensure(): Helper {
    if (this.helper !== null) return this.helper
    const process_ = spawn(process.execPath, [this.script], { stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "json" })
    const helper: Helper = { process: process_, waiting: new Set() }
    this.helper = helper
    process_.on("message", (message: Message) => this.receive(message))
    // 'disconnect', not 'exit': the channel closes once every message the spawner sent is read
    process_.once("disconnect", () => this.gone(helper, "the spawner exited before it answered"))
    process_.once("error", () => this.gone(helper, "the spawner could not be started"))
    // the spawner never keeps the runner alive by itself; a request in flight does (`waiting`)
    process_.unref()
    process_.channel?.unref()
    return helper
  }

  private receive(message: Message): void {
    switch (message.type) {
      case "received": {
        const entry = this.pending.get(message.id)
        if (entry !== undefined) entry.received = true
        return
      }
      case "started":
        return this.answer(message.id, { pid: message.pid })
      case "failed":
        return this.answer(message.id, { error: message.error })
      case "exited": {
        const entry = this.pending.get(message.id)
        this.pending.delete(message.id)
        entry?.onExit()
      }
    }
  }

  private unwait(helper: Helper, id: number): void {
    if (helper.waiting.delete(id) && helper.waiting.size === 0) helper.process.channel?.unref()
  }

  private answer(id: number, reply: SpawnReply): void {
    const entry = this.pending.get(id)
    if (entry === undefined || entry.started) return
    if (entry.helper !== null) this.unwait(entry.helper, id)
    if ("pid" in reply) entry.started = true
    else this.pending.delete(id)
    entry.resume(reply)
  }

  /**
   * A spawner is gone: requests it took and did not answer fail, those it did not take go to
   * a new one; its started processes lose only the `exited` fast path.
   */
  private gone(helper: Helper, error: string): void {
    if (this.helper === helper) this.helper = null
    for (const [id, entry] of [...this.pending]) {
      if (entry.helper !== helper) continue
      if (entry.started) this.pending.delete(id)
      else if (entry.received) this.answer(id, { error })
      else this.retryOrFail(id, helper, error)
    }
  }
}
