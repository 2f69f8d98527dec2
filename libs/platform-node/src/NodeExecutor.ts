/**
 * The runner's Executor: runs each attempt as a real process that outlives the runner.
 *
 * Design (SPEC §5 stopping, §7 recovery; DESIGN.md "Runner specifics"):
 *
 * - **A wrapper in its own session.** Each attempt is started as `bash gantry-wrapper.sh ...`
 *   (see wrapper.ts), spawned detached (a new session), stdio straight to files, unref'd. When
 *   the runner dies, even by SIGKILL, nothing ties the wrapper or the run to it. The wrapper
 *   starts the command in a process group of its own and waits for it; `signal` targets that
 *   group (so grandchildren die too) and never the wrapper, which must live to record the exit.
 * - **A spawner process.** The wrappers are spawned by a small helper process (Spawner.ts),
 *   not by the runner: a fork from the runner cost about 6 ms of its event loop per run.
 * - **Exit files, not pipes or parent-child status.** The wrapper writes the exit status to
 *   `<dataDir>/exits/<runId>.<attempt>.json` in one write (see wrapper.ts). A file is still
 *   there when no runner was alive at the time, and a restarted runner is not the process's
 *   parent, so it cannot `waitpid` it anyway. The runner learns of exits by watching that one
 *   folder with `fs.watch` (inotify), event-driven, never by polling; a run's `onExit` is
 *   called once, on the first event (or the spawner's `exited`, a fast path for wrappers it
 *   started) that finds its file. The file carries `endedAt`, when the command ended, which
 *   `onExit` passes on (a run that ended while no runner watched gets its real end time).
 * - **A wrapper gone without an exit file** (SIGKILLed: the spawner's `exited`; found dead by
 *   `adopt`; or an adopted one found dead by the liveness check, every `livenessCheckMs`,
 *   since no event tells a runner of the death of a process it is not the parent of): its
 *   command may live on, holding its GPUs (SPEC §6.2). Every process group of the wrapper's
 *   session gets SIGKILL, and the run is reported `lost` only once no process of it is alive.
 *   A kill that is refused (EPERM) is said loudly (the log, the attempt's wrapper.log) and
 *   `onExit` waits: the run stays running, keeping its GPUs, until its processes are gone.
 * - **Pids with start times.** The wrapper records its own pid and start time, the command's
 *   pid/pgid and start time and the boot id in the attempt folder (`proc.json`). `adopt` trusts
 *   a recorded wrapper pid only when the process with that pid started at the recorded time
 *   in the same boot: a recycled pid is someone else (see Proc.ts).
 *
 * Layout under `dataDir`:
 *
 *     gantry-wrapper.sh                  the wrapper script (rewritten atomically at start)
 *     gantry-spawner.mjs                 the spawner script (likewise)
 *     runs/<runId>/<attempt>/stdout.log  the command's stdout
 *     runs/<runId>/<attempt>/stderr.log  the command's stderr
 *     runs/<runId>/<attempt>/proc.json   {wrapperPid, wrapperStart, pid, pgid, processStart, bootId}
 *     runs/<runId>/<attempt>/jobs        bash's job table at each SIGCHLD (exit vs signal)
 *     runs/<runId>/<attempt>/wrapper.log the wrapper's own messages
 *     exits/<runId>.<attempt>.json       {"exitCode": N | null, "signal": "SIGTERM" | null, "status": N, "endedAt": MS}
 *
 * Folders 0700 and files 0600, whatever the umask (the wrapper makes its files under umask
 * 077 and gives the command the runner's umask back).
 *
 * The command's environment is the runner's, then the run's `env`, then CUDA_VISIBLE_DEVICES
 * and NVIDIA_VISIBLE_DEVICES (the assigned GPU indices, "" for none), GANTRY_RUN_ID and
 * GANTRY_ATTEMPT. `start` fails with SpawnError when the cwd is missing or the command is not
 * an executable on PATH; what only the exec can tell (126/127) is an ordinary exit.
 *
 * Run ids are percent-encoded when used as a path segment. Closing the Scope stops watching;
 * it never signals a run.
 */
import {
  accessSync,
  appendFileSync,
  chmodSync,
  constants,
  type FSWatcher,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  watch,
  writeFileSync
} from "node:fs"
import { delimiter, join, resolve } from "node:path"
import type { Run } from "@gantry/core"
import { type AdoptOutcome, Executor, type ExecutorService, type RunExit, SpawnError, type StopSignal } from "@gantry/engine"
import { Duration, Effect, Layer, Runtime, type Scope } from "effect"
import { currentBootId, isProcessAlive, type ProcessEntry, processStartTime, sessionMembers } from "./Proc.js"
import { installSpawner, Spawner } from "./Spawner.js"
import { WRAPPER_SCRIPT } from "./wrapper.js"

export interface NodeExecutorOptions {
  /** The runner's data dir; run folders and exit files live under it. */
  readonly dataDir: string
  /** How long `signal` waits for a just-started run to report its process group (default 10 s). */
  readonly pgidWaitMs?: number
  /**
   * How often the wrappers of adopted runs are checked for life (default 1 s): a restarted
   * runner is not their parent, so no event tells it that one was killed.
   */
  readonly livenessCheckMs?: number
  /**
   * Sends a signal (default `process.kill`). For tests only: a refused kill (EPERM) cannot be
   * arranged for real when the tests run as root.
   */
  readonly kill?: (pid: number, signal: NodeJS.Signals) => void
}

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
const segment = (runId: string): string =>
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

const exitName = (runId: string, attempt: number): string => `${segment(runId)}.${attempt}.json`

/** The exit file of one attempt: `<dataDir>/exits/<runId>.<attempt>.json`. */
export const exitPath = (dataDir: string, runId: string, attempt: number): string =>
  join(exitsDir(dataDir), exitName(runId, attempt))

/** Deletes a run's files (every attempt's folder and exit file), e.g. when old runs are cleaned up. */
export const removeRunFiles = (dataDir: string, runId: string, attempts: number): void => {
  rmSync(join(dataDir, "runs", segment(runId)), { recursive: true, force: true })
  for (let attempt = 1; attempt <= attempts; attempt++) rmSync(exitPath(dataDir, runId, attempt), { force: true })
}

/** The wrapper's record of an attempt's processes; null while it is not (fully) written. */
export const readProcInfo = (attemptDir: string): ProcInfo | null => {
  try {
    const raw: unknown = JSON.parse(readFileSync(join(attemptDir, "proc.json"), "utf8"))
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

const LOST: RunExit = { exitCode: null, signal: null, lost: true }

/**
 * An exit file's content; null when there is none yet (or it is still empty: the wrapper has
 * created it and not yet written its one line); `lost` when it is unreadable.
 */
export const readExitFile = (path: string): RunExit | null => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch {
    return null
  }
  if (text === "") return null
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

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

const isExecutableFile = (path: string): boolean => {
  try {
    if (!statSync(path).isFile()) return false
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `command` as the shell would find it: a path (relative to cwd) or a PATH lookup. */
const findExecutable = (command: string, path: string | undefined, cwd: string): string | null => {
  if (command.includes("/")) {
    const full = resolve(cwd, command)
    return isExecutableFile(full) ? full : null
  }
  for (const dir of (path ?? "").split(delimiter)) {
    const full = resolve(cwd, dir === "" ? "." : dir, command)
    if (isExecutableFile(full)) return full
  }
  return null
}

const findBash = (): string => findExecutable("bash", process.env.PATH, "/") ?? "/bin/bash"

/**
 * The Executor in a Scope: the scope holds the exit-folder watch; closing it stops watching
 * (no more `onExit` calls from this executor) and leaves every run running.
 */
export const make = (options: NodeExecutorOptions): Effect.Effect<ExecutorService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const dataDir = resolve(options.dataDir)
    const exits = exitsDir(dataDir)
    const pgidWait = Duration.millis(options.pgidWaitMs ?? 10_000)
    const livenessCheckMs = options.livenessCheckMs ?? 1000
    const kill = options.kill ?? ((pid: number, sig: NodeJS.Signals) => void process.kill(pid, sig))
    const runtime = yield* Effect.runtime<never>()
    const warn = (message: string, cause?: unknown) =>
      Runtime.runFork(runtime)(cause === undefined ? Effect.logWarning(message) : Effect.logWarning(message, cause))
    const alarm = (message: string) => Runtime.runFork(runtime)(Effect.logError(message))
    /** A line in the attempt's wrapper.log, next to the wrapper's own messages (best effort). */
    const note = (dir: string, message: string) => {
      try {
        appendFileSync(join(dir, "wrapper.log"), `${new Date().toISOString()} gantry: ${message}\n`, { mode: 0o600 })
      } catch {
        // the folder is gone: the daemon's log has it
      }
    }

    const wrapperPath = join(dataDir, "gantry-wrapper.sh")
    const bash = findBash()
    // the runner's umask, for the command: the wrapper makes its own files under umask 077
    const runUmask = process.umask().toString(8).padStart(4, "0")
    const spawner = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // private: the folders hold every run's output; made 0700 and set so when they existed
        for (const dir of [exits, join(dataDir, "runs")]) {
          mkdirSync(dir, { recursive: true, mode: 0o700 })
          chmodSync(dir, 0o700)
        }
        // atomically, so that a wrapper still reading the previous version keeps its own copy
        const tmp = `${wrapperPath}.${process.pid}.tmp`
        writeFileSync(tmp, WRAPPER_SCRIPT, { mode: 0o600 })
        chmodSync(tmp, 0o600)
        renameSync(tmp, wrapperPath)
        // started by the first run (a node boot, about 40 ms, once per runner)
        return new Spawner(installSpawner(dataDir))
      }),
      (spawner) => Effect.sync(() => spawner.close())
    )

    /** Exit-file name → the onExit of a run still waited for; deleted before it is called. */
    const waiters = new Map<string, (exit: RunExit) => void>()
    /** Adopted runs still waited for: their wrappers are not our children (see `checkAdopted`). */
    const adopted = new Map<string, { readonly dir: string; readonly info: ProcInfo; readonly label: string }>()
    /** Runs whose wrapper is gone without an exit file, whose processes are being killed. */
    const reaping = new Map<string, Reaping>()
    /**
     * Started runs the spawner has not yet said it spawned: until it has removed an earlier
     * try's exit file of the same attempt (it does so before it spawns), a file there (and a
     * late event of that try) is not this run's exit. Looked at again on the spawner's answer.
     */
    const starting = new Set<string>()
    let livenessTimer: ReturnType<typeof setInterval> | undefined
    let closed = false

    /** Calls the waiter of `name` once, with `exit`. */
    const finish = (name: string, exit: RunExit): void => {
      const onExit = waiters.get(name)
      if (onExit === undefined) return
      waiters.delete(name)
      adopted.delete(name)
      const r = reaping.get(name)
      if (r !== undefined) {
        clearTimeout(r.timer)
        reaping.delete(name)
      }
      if (adopted.size === 0 && livenessTimer !== undefined) {
        clearInterval(livenessTimer)
        livenessTimer = undefined
      }
      onExit(exit)
    }

    /** Calls the waiter of `name` once its exit file exists. */
    const deliver = (name: string): void => {
      if (!waiters.has(name) || reaping.has(name) || starting.has(name)) return
      const exit = readExitFile(join(exits, name))
      if (exit !== null) finish(name, exit)
    }

    /**
     * The processes of a run whose wrapper is gone: every live process of the wrapper's
     * session (the command's group and any group it made), in this boot. The wrapper's pid
     * is the session id; a session id is not reused while a member lives, and when the
     * wrapper's pid now names a process with another start time, the session had emptied.
     */
    const survivors = (info: ProcInfo | null, wrapperPid: number | null): Array<ProcessEntry> => {
      if (info !== null && info.bootId !== currentBootId()) return []
      const sid = info?.wrapperPid ?? wrapperPid
      if (sid === null) return []
      if (info !== null) {
        const leaderAlive = info.processStart !== "" && isProcessAlive({ pid: info.pid, processStart: info.processStart, bootId: info.bootId })
        const reused = processStartTime(info.wrapperPid)
        if (!leaderAlive && reused !== null && reused !== info.wrapperStart) return []
        const since = Number(info.wrapperStart)
        return sessionMembers(sid).filter((p) => Number(p.processStart) >= since)
      }
      return sessionMembers(sid)
    }

    /**
     * One step of putting a lost wrapper's run down (SPEC §6.2: its GPUs may not go to
     * another run while a process of it may live): SIGKILL every group of its session, and
     * report `lost` only once none of its processes is alive. A refused kill (EPERM) is said
     * loudly, and the run stays running in the engine, holding its GPUs, until its processes
     * are gone; it is looked at again every second.
     */
    const reapStep = (r: Reaping): void => {
      if (closed || reaping.get(r.name) !== r) return
      // the wrapper may have written its file before it was killed
      const exit = readExitFile(join(exits, r.name))
      if (exit !== null) return finish(r.name, exit)
      const alive = survivors(r.info, r.wrapperPid)
      if (alive.length === 0) {
        if (r.killed || r.refused) note(r.dir, `${r.label}: no process of it is left; reported lost`)
        if (r.refused) alarm(`${r.label}: its processes are gone at last; reported lost, its GPUs are free`)
        return finish(r.name, LOST)
      }
      for (const pgid of new Set(alive.map((p) => p.pgid))) {
        try {
          kill(-pgid, "SIGKILL")
          if (!r.killed) {
            r.killed = true
            const message = `${r.label}: its wrapper is gone without an exit status; SIGKILL to its process group ${pgid} (pids ${alive.map((p) => p.pid).join(",")})`
            warn(message)
            note(r.dir, message)
          }
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code
          if (code === "ESRCH") continue
          if (!r.refused) {
            r.refused = true
            const message =
              `${r.label}: its wrapper is gone without an exit status and its process group ${pgid} cannot be killed (${code ?? String(error)}): ` +
              `the run stays running and keeps its GPUs until pids ${alive.map((p) => p.pid).join(",")} are gone; kill them`
            alarm(message)
            note(r.dir, message)
          }
        }
      }
      r.steps++
      if (r.steps === 200 && !r.refused) {
        const message = `${r.label}: pids ${alive.map((p) => p.pid).join(",")} still alive 2 s after SIGKILL; the run stays running and keeps its GPUs until they are gone`
        alarm(message)
        note(r.dir, message)
      }
      // a SIGKILLed process is gone within milliseconds; one that is not is looked at less often
      r.timer = setTimeout(() => reapStep(r), r.refused || r.steps > 200 ? 1000 : 10)
      r.timer.unref()
    }

    /** The wrapper of a waited-for run is gone: its exit file, else its processes are put down (`reapStep`). */
    const wrapperGone = (name: string, dir: string, label: string, wrapperPid: number | null): void => {
      if (closed || !waiters.has(name) || reaping.has(name)) return
      adopted.delete(name)
      const r: Reaping = { name, dir, label, info: readProcInfo(dir), wrapperPid, steps: 0, killed: false, refused: false, timer: undefined }
      reaping.set(name, r)
      reapStep(r)
    }

    /**
     * Adopted wrappers are not this process's children, so nothing tells it that one was
     * killed: they are checked for life every `livenessCheckMs` (one /proc read each), and
     * a dead one without an exit file is handled like a spawned wrapper's `exit`.
     */
    const checkAdopted = (): void => {
      if (closed) return
      for (const [name, { dir, info, label }] of [...adopted]) {
        if (isProcessAlive({ pid: info.wrapperPid, processStart: info.wrapperStart, bootId: info.bootId })) continue
        // it writes its exit file before it exits: looked at after the liveness check
        if (readExitFile(join(exits, name)) !== null) deliver(name)
        else wrapperGone(name, dir, label, info.wrapperPid)
      }
    }
    const watchAdopted = (name: string, dir: string, info: ProcInfo, label: string): void => {
      adopted.set(name, { dir, info, label })
      if (livenessTimer === undefined) {
        livenessTimer = setInterval(checkAdopted, livenessCheckMs)
        livenessTimer.unref()
      }
    }

    const watcher: FSWatcher = yield* Effect.acquireRelease(
      Effect.sync(() =>
        watch(exits, { persistent: false }, (_event, filename) => {
          if (closed) return
          // no name (e.g. the inotify queue overflowed): look at every waited-for run
          if (filename === null) for (const name of [...waiters.keys()]) deliver(name)
          else deliver(filename.toString())
        })
      ),
      (w) =>
        Effect.sync(() => {
          closed = true
          waiters.clear()
          starting.clear()
          adopted.clear()
          for (const r of reaping.values()) clearTimeout(r.timer)
          reaping.clear()
          if (livenessTimer !== undefined) clearInterval(livenessTimer)
          w.close()
        })
    )
    watcher.on("error", (error) => warn(`watching ${exits} failed; exits are no longer noticed`, error))
    // nothing is waited for yet; start and adopt look for an existing file right after they register

    const spawnError = (message: string) => Effect.fail(new SpawnError({ message }))

    const start: ExecutorService["start"] = ({ run, gpus }, onExit) =>
      Effect.suspend(() => {
        const [program] = run.command
        if (program === undefined || program === "") return spawnError("the command is empty")
        const cwd = resolve(run.cwd ?? process.cwd())
        if (!isDirectory(cwd)) return spawnError(`working directory ${cwd} does not exist or is not a directory`)
        const visible = gpus.join(",")
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          ...run.env,
          CUDA_VISIBLE_DEVICES: visible,
          NVIDIA_VISIBLE_DEVICES: visible,
          GANTRY_RUN_ID: run.id,
          GANTRY_ATTEMPT: String(run.attempt)
        }
        if (findExecutable(program, env.PATH, cwd) === null) {
          return spawnError(`${program}: command not found or not executable (cwd ${cwd})`)
        }
        // bash would source $BASH_ENV at the wrapper's start: hand it over for the command only
        if (env.BASH_ENV !== undefined) {
          env.GANTRY_BASH_ENV = env.BASH_ENV
          delete env.BASH_ENV
        }
        env.GANTRY_UMASK = runUmask

        const dir = runDir(dataDir, run.id, run.attempt)
        const name = exitName(run.id, run.attempt)
        const exitFile = join(exits, name)
        const logs = logPaths(dataDir, run.id, run.attempt)
        // registered before the spawn: the exit event may come as soon as the process exists;
        // a closure of its own, so that news of an earlier try of the attempt is told apart
        const waiter = (exit: RunExit) => onExit(exit)
        waiters.set(name, waiter)
        starting.add(name)
        let wrapperPid: number | null = null
        return Effect.async<void, SpawnError>((resume) => {
          spawner.spawn(
            { file: bash, args: [wrapperPath, dir, exitFile, ...run.command], cwd, env, dir, exitFile, stdout: logs.stdout, stderr: logs.stderr },
            (reply) => {
              const current = waiters.get(name) === waiter
              if (current) starting.delete(name)
              if ("pid" in reply) {
                wrapperPid = reply.pid
                if (current) deliver(name) // it may have ended before the answer came
                return resume(Effect.void)
              }
              if (current) waiters.delete(name)
              resume(spawnError(`could not start ${program} under the run wrapper (${bash}): ${reply.error}`))
            },
            // fast path: the wrapper writes the exit file before it exits, so when it is gone
            // without one (e.g. someone SIGKILLed it), its command may live on: put it down first
            () => {
              // an earlier try's wrapper exits after its run was reported (and the attempt started again)
              if (closed || waiters.get(name) !== waiter) return
              if (readExitFile(exitFile) !== null) deliver(name)
              else wrapperGone(name, dir, `run ${run.id} attempt ${run.attempt}`, wrapperPid)
            }
          )
        })
      })

    /** The attempt's process record, waiting (bounded) for a just-started wrapper to write it. */
    const awaitProcInfo = (dir: string, name: string): Effect.Effect<ProcInfo | null> =>
      Effect.async<ProcInfo | null>((resume) => {
        let settled = false
        let dirWatch: FSWatcher | undefined
        const check = () => {
          if (settled) return
          const info = readProcInfo(dir)
          const ended = info === null && readExitFile(join(exits, name)) !== null
          if (info === null && !ended) return
          settled = true
          dirWatch?.close()
          resume(Effect.succeed(info))
        }
        try {
          dirWatch = watch(dir, { persistent: false }, check)
          dirWatch.on("error", () => check())
        } catch {
          // no such attempt folder: this attempt was never started here
          settled = true
          resume(Effect.succeed(null))
          return
        }
        check()
        return Effect.sync(() => dirWatch?.close())
      }).pipe(
        Effect.timeoutTo({ duration: pgidWait, onSuccess: (info) => info, onTimeout: () => null })
      )

    const signal = (run: Run, stop: StopSignal): Effect.Effect<void> =>
      Effect.gen(function* () {
        const dir = runDir(dataDir, run.id, run.attempt)
        const name = exitName(run.id, run.attempt)
        const info = readProcInfo(dir) ?? (yield* awaitProcInfo(dir, name))
        if (info === null) {
          if (readExitFile(join(exits, name)) === null) warn(`run ${run.id} attempt ${run.attempt}: no process group known, ${stop} not sent`)
          return
        }
        // ended, or wrapper and command both gone (or another boot): the group id may be someone else's now
        if (readExitFile(join(exits, name)) !== null) return
        const ours =
          isProcessAlive({ pid: info.wrapperPid, processStart: info.wrapperStart, bootId: info.bootId }) ||
          (info.processStart !== "" && isProcessAlive({ pid: info.pid, processStart: info.processStart, bootId: info.bootId }))
        if (!ours) return
        try {
          kill(-info.pgid, stop === "TERM" ? "SIGTERM" : "SIGKILL")
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ESRCH") warn(`run ${run.id}: SIG${stop} to group ${info.pgid} failed`, error)
        }
      })

    const adopt: ExecutorService["adopt"] = (run, onExit) =>
      Effect.sync((): AdoptOutcome => {
        const dir = runDir(dataDir, run.id, run.attempt)
        const name = exitName(run.id, run.attempt)
        const ended = readExitFile(join(exits, name))
        if (ended !== null) {
          onExit(ended)
          return "adopted"
        }
        const info = readProcInfo(dir)
        if (info !== null && isProcessAlive({ pid: info.wrapperPid, processStart: info.wrapperStart, bootId: info.bootId })) {
          waiters.set(name, onExit)
          watchAdopted(name, dir, info, `adopted run ${run.id} attempt ${run.attempt}`)
          deliver(name) // it may have ended between the first look and the registration
          return "adopted"
        }
        // the wrapper may have written its file and exited between the two looks
        const late = readExitFile(join(exits, name))
        if (late !== null) {
          onExit(late)
          return "adopted"
        }
        // `start` makes the attempt's folder before it spawns: without one, nothing was spawned
        if (!isDirectory(dir)) return "never-started"
        // the wrapper is gone without an exit status; is its command? Then it is put down, and
        // the run is reported lost (through onExit) once nothing of it lives, not before
        if (info === null || survivors(info, null).length === 0) return "lost"
        waiters.set(name, onExit)
        wrapperGone(name, dir, `adopted run ${run.id} attempt ${run.attempt}`, info.wrapperPid)
        return "adopted"
      })

    return { start, signal, adopt } satisfies ExecutorService
  })

/** A run whose wrapper is gone without an exit file, while its processes are put down. */
interface Reaping {
  readonly name: string
  readonly dir: string
  readonly label: string
  readonly info: ProcInfo | null
  /** The wrapper's pid (its session id), from the spawner when proc.json was never written. */
  readonly wrapperPid: number | null
  steps: number
  killed: boolean
  refused: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The Executor for the runner; the watch lives as long as the layer. */
export const layer = (options: NodeExecutorOptions): Layer.Layer<Executor> => Layer.scoped(Executor, make(options))

