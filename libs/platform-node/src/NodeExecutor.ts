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
 *     runs/<runId>/<attempt>.stale-*     an earlier try's folder of another account, being emptied
 *
 * Folders 0700 and files 0600, whatever the umask (the wrapper makes its files under umask
 * 077 and gives the command the runner's umask back).
 *
 * **Runs under their owners' accounts.** When the runner is root and given `accountOf`, a run
 * whose account is not root starts as `setpriv --reuid=UID --regid=GID --init-groups -- bash
 * gantry-wrapper.sh ...` (setpriv execs: the spawned pid is the wrapper's): wrapper and
 * command run as the account, with its supplementary groups. Then:
 *
 * - `runs/`, `exits/` and the run's `runs/<runId>/` are 0711 (search, no listing: an account
 *   reaches its own attempt's folder and sees no other) and `gantry-wrapper.sh` 0644 (it holds
 *   no secret), so the data dir itself must be searchable by others: the runner's decision,
 *   never changed here (`Accounts.untraversable` names the first folder on the way that is
 *   not). `runs/` and `exits/` stay root's, the spawner script 0600.
 * - The attempt's folder (0700), its stdout.log and stderr.log (0600) are the account's, made
 *   by the spawner while the folder was still root's; proc.json, jobs and wrapper.log are
 *   the account's wrapper's. The exit file is created empty by the spawner, the account's and
 *   0600, in root's `exits/`: the account can write that one file and no other; empty reads
 *   as "not yet" everywhere (`readExitFile`). Root reads and writes the account's folder
 *   without following symlinks (`readSmallFile`, `appendLine`) and removes it by `rm -rf` as
 *   the account (`removeRunFiles`; the spawner likewise for an earlier try's folder).
 * - The command's working directory is entered by the command's fork as the account (the
 *   wrapper, GANTRY_CWD); a folder the account cannot enter makes the run exit 126.
 * - proc.json is the account's word: before root signals a process group named there (stop,
 *   a lost wrapper's processes, an adopted run's), every live member must run as the
 *   attempt's account (real uid; the account is the owner of the attempt's folder, which
 *   only root can set). Otherwise nothing is sent and it is said loudly, like a refused kill.
 *
 * An account with uid 0 starts as root, as without `accountOf`, and so does a run whose
 * account is null, or every run when the runner is not root: folders 0700, files 0600.
 *
 * The command's environment is the runner's (for a run under another account, only its
 * variables that describe the machine: PATH, locale, TZ, TERM, TMPDIR, LD_LIBRARY_PATH, CUDA_*,
 * NVIDIA_*, NCCL_*), then the account's HOME, USER, LOGNAME and SHELL (for a
 * run with an account), then the run's `env` (which may still set those three), then
 * CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES (the assigned GPU indices, "" for none),
 * GANTRY_RUN_ID and GANTRY_ATTEMPT. `start` fails with SpawnError when the cwd is missing, the
 * command is not an executable on PATH (both as root sees it), the account cannot be looked
 * up or setpriv is missing; what only the exec can tell (126/127) is an ordinary exit.
 *
 * The layout's paths and the reads, notes and removals that must not follow an account's
 * symlinks are in RunFiles.ts; finding programs (bash, setpriv) in Programs.ts.
 *
 * Run ids are percent-encoded when used as a path segment. Closing the Scope stops watching;
 * it never signals a run.
 */
import {
  chmodSync,
  type FSWatcher,
  lstatSync,
  mkdirSync,
  renameSync,
  statSync,
  watch,
  writeFileSync
} from "node:fs"
import { join, resolve } from "node:path"
import type { Run } from "@gantry/core"
import { type AdoptOutcome, Executor, type ExecutorService, type RunExit, SpawnError, type StopSignal } from "@gantry/engine"
import { Duration, Effect, Layer, Runtime, type Scope } from "effect"
import { canSwitchUser, type RunAccount } from "./Accounts.js"
import { currentBootId, groupMembers, isProcessAlive, type ProcessEntry, processStartTime, processUid, sessionMembers } from "./Proc.js"
import { findExecutable, findSetpriv, isExecutableFile } from "./Programs.js"
import { appendLine, exitName, exitsDir, logPaths, LOST, type ProcInfo, readExitFile, readProcInfo, runDir } from "./RunFiles.js"
import { installSpawner, Spawner } from "./Spawner.js"
import { WRAPPER_SCRIPT } from "./wrapper.js"

export { exitPath, exitsDir, logPaths, type ProcInfo, readExitFile, readProcInfo, removeRunFiles, runDir } from "./RunFiles.js"

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
   * The Unix account a run starts under (the runner maps the run's owner to one, e.g. with
   * `Accounts.lookupAccount`). Used only when this process is root (`canSwitchUser`);
   * otherwise, or when it answers null, the run starts as this process's user, as without
   * it. An account with uid 0 starts as root with the account's HOME/USER/LOGNAME; any other
   * through setpriv (uid, gid, its supplementary groups). When it throws, `start` fails with
   * SpawnError (a run never starts as root because its account could not be looked up).
   * Given (and root), the shared folders become searchable by all (see the layout above).
   */
  readonly accountOf?: (run: Run) => RunAccount | null
  /** setpriv (util-linux), for runs under another account (default: on PATH, else /usr/bin/setpriv). */
  readonly setpriv?: string
  /**
   * Sends a signal (default `process.kill`). For tests only: a refused kill (EPERM) cannot be
   * arranged for real when the tests run as root.
   */
  readonly kill?: (pid: number, signal: NodeJS.Signals) => void
}

/**
 * What a run under another account inherits from the daemon's environment: the variables that
 * describe the machine (where programs and CUDA live, locale, time zone, terminal, temp dir),
 * not the daemon's own session. The run's `env` comes on top, as for any run.
 */
const SHARED_ENV = /^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|TMPDIR|LD_LIBRARY_PATH|CUDA_[A-Z0-9_]+|NVIDIA_[A-Z0-9_]+|NCCL_[A-Z0-9_]+)$/

const sharedEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(env).filter(([key]) => SHARED_ENV.test(key)))

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

const findBash = (): string => findExecutable("bash", process.env.PATH, "/") ?? "/bin/bash"

const isId = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n <= 0xffff_fffe

/** An account `accountOf` answered that setpriv and the environment can use. */
const isAccount = (a: RunAccount): boolean =>
  isId(a.uid) && isId(a.gid) && typeof a.name === "string" && a.name !== "" && typeof a.home === "string"

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
    // runs start under their accounts only when there is a mapping and this process may switch
    const accountOf = options.accountOf !== undefined && canSwitchUser() ? options.accountOf : undefined
    const setpriv = accountOf === undefined ? null : options.setpriv !== undefined ? (isExecutableFile(options.setpriv) ? options.setpriv : null) : findSetpriv()
    // accounts must search the shared folders (not list them) and read the wrapper script
    const sharedDirMode = accountOf === undefined ? 0o700 : 0o711
    const wrapperMode = accountOf === undefined ? 0o600 : 0o644
    const runtime = yield* Effect.runtime<never>()
    const warn = (message: string, cause?: unknown) =>
      Runtime.runFork(runtime)(cause === undefined ? Effect.logWarning(message) : Effect.logWarning(message, cause))
    const alarm = (message: string) => Runtime.runFork(runtime)(Effect.logError(message))
    /** A line in the attempt's wrapper.log, next to the wrapper's own messages (best effort: the daemon's log has it too). */
    const note = (dir: string, message: string) => void appendLine(join(dir, "wrapper.log"), `${new Date().toISOString()} gantry: ${message}\n`)

    const wrapperPath = join(dataDir, "gantry-wrapper.sh")
    const bash = findBash()
    // the runner's umask, for the command: the wrapper makes its own files under umask 077
    const runUmask = process.umask().toString(8).padStart(4, "0")
    const spawner = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // private: the folders hold every run's output; made 0700 and set so when they existed
        // (0711 when runs start under other accounts: they must reach their own folders)
        for (const dir of [exits, join(dataDir, "runs")]) {
          mkdirSync(dir, { recursive: true, mode: sharedDirMode })
          chmodSync(dir, sharedDirMode)
        }
        // atomically, so that a wrapper still reading the previous version keeps its own copy
        const tmp = `${wrapperPath}.${process.pid}.tmp`
        writeFileSync(tmp, WRAPPER_SCRIPT, { mode: wrapperMode })
        chmodSync(tmp, wrapperMode)
        renameSync(tmp, wrapperPath)
        // started by the first run (a node boot, about 40 ms, once per runner)
        return new Spawner(installSpawner(dataDir))
      }),
      (spawner) => Effect.sync(() => spawner.close())
    )

    const daemonUid = process.getuid?.() ?? -1
    /**
     * Whose processes an attempt's are: the owner of its folder, which the spawner made the
     * account's and which no account can change (only root gives a file away, and the folder
     * above it is root's). `own` when it is this process's user: the wrapper that wrote
     * proc.json ran as this process's user, so its word is as good as this process's.
     */
    const attemptOwner = (dir: string): number | "own" | "unknown" => {
      try {
        const uid = lstatSync(dir).uid
        return uid === daemonUid ? "own" : uid
      } catch {
        return accountOf === undefined ? "own" : "unknown"
      }
    }
    /**
     * Why process group `pgid`, taken from an attempt's proc.json, must not be signalled; null
     * when it may. An account's wrapper writes that file, so the account could name any group
     * in it: every live member of the group must run for the attempt's account (real uid).
     */
    const refusal = (pgid: number, owner: number | "own" | "unknown"): string | null => {
      if (owner === "own") return null
      if (owner === "unknown") return "its attempt's folder is gone, so whose processes they are is unknown"
      for (const member of groupMembers(pgid)) {
        const uid = processUid(member.pid)
        if (uid !== null && uid !== owner) {
          return `pid ${member.pid} of its process group ${pgid} runs as uid ${uid}, not as the run's account (uid ${owner}); proc.json is written by the run's own wrapper and may be forged`
        }
      }
      return null
    }

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
        const why = refusal(pgid, r.owner)
        if (why !== null) {
          if (!r.refused) {
            r.refused = true
            const message =
              `${r.label}: its wrapper is gone without an exit status and its process group ${pgid} is not signalled: ${why}; ` +
              `the run stays running and keeps its GPUs until pids ${alive.map((p) => p.pid).join(",")} are gone; kill them`
            alarm(message)
            note(r.dir, message)
          }
          continue
        }
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
      const r: Reaping = { name, dir, label, info: readProcInfo(dir), wrapperPid, owner: attemptOwner(dir), steps: 0, killed: false, refused: false, timer: undefined }
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
        let account: RunAccount | null = null
        if (accountOf !== undefined) {
          try {
            account = accountOf(run)
          } catch (error) {
            return spawnError(`the account of run ${run.id} could not be looked up: ${error instanceof Error ? error.message : String(error)}`)
          }
          if (account !== null && !isAccount(account)) return spawnError(`run ${run.id}: not a usable account: ${JSON.stringify(account)}`)
        }
        // uid 0: started as root, as without an account; any other: through setpriv
        const switchTo = account !== null && account.uid !== 0 ? account : null
        if (switchTo !== null && setpriv === null) {
          return spawnError(`setpriv (util-linux) is neither on PATH nor /usr/bin/setpriv: run ${run.id} cannot start as ${switchTo.name}`)
        }
        const visible = gpus.join(",")
        const env: NodeJS.ProcessEnv = {
          // a run under another account gets only what describes the machine from the
          // daemon's environment (SHARED_ENV), never the rest of root's (sudo's, mail, secrets)
          ...(switchTo === null ? process.env : sharedEnv(process.env)),
          // the account's; the run's own env may still set them (as it could before)
          ...(account === null ? {} : { HOME: account.home, USER: account.name, LOGNAME: account.name, ...(account.shell !== undefined ? { SHELL: account.shell } : {}) }),
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
        // entered by the wrapper as the account (a chdir before the switch would be root's);
        // the wrapper's, like GANTRY_UMASK: never the run's
        if (switchTo !== null) env.GANTRY_CWD = cwd
        else delete env.GANTRY_CWD

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
          const wrapper = [bash, wrapperPath, dir, exitFile, ...run.command]
          const files = { dir, exitFile, stdout: logs.stdout, stderr: logs.stderr, ...(setpriv === null ? {} : { setpriv }) }
          spawner.spawn(
            switchTo === null || setpriv === null // (setpriv is there: checked above)
              ? { file: bash, args: wrapper.slice(1), cwd, env, ...files }
              : {
                  // setpriv execs the wrapper: the spawned pid is the wrapper's; --init-groups
                  // gives the account's supplementary groups (node's uid/gid spawn options drop them)
                  file: setpriv,
                  args: [`--reuid=${switchTo.uid}`, `--regid=${switchTo.gid}`, "--init-groups", "--", ...wrapper],
                  cwd: "/",
                  env,
                  owner: { uid: switchTo.uid, gid: switchTo.gid },
                  ...files
                },
            (reply) => {
              const current = waiters.get(name) === waiter
              if (current) starting.delete(name)
              if ("pid" in reply) {
                wrapperPid = reply.pid
                if (current) deliver(name) // it may have ended before the answer came
                return resume(Effect.void)
              }
              if (current) waiters.delete(name)
              resume(spawnError(`could not start ${program} under the run wrapper (${switchTo === null ? bash : `${setpriv} … ${bash}`}): ${reply.error}`))
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
        const why = refusal(info.pgid, attemptOwner(dir))
        if (why !== null) {
          const message = `run ${run.id} attempt ${run.attempt}: SIG${stop} not sent: ${why}`
          alarm(message)
          note(dir, message)
          return
        }
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
  /** The account its processes must run as (see `attemptOwner`). */
  readonly owner: number | "own" | "unknown"
  steps: number
  killed: boolean
  refused: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The Executor for the runner; the watch lives as long as the layer. */
export const layer = (options: NodeExecutorOptions): Layer.Layer<Executor> => Layer.scoped(Executor, make(options))

