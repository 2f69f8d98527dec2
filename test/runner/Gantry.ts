/**
 * Drives the real `gantry` binary (apps/runner/bin/gantry) for the runner's acceptance tests:
 * real child processes, a real SQLite file in a fresh data dir, real HTTP on 127.0.0.1.
 *
 * - `Sandbox`: one fresh `GANTRY_HOME` per test; `cli(...)` runs a command to its end,
 *   `serve()` starts a daemon and resolves on its ready line, `cleanup()` kills every daemon
 *   and every run process started under the sandbox and removes the directory.
 * - `Daemon`: the serving runner, reached with the URL and bearer token it publishes in the
 *   database's `lease` row (read with better-sqlite3, read-only).
 * - `waitFor(check, ...)`: re-checks a condition on every change notification — the daemon's
 *   long-poll `GET /api/runs/changes` and `fs.watch` on folders the runs write to — within a
 *   bounded time. `waitUntil` polls, for the few things that have no event (a pid is gone).
 * - Runs are bash scripts (`Sandbox.script`) that record `start <id> <t>` / `end <id> <t>`
 *   ($EPOCHREALTIME) in a shared file and their pid, and may wait on a per-run gate (a FIFO
 *   the run creates and the test releases), so a test decides exactly when a run ends.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

export const BIN = path.resolve(import.meta.dirname, "../../apps/runner/bin/gantry")

// ------------------------------------------------------------------ types of what gantry prints

export type RunStatus = "held" | "blocked" | "pending" | "running" | "stopping" | "completed" | "failed" | "cancelled" | "rejected"
export const TERMINAL: ReadonlyArray<RunStatus> = ["completed", "failed", "cancelled", "rejected"]
export const isTerminal = (status: RunStatus): boolean => TERMINAL.includes(status)

/** The fields of a run (RunJson of @gantry/api) the tests read. */
export interface RunJson {
  readonly id: string
  readonly seq: number
  readonly name: string | null
  readonly command: ReadonlyArray<string>
  readonly metadata: Record<string, unknown>
  readonly queue: string
  readonly user: string
  readonly level: string
  readonly gpus: number
  readonly deviceIds: ReadonlyArray<number> | null
  readonly basePriority: number
  readonly priorityOverride: number | null
  readonly status: RunStatus
  readonly attempt: number
  readonly submittedAt: number
  readonly eligibleAt: number
  readonly startedAt: number | null
  readonly endedAt: number | null
  readonly assignedGpus: ReadonlyArray<number>
  readonly exitCode: number | null
  readonly signal: string | null
  readonly failReason: string | null
  readonly rejectReason: string | null
  readonly stopCause: string | null
}

export interface RunEventJson {
  readonly runId: string
  readonly from: RunStatus | null
  readonly to: RunStatus
  readonly reason: string
  readonly at: number
  readonly attempt: number
}

export interface RunDetail {
  readonly run: RunJson
  readonly timeline: ReadonlyArray<RunEventJson>
  readonly position: { readonly position: number | null; readonly pending: number; readonly reason: string | null } | null
}

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

// ------------------------------------------------------------------ waiting

export class WaitTimeout extends Error {}

/**
 * Resolves with the first truthy value of `check`, re-checking whenever one of `sources`
 * notifies a change; fails after `timeoutMs` with `what` and the last value seen (`describe`).
 */
export const waitFor = async <T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: { readonly timeoutMs?: number; readonly daemon?: Daemon | undefined; readonly watch?: ReadonlyArray<string>; readonly describe?: () => unknown } = {}
): Promise<T> => {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000)
  let changed = false
  let wake: (() => void) | null = null
  const notify = () => {
    changed = true
    wake?.()
  }
  const watchers = (options.watch ?? []).map((dir) => fs.watch(dir, { persistent: false }, notify))
  const abort = new AbortController()
  let done = false
  const daemon = options.daemon
  if (daemon !== undefined) {
    void (async () => {
      let version = 0
      while (!done) {
        try {
          version = await daemon.changes(version, Math.max(1, Math.min(10_000, deadline - Date.now())), abort.signal)
        } catch {
          return // the daemon went away (or the wait is over): fs events and the deadline remain
        }
        notify()
      }
    })()
  }
  try {
    for (;;) {
      changed = false
      const value = await check()
      if (value !== undefined && value !== null && value !== false) return value
      const left = deadline - Date.now()
      if (left <= 0) {
        const last = options.describe === undefined ? "" : `; last seen: ${JSON.stringify(await options.describe())}`
        throw new WaitTimeout(`timed out waiting for ${what}${last}`)
      }
      if (!changed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        wake = null
      }
    }
  } finally {
    done = true
    abort.abort()
    for (const w of watchers) w.close()
  }
}

/** Polls `check` every `intervalMs` until it holds: only for conditions without an event (a pid is gone). */
export const waitUntil = async (what: string, check: () => boolean, options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {}): Promise<void> => {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000)
  while (!check()) {
    if (Date.now() > deadline) throw new WaitTimeout(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50))
  }
}

// ------------------------------------------------------------------ processes

/** Field 22 of /proc/<pid>/stat (start time) of a live, non-zombie process; null otherwise. */
export const processStart = (pid: number): string | null => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/)
    if (fields[0] === "Z" || fields[0] === "X") return null
    return fields[19] ?? null
  } catch {
    return null
  }
}

export const isAlive = (pid: number): boolean => processStart(pid) !== null

const killQuietly = (pid: number, signal: NodeJS.Signals = "SIGKILL") => {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

interface Tracked {
  readonly pid: number
  readonly start: string
}

// ------------------------------------------------------------------ lease (URL and token)

interface SqliteStatement {
  get(...params: ReadonlyArray<unknown>): unknown
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement
  close(): void
}
type SqliteConstructor = new (filename: string, options: { readonly readonly: boolean; readonly fileMustExist: boolean }) => SqliteDatabase
const Sqlite = createRequire(import.meta.url)("better-sqlite3") as SqliteConstructor

export interface LeaseHolder {
  readonly kind: "serve" | "command"
  readonly pid: number
  readonly url: string | null
  readonly token: string | null
}

/** The holder of the database's scheduler lease, read-only. */
export const readLease = (db: string): LeaseHolder | null => {
  const conn = new Sqlite(db, { readonly: true, fileMustExist: true })
  try {
    const row = conn.prepare("SELECT holder FROM lease WHERE id = 1").get() as { holder: string | null } | undefined
    return row?.holder == null ? null : (JSON.parse(row.holder) as LeaseHolder)
  } finally {
    conn.close()
  }
}

// ------------------------------------------------------------------ the daemon

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown
  ) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`)
  }
}

export class Daemon {
  stdout = ""
  stderr = ""
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    readonly url: string,
    readonly token: string
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode })
      else child.once("exit", (code, signal) => resolve({ code, signal }))
    })
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  async api<T>(method: string, route: string, body?: unknown, init: { readonly token?: string | null; readonly signal?: AbortSignal } = {}): Promise<T> {
    const token = init.token === undefined ? this.token : init.token
    const headers: Record<string, string> = {}
    if (token !== null) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers["content-type"] = "application/json"
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(init.signal !== undefined ? { signal: init.signal } : {})
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    if (!response.ok) throw new HttpError(response.status, parsed)
    return parsed as T
  }

  /** Every run, finished ones included (the HTTP API, not the CLI: cheap enough to call on every change). */
  list(): Promise<ReadonlyArray<RunJson>> {
    return this.api("GET", "/api/runs")
  }

  show(id: string): Promise<RunDetail> {
    return this.api("GET", `/api/runs/${encodeURIComponent(id)}`)
  }

  async changes(since: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const r = await this.api<{ version: number }>("GET", `/api/runs/changes?since=${since}&timeoutMs=${Math.round(timeoutMs)}`, undefined, signal === undefined ? {} : { signal })
    return r.version
  }

  /** Waits until `check` holds for the run list, re-checking on each change the daemon reports. */
  waitRuns<T>(what: string, check: (runs: ReadonlyArray<RunJson>) => T | undefined | null | false, options: { readonly timeoutMs?: number; readonly watch?: ReadonlyArray<string> } = {}): Promise<T> {
    let last: ReadonlyArray<RunJson> = []
    return waitFor(
      what,
      async () => {
        last = await this.list()
        return check(last)
      },
      { ...options, daemon: this, describe: () => last.map((r) => `${r.id}:${r.status}`) }
    )
  }

  /** Resolves once every run in `ids` (default: all) is terminal; returns those runs, in the order of `ids`. */
  waitTerminal(ids?: ReadonlyArray<string>, options: { readonly timeoutMs?: number } = {}): Promise<ReadonlyArray<RunJson>> {
    return this.waitRuns(
      `runs ${ids?.join(",") ?? "(all)"} to end`,
      (runs) => {
        const byId = new Map(runs.map((r) => [r.id, r] as const))
        const targets = ids === undefined ? runs : ids.flatMap((id) => byId.get(id) ?? [])
        return (ids === undefined || targets.length === ids.length) && targets.every((r) => isTerminal(r.status)) ? targets : undefined
      },
      options
    )
  }

  async kill9(): Promise<void> {
    killQuietly(this.pid, "SIGKILL")
    await this.exited
  }

  async terminate(): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }> {
    killQuietly(this.pid, "SIGTERM")
    return this.exited
  }
}

// ------------------------------------------------------------------ run scripts

export interface ScriptOptions {
  /** Wait on the run's gate (a FIFO named after the run) before ending. */
  readonly gate?: boolean
  /** Seconds to sleep before ending. */
  readonly sleep?: number
  /** Exit code. */
  readonly exit?: number
  /** Extra shell lines run after the start record (before the gate/sleep). */
  readonly body?: string
  /** Extra shell lines run after the gate/sleep (before the end record). */
  readonly after?: string
}

// ------------------------------------------------------------------ the sandbox

let sandboxes = 0

/**
 * A fresh sandbox for one test, cleaned up (daemons and run processes killed, folder removed)
 * when that test ends, passed or failed: the test context's `onTestFinished`, which, unlike a
 * file-level afterEach, knows its own test when the tests of a file run concurrently.
 */
export const sandbox = (onTestFinished: (fn: () => Promise<void>) => void, options: { readonly fakeGpus?: number; readonly env?: NodeJS.ProcessEnv } = {}): Sandbox => {
  const s = new Sandbox(options)
  onTestFinished(() => s.cleanup())
  return s
}

export class Sandbox {
  readonly home: string
  /** Where runs write their records (`rec`), pids (`pid.<id>`) and gates (`gate.<id>`). */
  readonly work: string
  readonly db: string
  readonly env: NodeJS.ProcessEnv
  private readonly daemons = new Set<Daemon>()
  private readonly children = new Set<ChildProcess>()
  private readonly tracked: Array<Tracked> = []
  private readonly gateFds: Array<number> = []

  constructor(options: { readonly fakeGpus?: number; readonly env?: NodeJS.ProcessEnv } = {}) {
    this.home = fs.mkdtempSync(path.join(os.tmpdir(), `gantry-acc-${process.pid}-${++sandboxes}-`))
    // searchable by the accounts runs start under when the tests run as root (a daemon as root
    // starts each run under its owner's account), not listable
    fs.chmodSync(this.home, 0o711)
    this.work = path.join(this.home, "work")
    fs.mkdirSync(this.work)
    this.db = path.join(this.home, "gantry.db")
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const key of ["GANTRY_TOKEN", "GANTRY_URL", "GANTRY_QUEUE", "GANTRY_CONFIG", "GANTRY_HOME", "XDG_DATA_HOME", "GANTRY_FAKE_GPUS", "BASH_ENV", "NODE_OPTIONS"]) delete env[key]
    // the CLI's stored logins live in the sandbox too (XDG_CONFIG_HOME), never the tester's own
    this.env = {
      ...env,
      GANTRY_HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, "config"),
      GANTRY_FAKE_GPUS: String(options.fakeGpus ?? 0),
      USER: "tester",
      ...options.env
    }
  }

  // ---------------------------------------------------------------- the CLI

  /** Starts `gantry ARGS` (cwd: the work folder); the caller waits on its output or exit. */
  spawn(args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): CliProcess {
    const child = spawn(BIN, args, { cwd: this.work, env: { ...this.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    this.children.add(child)
    const proc = new CliProcess(child)
    void proc.exited.then(() => this.children.delete(child))
    return proc
  }

  /** Runs `gantry ARGS` to its end (killed after `timeoutMs`: a command that hangs fails the test, not the suite). */
  async cli(args: ReadonlyArray<string>, options: { readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const proc = this.spawn(args, options.env)
    const timer = setTimeout(() => killQuietly(proc.child.pid ?? 0, "SIGKILL"), options.timeoutMs ?? 30_000)
    try {
      return await proc.exited
    } finally {
      clearTimeout(timer)
    }
  }

  /** `gantry ARGS`, which must exit 0; returns its stdout. */
  async ok(args: ReadonlyArray<string>): Promise<string> {
    const r = await this.cli(args)
    if (r.code !== 0) throw new Error(`gantry ${args.join(" ")} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    return r.stdout
  }

  /** `gantry ARGS --format json`, which must exit 0; returns its parsed stdout. */
  async json<T>(args: ReadonlyArray<string>): Promise<T> {
    const dash = args.indexOf("--")
    const withFormat = dash < 0 ? [...args, "--format", "json"] : [...args.slice(0, dash), "--format", "json", ...args.slice(dash)]
    return JSON.parse(await this.ok(withFormat)) as T
  }

  /** Submits a run; returns its id. */
  async submit(command: ReadonlyArray<string>, flags: ReadonlyArray<string> = []): Promise<string> {
    const result = await this.json<{ _tag: string; run: RunJson }>(["submit", ...flags, "--", ...command])
    if (result._tag !== "Accepted") throw new Error(`submit ${command.join(" ")}: ${JSON.stringify(result)}`)
    return result.run.id
  }

  /**
   * A new bearer token for `user` (`gantry token create --user USER FLAGS`, as the database's
   * owner): the token in the clear.
   */
  async token(user: string, flags: ReadonlyArray<string> = []): Promise<string> {
    const made = await this.json<{ token: string }>(["token", "create", "--user", user, ...flags])
    return made.token
  }

  /** Every run through the CLI (`runs --format json -l 0`). */
  runs(): Promise<ReadonlyArray<RunJson>> {
    return this.json(["runs", "-l", "0"])
  }

  // ---------------------------------------------------------------- the daemon

  /** Starts `gantry serve` and resolves on its ready line; fails if it exits first. */
  async serve(args: ReadonlyArray<string> = [], options: { readonly timeoutMs?: number } = {}): Promise<Daemon> {
    const child = spawn(BIN, ["serve", ...args], { cwd: this.work, env: this.env, stdio: ["ignore", "pipe", "pipe"] })
    this.children.add(child)
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8")
    child.stderr!.setEncoding("utf8")
    const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        killQuietly(child.pid ?? 0)
        reject(new Error(`gantry serve: no ready line within ${options.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
      }, options.timeoutMs ?? 30_000)
      child.stdout!.on("data", (chunk: string) => {
        stdout += chunk
        const m = /^gantry \S+ serving (http:\/\/127\.0\.0\.1:\d+) \(pid (\d+)\)$/m.exec(stdout)
        if (m !== null) {
          clearTimeout(timer)
          resolve({ url: m[1]!, pid: Number(m[2]) })
        }
      })
      child.stderr!.on("data", (chunk: string) => (stderr += chunk))
      child.once("exit", (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`gantry serve exited ${code ?? signal} before it was ready\nstdout: ${stdout}\nstderr: ${stderr}`))
      })
    })
    const lease = readLease(this.db)
    if (lease === null || lease.kind !== "serve" || lease.pid !== ready.pid || lease.url !== ready.url || lease.token === null)
      throw new Error(`the lease row does not name the daemon that is ready (pid ${ready.pid}, ${ready.url}): ${JSON.stringify(lease)}`)
    const daemon = new Daemon(child, ready.pid, ready.url, lease.token)
    daemon.stdout = stdout
    child.stdout!.on("data", (chunk: string) => (daemon.stdout += chunk))
    child.stderr!.on("data", (chunk: string) => (daemon.stderr += chunk))
    daemon.stderr = stderr
    this.daemons.add(daemon)
    return daemon
  }

  // ---------------------------------------------------------------- runs' own records

  /**
   * A run's command: `bash -c SCRIPT` that writes its pid to `pid.<id>`, creates its gate,
   * appends `start <id> <t>`, runs `body`, waits on the gate and/or sleeps, runs `after`,
   * appends `end <id> <t>` and exits with `exit`.
   */
  script(options: ScriptOptions = {}): Array<string> {
    const w = this.work
    const lines = [
      `echo $$ > "${w}/pid.$GANTRY_RUN_ID"`,
      options.gate === true ? `mkfifo "${w}/gate.$GANTRY_RUN_ID"` : "",
      `echo "start $GANTRY_RUN_ID $EPOCHREALTIME" >> "${w}/rec"`,
      options.body ?? "",
      options.gate === true ? `read -r _ < "${w}/gate.$GANTRY_RUN_ID"` : "",
      options.sleep !== undefined ? `sleep ${options.sleep}` : "",
      options.after ?? "",
      `echo "end $GANTRY_RUN_ID $EPOCHREALTIME" >> "${w}/rec"`,
      `exit ${options.exit ?? 0}`
    ]
    return ["bash", "-c", lines.filter((l) => l !== "").join("\n")]
  }

  /** The start/end records of the runs, in file order. */
  records(): Array<{ readonly kind: "start" | "end"; readonly id: string; readonly t: number }> {
    let text: string
    try {
      text = fs.readFileSync(path.join(this.work, "rec"), "utf8")
    } catch {
      return []
    }
    return text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((line) => {
        const [kind, id, t] = line.trim().split(" ")
        if ((kind !== "start" && kind !== "end") || id === undefined || t === undefined) throw new Error(`malformed record "${line}"`)
        return { kind, id, t: Number(t) }
      })
  }

  starts(id: string): number {
    return this.records().filter((r) => r.kind === "start" && r.id === id).length
  }

  ends(id: string): number {
    return this.records().filter((r) => r.kind === "end" && r.id === id).length
  }

  /** The pid a run wrote at its start (and tracks it for cleanup); null before. */
  pidOf(id: string): number | null {
    let pid: number
    try {
      pid = Number(fs.readFileSync(path.join(this.work, `pid.${id}`), "utf8").trim())
    } catch {
      return null
    }
    if (!Number.isSafeInteger(pid) || pid <= 0) return null
    this.track(pid)
    return pid
  }

  /** Kills this process in cleanup (if it is still the same process). */
  track(pid: number): void {
    const start = processStart(pid)
    if (start !== null && !this.tracked.some((t) => t.pid === pid && t.start === start)) this.tracked.push({ pid, start })
  }

  /** Lets a gated run end: writes a line to its FIFO (the fd stays open, so the line waits for the reader). */
  release(id: string): void {
    const fifo = path.join(this.work, `gate.${id}`)
    if (!fs.existsSync(fifo)) throw new Error(`run ${id} has no gate yet (${fifo})`)
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)
    this.gateFds.push(fd)
    fs.writeSync(fd, "go\n")
  }

  /** Waits (fs.watch on the work folder) until every run in `ids` has written its start record and gate. */
  waitStarted(ids: ReadonlyArray<string>, options: { readonly timeoutMs?: number; readonly daemon?: Daemon } = {}): Promise<true> {
    return waitFor(
      `start records of ${ids.join(",")}`,
      () => ids.every((id) => this.starts(id) >= 1 && this.pidOf(id) !== null) || undefined,
      { ...options, watch: [this.work], describe: () => this.records() }
    )
  }

  /** `<home>/runs/<id>/<attempt>/proc.json` as the wrapper wrote it. */
  procInfo(id: string, attempt = 1): { readonly wrapperPid: number; readonly pid: number; readonly pgid: number } | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.home, "runs", id, String(attempt), "proc.json"), "utf8")) as { wrapperPid: number; pid: number; pgid: number }
    } catch {
      return null
    }
  }

  logPath(id: string, stream: "stdout" | "stderr", attempt = 1): string {
    return path.join(this.home, "runs", id, String(attempt), `${stream}.log`)
  }

  // ---------------------------------------------------------------- cleanup

  /** Kills every daemon, CLI child and run process of this sandbox, then removes it. */
  async cleanup(): Promise<void> {
    for (const d of this.daemons) killQuietly(d.pid, "SIGKILL")
    for (const c of this.children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) killQuietly(c.pid, "SIGKILL")
    // every run the wrappers started: the wrapper, then the command's process group
    const runsDir = path.join(this.home, "runs")
    const procFiles: Array<string> = []
    if (fs.existsSync(runsDir))
      for (const id of fs.readdirSync(runsDir))
        for (const attempt of fs.readdirSync(path.join(runsDir, id))) procFiles.push(path.join(runsDir, id, attempt, "proc.json"))
    for (const file of procFiles) {
      let info: { wrapperPid: number; wrapperStart: string; pid: number; pgid: number; processStart: string }
      try {
        info = JSON.parse(fs.readFileSync(file, "utf8")) as typeof info
      } catch {
        continue
      }
      if (processStart(info.wrapperPid) === info.wrapperStart) killQuietly(info.wrapperPid)
      if (processStart(info.pid) === info.processStart) killQuietly(-info.pgid)
    }
    for (const t of this.tracked) if (processStart(t.pid) === t.start) killQuietly(t.pid)
    for (const fd of this.gateFds) fs.closeSync(fd)
    await Promise.all([...this.daemons].map((d) => d.exited))
    fs.rmSync(this.home, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
  }
}

export class CliProcess {
  stdout = ""
  stderr = ""
  readonly exited: Promise<CliResult>
  private readonly listeners = new Set<() => void>()
  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding("utf8")
    child.stderr!.setEncoding("utf8")
    child.stdout!.on("data", (chunk: string) => {
      this.stdout += chunk
      for (const l of this.listeners) l()
    })
    child.stderr!.on("data", (chunk: string) => {
      this.stderr += chunk
      for (const l of this.listeners) l()
    })
    this.exited = new Promise((resolve) => child.once("close", (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })))
  }

  /** Resolves once `check` holds for the output so far (re-checked on every chunk). */
  waitOutput(what: string, check: (p: CliProcess) => boolean, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const listener = () => {
        if (!check(this)) return
        done()
        resolve()
      }
      const timer = setTimeout(() => {
        done()
        reject(new WaitTimeout(`timed out waiting for ${what}; stdout: ${JSON.stringify(this.stdout)} stderr: ${JSON.stringify(this.stderr)}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.listeners.delete(listener)
      }
      this.listeners.add(listener)
      listener()
    })
  }
}

// ------------------------------------------------------------------ analysis

export interface Interval {
  readonly id: string
  readonly start: number
  readonly end: number
}

/** The largest number of intervals open at one instant (an end at t closes before a start at t). */
export const maxOverlap = (intervals: ReadonlyArray<Interval>): number => {
  const points = intervals.flatMap((i) => [
    { t: i.start, d: 1 },
    { t: i.end, d: -1 }
  ])
  points.sort((a, b) => a.t - b.t || a.d - b.d)
  let open = 0
  let max = 0
  for (const p of points) {
    open += p.d
    max = Math.max(max, open)
  }
  return max
}

/** Running intervals of a run from its timeline: entering `running` until leaving running/stopping. */
export const runningIntervals = (timeline: ReadonlyArray<RunEventJson>, now = Number.POSITIVE_INFINITY): Array<Interval> => {
  const out: Array<Interval> = []
  let from: number | null = null
  for (const e of timeline) {
    if (e.to === "running") from = e.at
    else if (from !== null && e.to !== "stopping") {
      out.push({ id: e.runId, start: from, end: e.at })
      from = null
    }
  }
  if (from !== null) out.push({ id: timeline[0]?.runId ?? "?", start: from, end: now })
  return out
}

/** Intervals from the runs' own `start`/`end` records. */
export const recordIntervals = (records: ReadonlyArray<{ readonly kind: "start" | "end"; readonly id: string; readonly t: number }>): Array<Interval> => {
  const starts = new Map<string, number>()
  const out: Array<Interval> = []
  for (const r of records) {
    if (r.kind === "start") starts.set(r.id, r.t)
    else {
      const s = starts.get(r.id)
      if (s === undefined) throw new Error(`end record of ${r.id} without a start`)
      out.push({ id: r.id, start: s, end: r.t })
      starts.delete(r.id)
    }
  }
  return out
}
