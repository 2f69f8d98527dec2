/**
 * NodeExecutor with `accountOf`, as root: runs start under their owners' accounts (setpriv),
 * their files are the accounts', and what an account's wrapper writes (proc.json) is never
 * trusted to name processes root signals. Every test here needs root and fails without it.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { afterEach, describe, expect, it, onTestFinished } from "vitest"
import { lookupAccount, type RunAccount } from "../src/Accounts.js"
import * as NodeExecutor from "../src/NodeExecutor.js"
import { isProcessAlive, processStartTime, processUid } from "../src/Proc.js"
import {
  anAccount,
  cleanupAll,
  eventually,
  exitRecorder,
  folderOf,
  gated,
  open,
  openExecutor,
  procInfoOf,
  runOf,
  start,
  tempDir,
  traversableDataDir
} from "./helpers.js"

afterEach(cleanupAll)

const mode = (p: string) => (lstatSync(p).mode & 0o777).toString(8)
const owner = (p: string) => {
  const st = lstatSync(p)
  return { uid: st.uid, gid: st.gid }
}
const stdoutOf = (dataDir: string, runId: string, attempt = 1) => readFileSync(NodeExecutor.logPaths(dataDir, runId, attempt).stdout, "utf8")

/** A `sleep` started as root in a session and group of its own: a process no account's run may have signalled. */
const rootSleeper = () => {
  const child = spawn("sleep", ["300"], { detached: true, stdio: "ignore" })
  const pid = child.pid!
  onTestFinished(() => {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone already
    }
  })
  return { pid, start: processStartTime(pid)! }
}

/** Rewrites an attempt's proc.json (the account's file: the account could have written this) to name `target` as its group. */
const forgeProcInfo = (dataDir: string, runId: string, change: Partial<NodeExecutor.ProcInfo>) => {
  const file = join(NodeExecutor.runDir(dataDir, runId, 1), "proc.json")
  const info = NodeExecutor.readProcInfo(NodeExecutor.runDir(dataDir, runId, 1))!
  writeFileSync(file, JSON.stringify({ ...info, ...change }))
}

describe("NodeExecutor as root with accountOf: a run starts under its owner's account", () => {
  it("runs as the account: uid, gid, supplementary groups, HOME/USER/LOGNAME, cwd entered as it; what it makes is the account's", async () => {
    const { account, extraGid } = anAccount()
    const dataDir = traversableDataDir()
    const work = folderOf(account)
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(
      ["bash", "-c", 'id -u; id -g; id -G; echo "$HOME|$USER|$LOGNAME"; pwd; grep -E "^Sig(Ign|Blk)" /proc/self/status; : > made; exit 3'],
      { cwd: work }
    )
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 3, signal: null })
    const [uid, gid, groups, names, cwd, ...signals] = stdoutOf(dataDir, run.id).trim().split("\n")
    expect(Number(uid)).toBe(account.uid)
    expect(Number(gid)).toBe(account.gid)
    expect(groups!.split(" ").map(Number)).toContain(extraGid)
    expect(groups!.split(" ").map(Number)).not.toContain(0)
    expect(names).toBe(`${account.home}|${account.name}|${account.name}`)
    expect(cwd).toBe(work)
    expect(signals, "nothing ignored or blocked").toEqual(["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"])
    expect(owner(join(work, "made"))).toEqual({ uid: account.uid, gid: account.gid })
    close()
  })

  it("the attempt's folder, logs and exit file are the account's (0700/0600); the shared folders 0711, the wrapper 0644", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(["bash", "-c", "echo out; echo err >&2"])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    const dir = NodeExecutor.runDir(dataDir, run.id, 1)
    const mine = { uid: account.uid, gid: account.gid }
    const theirs = [dir, ...["stdout.log", "stderr.log", "proc.json", "jobs", "wrapper.log"].map((f) => join(dir, f)), NodeExecutor.exitPath(dataDir, run.id, 1)]
    expect(Object.fromEntries(theirs.map((p) => [p.slice(dataDir.length), [owner(p), mode(p)]]))).toEqual(
      Object.fromEntries(theirs.map((p) => [p.slice(dataDir.length), [mine, p === dir ? "700" : "600"]]))
    )
    const root = { uid: 0, gid: 0 }
    const shared: ReadonlyArray<[string, string]> = [
      [join(dataDir, "runs"), "711"],
      [join(dataDir, "runs", run.id), "711"],
      [join(dataDir, "exits"), "711"],
      [join(dataDir, "gantry-wrapper.sh"), "644"],
      [join(dataDir, "gantry-spawner.mjs"), "600"]
    ]
    expect(shared.map(([p]) => [owner(p).uid, mode(p)])).toEqual(shared.map(([, m]) => [root.uid, m]))
    expect(readFileSync(NodeExecutor.logPaths(dataDir, run.id, 1).stderr, "utf8")).toBe("err\n")
    close()
  })

  it("a stop (SIGTERM) reaches the account's process group: the run ends by SIGTERM", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(["sleep", "100"])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    const info = await procInfoOf(dataDir, run)
    expect([processUid(info.wrapperPid), processUid(info.pid)]).toEqual([account.uid, account.uid])
    await Effect.runPromise(executor.signal(run, "TERM"))
    expect(await exits.next()).toEqual({ exitCode: null, signal: "SIGTERM" })
    close()
  })

  it("a working directory the account cannot enter is not entered for it: the run exits 126 and says why", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const rootOnly = tempDir("gantry-root-only-") // 0700, root's
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(["sh", "-c", ": > ran"], { cwd: rootOnly })
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 126, signal: null })
    expect(readFileSync(NodeExecutor.logPaths(dataDir, run.id, 1).stderr, "utf8")).toMatch(/Permission denied/)
    expect(existsSync(join(rootOnly, "ran"))).toBe(false)
    close()
  })

  it("accountOf answering null: the run starts as root, exactly as without it", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const { executor, close } = openExecutor(dataDir, { accountOf: (run) => (run.id.endsWith("-mine") ? account : null) })
    const run = runOf(["bash", "-c", 'id -u; id -G; echo "$HOME|${USER-unset}"'])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    const [uid, groups, names] = stdoutOf(dataDir, run.id).trim().split("\n")
    expect(uid).toBe("0")
    expect(groups).toBe(process.getgroups?.().join(" "))
    expect(names).toBe(`${process.env.HOME}|${process.env.USER ?? "unset"}`)
    const dir = NodeExecutor.runDir(dataDir, run.id, 1)
    for (const p of [dir, join(dir, "stdout.log"), NodeExecutor.exitPath(dataDir, run.id, 1)]) expect(owner(p)).toEqual({ uid: 0, gid: 0 })
    expect([mode(dir), mode(join(dir, "stdout.log")), mode(NodeExecutor.exitPath(dataDir, run.id, 1))]).toEqual(["700", "600", "600"])
    close()
  })

  it("an account with uid 0 starts as root, with that account's HOME, USER and LOGNAME; the run's env may still set them", async () => {
    const dataDir = traversableDataDir()
    const home = tempDir("gantry-roothome-")
    const rootAccount: RunAccount = { ...lookupAccount("root")!, home }
    const { executor, close } = openExecutor(dataDir, { accountOf: () => rootAccount })
    const run = runOf(["bash", "-c", 'id -u; echo "$HOME|$USER|$LOGNAME"'])
    const overridden = runOf(["bash", "-c", 'echo "$HOME|$USER"'], { env: { HOME: "/elsewhere" } })
    for (const r of [run, overridden]) {
      const exits = exitRecorder()
      await start(executor, r, exits.onExit)
      expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    }
    expect(stdoutOf(dataDir, run.id)).toBe(`0\n${home}|root|root\n`)
    expect(stdoutOf(dataDir, overridden.id)).toBe("/elsewhere|root\n")
    expect(owner(NodeExecutor.runDir(dataDir, run.id, 1)).uid).toBe(0)
    close()
  })

  it("fails with SpawnError when setpriv is missing or the account cannot be looked up, and starts nothing", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const noSetpriv = openExecutor(dataDir, { accountOf: () => account, setpriv: join(dataDir, "no-setpriv") })
    const failing = openExecutor(dataDir, {
      accountOf: () => {
        throw new Error("nss: database down")
      }
    })
    const cases: ReadonlyArray<[typeof noSetpriv, RegExp]> = [
      [noSetpriv, /setpriv \(util-linux\) is neither on PATH nor \/usr\/bin\/setpriv/],
      [failing, /could not be looked up: nss: database down/]
    ]
    for (const [{ executor }, message] of cases) {
      const run = runOf(["true"])
      const exits = exitRecorder()
      const result = await Effect.runPromise(Effect.either(executor.start({ run, gpus: [] }, exits.onExit)))
      expect(Either.isLeft(result) && result.left._tag).toBe("SpawnError")
      expect(Either.isLeft(result) && result.left.message).toMatch(message)
      expect(existsSync(NodeExecutor.runDir(dataDir, run.id, 1))).toBe(false)
      expect(exits.calls).toEqual([])
    }
    noSetpriv.close()
    failing.close()
  })
})

describe("NodeExecutor as root with accountOf: the exit file, made empty for the account, means 'not yet'", () => {
  it("an adopted account run with its empty exit file is running, and its real exit is heard", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const gate = join(folderOf(account), "gate")
    const a = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(gated(gate, 7))
    await start(a.executor, run, () => {})
    await procInfoOf(dataDir, run)
    expect(readFileSync(NodeExecutor.exitPath(dataDir, run.id, 1), "utf8")).toBe("")
    a.close()
    const b = openExecutor(dataDir, { accountOf: () => account })
    const exits = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exits.onExit))).toBe("adopted")
    expect(exits.calls).toEqual([])
    open(gate)
    expect(await exits.next()).toEqual({ exitCode: 7, signal: null })
    b.close()
  })

  it("an account run whose wrapper and command were killed while no executor watched is lost (its empty exit file is no exit)", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const gate = join(folderOf(account), "gate")
    const a = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(gated(gate, 0))
    await start(a.executor, run, () => {})
    const info = await procInfoOf(dataDir, run)
    a.close()
    process.kill(-info.wrapperPid, "SIGKILL")
    process.kill(-info.pgid, "SIGKILL")
    await eventually(
      () => !isProcessAlive({ pid: info.wrapperPid, processStart: info.wrapperStart }) && !isProcessAlive({ pid: info.pid, processStart: info.processStart }),
      "wrapper and command to die"
    )
    const b = openExecutor(dataDir, { accountOf: () => account })
    const exits = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exits.onExit))).toBe("lost")
    expect(exits.calls).toEqual([])
    b.close()
  })

  it("the spawner's exit news for a wrapper gone without writing (setpriv refusing the switch) finds the empty file and reports the run lost", async () => {
    const dataDir = traversableDataDir()
    // no such uid in the passwd database: setpriv --init-groups cannot find its groups and exits
    const ghost: RunAccount = { name: "gantry-ghost", uid: 3_999_999_999, gid: 3_999_999_999, home: "/nonexistent" }
    const { executor, close } = openExecutor(dataDir, { accountOf: () => ghost })
    const run = runOf(["true"])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: null, signal: null, lost: true })
    expect(readFileSync(NodeExecutor.logPaths(dataDir, run.id, 1).stderr, "utf8")).toMatch(/setpriv/)
    close()
  })
})

describe("NodeExecutor as root with accountOf: proc.json is the account's word, never trusted to name whom root signals", () => {
  it("a forged process group (a root process) gets no stop signal, from the starting executor or one that adopted the run; it is said in wrapper.log", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const gate = join(folderOf(account), "gate")
    const a = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(gated(gate, 5))
    const exitsA = exitRecorder()
    await start(a.executor, run, exitsA.onExit)
    await procInfoOf(dataDir, run)
    const victim = rootSleeper()
    forgeProcInfo(dataDir, run.id, { pgid: victim.pid })
    await Effect.runPromise(a.executor.signal(run, "KILL"))
    a.close()
    const b = openExecutor(dataDir, { accountOf: () => account })
    const exitsB = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exitsB.onExit))).toBe("adopted")
    await Effect.runPromise(b.executor.signal(run, "TERM"))
    expect(isProcessAlive({ pid: victim.pid, processStart: victim.start }), "the root process lives").toBe(true)
    const log = readFileSync(join(NodeExecutor.runDir(dataDir, run.id, 1), "wrapper.log"), "utf8")
    expect(log).toMatch(new RegExp(`SIGKILL not sent: pid ${victim.pid} of its process group ${victim.pid} runs as uid 0, not as the run's account \\(uid ${account.uid}\\)`))
    expect(log).toMatch(/SIGTERM not sent/)
    // the run itself was not stopped either: it ends as it would have
    open(gate)
    expect(await exitsB.next()).toEqual({ exitCode: 5, signal: null })
    expect(exitsA.calls).toEqual([])
    b.close()
  })

  it("a wrapper gone whose proc.json names a root session: nothing of it is killed, the run keeps running, and is lost once that session is gone", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const gate = join(folderOf(account), "gate")
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(gated(gate, 0))
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    const real = await procInfoOf(dataDir, run)
    // the real command, orphaned below, is killed with the account's processes after the test
    const victim = rootSleeper()
    forgeProcInfo(dataDir, run.id, { wrapperPid: victim.pid, wrapperStart: victim.start, pid: victim.pid, pgid: victim.pid, processStart: victim.start })
    process.kill(real.wrapperPid, "SIGKILL")
    const log = join(NodeExecutor.runDir(dataDir, run.id, 1), "wrapper.log")
    await eventually(() => /is not signalled: pid \d+ of its process group \d+ runs as uid 0/.test(readFileSync(log, "utf8")), "the refusal in wrapper.log")
    expect(readFileSync(log, "utf8")).toMatch(/stays running and keeps its GPUs/)
    expect(isProcessAlive({ pid: victim.pid, processStart: victim.start }), "the root process lives").toBe(true)
    expect(exits.calls, "no exit while the processes it names live").toEqual([])
    process.kill(victim.pid, "SIGKILL")
    expect(await exits.next("the lost report once they are gone", 5000)).toEqual({ exitCode: null, signal: null, lost: true })
    close()
  })

  it("root's notes in wrapper.log never follow a symlink the account put there", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const gate = join(folderOf(account), "gate")
    const precious = join(tempDir(), "precious")
    writeFileSync(precious, "root's\n")
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(gated(gate, 0))
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    await procInfoOf(dataDir, run)
    const victim = rootSleeper()
    forgeProcInfo(dataDir, run.id, { pgid: victim.pid })
    const log = join(NodeExecutor.runDir(dataDir, run.id, 1), "wrapper.log")
    rmSync(log)
    symlinkSync(precious, log)
    await Effect.runPromise(executor.signal(run, "TERM"))
    expect(readFileSync(precious, "utf8")).toBe("root's\n")
    open(gate)
    expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    close()
  })

  it("a proc.json that is a FIFO or an exit file too large is read without blocking: no record, and a lost exit", () => {
    const dir = tempDir()
    execFileSync("mkfifo", [join(dir, "proc.json")])
    expect(NodeExecutor.readProcInfo(dir)).toBeNull()
    const big = join(dir, "exit.json")
    writeFileSync(big, `{"exitCode":0,"signal":null}${" ".repeat(70_000)}`)
    expect(NodeExecutor.readExitFile(big)).toEqual({ exitCode: null, signal: null, lost: true })
  })
})

describe("NodeExecutor as root with accountOf: an account's folders are removed as the account", () => {
  it("removeRunFiles removes an account run's folders without following a symlink planted in them", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const run = runOf(["true"])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    await exits.next()
    const precious = tempDir("gantry-precious-")
    writeFileSync(join(precious, "keep"), "root's\n")
    const dir = NodeExecutor.runDir(dataDir, run.id, 1)
    symlinkSync(precious, join(dir, "link"))
    mkdirSync(join(dir, "sub"))
    symlinkSync(join(precious, "keep"), join(dir, "sub", "keep"))
    // as the account would have made them
    for (const p of [join(dir, "link"), join(dir, "sub"), join(dir, "sub", "keep")]) lchownSync(p, account.uid, account.gid)
    expect(NodeExecutor.removeRunFiles(dataDir, run.id, 1)).toEqual([])
    expect(existsSync(join(dataDir, "runs", run.id))).toBe(false)
    expect(existsSync(NodeExecutor.exitPath(dataDir, run.id, 1))).toBe(false)
    expect(readdirSync(precious)).toEqual(["keep"])
    close()
  })

  it("a second try of an attempt gets a fresh folder; the earlier try's, the account's, is moved aside and emptied as the account", async () => {
    const { account } = anAccount()
    const dataDir = traversableDataDir()
    const { executor, close } = openExecutor(dataDir, { accountOf: () => account })
    const first = runOf(["bash", "-c", "echo first"], { id: "again" })
    const firstExits = exitRecorder()
    await start(executor, first, firstExits.onExit)
    expect(await firstExits.next()).toEqual({ exitCode: 0, signal: null })
    const precious = tempDir("gantry-precious-")
    writeFileSync(join(precious, "keep"), "root's\n")
    const dir = NodeExecutor.runDir(dataDir, "again", 1)
    symlinkSync(precious, join(dir, "link"))
    lchownSync(join(dir, "link"), account.uid, account.gid)
    const second = runOf(["bash", "-c", "echo second; exit 2"], { id: "again" })
    const secondExits = exitRecorder()
    await start(executor, second, secondExits.onExit)
    expect(await secondExits.next()).toEqual({ exitCode: 2, signal: null })
    expect(stdoutOf(dataDir, "again")).toBe("second\n")
    expect(existsSync(join(dir, "link"))).toBe(false)
    await eventually(() => readdirSync(join(dataDir, "runs", "again")).length === 1, "the earlier try's folder to be removed")
    expect(readdirSync(precious)).toEqual(["keep"])
    expect(statSync(join(precious, "keep")).size).toBe(7)
    close()
  })
})
