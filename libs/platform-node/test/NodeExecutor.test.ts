import { spawn, spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { RunExit } from "@gantry/engine"
import { Effect, Either, Exit, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as NodeExecutor from "../src/NodeExecutor.js"
import { currentBootId, isProcessAlive, processStartTime } from "../src/Proc.js"
import { WRAPPER_SCRIPT } from "../src/wrapper.js"
import {
  cleanupAll,
  eventually,
  exitRecorder,
  gated,
  open,
  openExecutor,
  procInfoOf,
  runOf,
  start,
  tempDir,
  within
} from "./helpers.js"

afterEach(cleanupAll)

const alive = (pid: number, processStart: string) => isProcessAlive({ pid, processStart })
/** Fields 5 (pgrp) and 6 (session) of /proc/<pid>/stat. */
const groupAndSession = (pid: number): [number, number] => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return [Number(fields[2]), Number(fields[3])]
}

describe("NodeExecutor: start", () => {
  it("runs the command with the runner's env, the run's env and its GPUs, logs to files, and reports its exit once", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    process.env.GANTRY_TEST_FROM_RUNNER = "runner-value"
    const run = runOf(
      [
        "sh",
        "-c",
        'echo hi; echo err >&2; echo "cuda=$CUDA_VISIBLE_DEVICES nv=$NVIDIA_VISIBLE_DEVICES id=$GANTRY_RUN_ID attempt=$GANTRY_ATTEMPT foo=$FOO runner=$GANTRY_TEST_FROM_RUNNER"; exit 3'
      ],
      { env: { FOO: "bar", CUDA_VISIBLE_DEVICES: "7" }, attempt: 2 }
    )
    const exits = exitRecorder()
    await start(executor, run, exits.onExit, [1, 3])
    expect(await exits.next()).toEqual({ exitCode: 3, signal: null })
    delete process.env.GANTRY_TEST_FROM_RUNNER

    const logs = NodeExecutor.logPaths(dataDir, run.id, 2)
    expect(logs.stdout).toBe(join(dataDir, "runs", run.id, "2", "stdout.log"))
    expect(readFileSync(logs.stdout, "utf8")).toBe(`hi\ncuda=1,3 nv=1,3 id=${run.id} attempt=2 foo=bar runner=runner-value\n`)
    expect(readFileSync(logs.stderr, "utf8")).toBe("err\n")
    expect(JSON.parse(readFileSync(NodeExecutor.exitPath(dataDir, run.id, 2), "utf8"))).toEqual({ exitCode: 3, signal: null, status: 3, endedAt: exits.raw[0]!.endedAt })

    // a later exit event has been handled, and the first run's onExit was still called once
    const other = exitRecorder()
    await start(executor, runOf(["true"]), other.onExit)
    expect(await other.next()).toEqual({ exitCode: 0, signal: null })
    expect(exits.calls).toHaveLength(1)
    close()
  })

  it("gives a run without GPUs an empty CUDA_VISIBLE_DEVICES, so it sees none; cwd is the run's", async () => {
    const dataDir = tempDir()
    const cwd = tempDir("gantry-cwd-")
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(["sh", "-c", 'printf "[%s][%s] %s" "${CUDA_VISIBLE_DEVICES-unset}" "${NVIDIA_VISIBLE_DEVICES-unset}" "$(pwd)"'], { cwd })
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    expect(readFileSync(NodeExecutor.logPaths(dataDir, run.id, 1).stdout, "utf8")).toBe(`[][] ${cwd}`)
    close()
  })

  it("hands a run's BASH_ENV to the command, not to the wrapper", async () => {
    const dataDir = tempDir()
    const scratch = tempDir()
    const bashEnv = join(scratch, "bash_env.sh")
    writeFileSync(bashEnv, `echo sourced >> "${scratch}/count"; FROM_BASH_ENV=yes\n`)
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(["bash", "-c", 'echo "$BASH_ENV $FROM_BASH_ENV ${GANTRY_BASH_ENV-unset}"'], { env: { BASH_ENV: bashEnv } })
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    expect(readFileSync(NodeExecutor.logPaths(dataDir, run.id, 1).stdout, "utf8")).toBe(`${bashEnv} yes unset\n`)
    expect(readFileSync(join(scratch, "count"), "utf8")).toBe("sourced\n")
    close()
  })

  it("starts the command in a process group and session apart from the runner and the wrapper, with default signal dispositions", async () => {
    const dataDir = tempDir()
    const gate = join(tempDir(), "gate")
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(["sh", "-c", 'grep -E "^Sig(Ign|Blk)" /proc/self/status; while [ ! -e "$0" ]; do sleep 0.02; done', gate])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    const info = await procInfoOf(dataDir, run)
    expect(info.pgid).toBe(info.pid)
    expect(info.bootId).toBe(currentBootId())
    expect(info.wrapperStart).toBe(processStartTime(info.wrapperPid))
    expect(info.processStart).toBe(processStartTime(info.pid))
    const [runGroup, runSession] = groupAndSession(info.pid)
    const [wrapperGroup, wrapperSession] = groupAndSession(info.wrapperPid)
    const [runnerGroup, runnerSession] = groupAndSession(process.pid)
    expect(runGroup).toBe(info.pid)
    expect(wrapperGroup).toBe(info.wrapperPid) // detached: the wrapper leads a session of its own
    expect(wrapperSession).toBe(info.wrapperPid)
    expect(runSession).toBe(wrapperSession)
    expect(new Set([runGroup, wrapperGroup, runnerGroup]).size).toBe(3)
    expect(runnerSession).not.toBe(wrapperSession)
    open(gate)
    expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    // nothing ignored or blocked: the run can be stopped and interrupted as usual
    expect(readFileSync(NodeExecutor.logPaths(dataDir, run.id, 1).stdout, "utf8")).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")
    close()
  })

  it("tells an exit with status 143 from a death by SIGTERM, and reports other signals by name", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const cases: ReadonlyArray<[string, RunExit]> = [
      ["exit 143", { exitCode: 143, signal: null }],
      ["kill -TERM $$", { exitCode: null, signal: "SIGTERM" }],
      ["exit 130", { exitCode: 130, signal: null }],
      ["kill -INT $$", { exitCode: null, signal: "SIGINT" }],
      ["kill -SEGV $$", { exitCode: null, signal: "SIGSEGV" }],
      ["exit 0", { exitCode: 0, signal: null }]
    ]
    const recorders = cases.map(() => exitRecorder())
    for (const [i, [script]] of cases.entries()) await start(executor, runOf(["sh", "-c", script]), recorders[i]!.onExit)
    const got = await Promise.all(recorders.map((r, i) => r.next(cases[i]![0])))
    expect(got).toEqual(cases.map(([, exit]) => exit))
    close()
  })

  it("reports each of many concurrent runs' exits exactly once, and right", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    // quick exits in parallel are where bash's job bookkeeping races (see src/wrapper.ts)
    const n = 120
    const script = (i: number) => (i % 3 === 0 ? "kill -TERM $$" : i % 3 === 1 ? "exit 143" : `exit ${i % 128}`)
    const expected = (i: number): RunExit =>
      i % 3 === 0 ? { exitCode: null, signal: "SIGTERM" } : { exitCode: i % 3 === 1 ? 143 : i % 128, signal: null }
    const recorders = Array.from({ length: n }, () => exitRecorder())
    await Promise.all(recorders.map((r, i) => start(executor, runOf(["sh", "-c", script(i)]), r.onExit)))
    const got = await Promise.all(recorders.map((r) => r.next(`${n} exits`, 20_000)))
    expect(got).toEqual(recorders.map((_, i) => expected(i)))
    // one more run's exit event has gone through the watch since: still one call each
    const last = exitRecorder()
    await start(executor, runOf(["true"]), last.onExit)
    await last.next()
    expect(recorders.map((r) => r.calls.length)).toEqual(recorders.map(() => 1))
    close()
  })

  it("fails with SpawnError when it can tell at once that the run cannot start", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const notExecutable = join(tempDir(), "script.sh")
    writeFileSync(notExecutable, "#!/bin/sh\necho hi\n", { mode: 0o644 })
    const cases = [
      runOf(["true"], { cwd: join(dataDir, "no-such-dir") }),
      runOf(["gantry-no-such-command-xyz"]),
      runOf([notExecutable]),
      runOf(["./script.sh"], { cwd: join(notExecutable, "..") }),
      runOf([]),
      runOf(["true"], { env: { PATH: "/nonexistent" } })
    ]
    for (const run of cases) {
      const exits = exitRecorder()
      const result = await Effect.runPromise(Effect.either(executor.start({ run, gpus: [] }, exits.onExit)))
      expect(Either.isLeft(result) && result.left._tag).toBe("SpawnError")
      expect(exits.calls).toEqual([])
    }
    const missing = await Effect.runPromise(Effect.flip(executor.start({ run: cases[0]!, gpus: [] }, () => {})))
    expect(missing.message).toContain("no-such-dir")
    close()
  })

  it("a second try of the same attempt never takes the earlier try's exit file (or its late events) for its own", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    for (let round = 0; round < 5; round++) {
      const first = exitRecorder()
      await start(executor, runOf(["true"], { id: `again-${round}` }), first.onExit)
      expect(await first.next()).toEqual({ exitCode: 0, signal: null })
      const second = exitRecorder()
      await start(executor, runOf(["sh", "-c", "exit 2"], { id: `again-${round}` }), second.onExit)
      expect(await second.next()).toEqual({ exitCode: 2, signal: null })
    }
    close()
  })

  it("reports a command that fails to exec after the checks (127) as an ordinary exit", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const exits = exitRecorder()
    await start(executor, runOf(["sh", "-c", "exec gantry-no-such-command-xyz"]), exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 127, signal: null })
    close()
  })
})

/** Pids of the live spawner processes of `dataDir` (their command line names its script). */
const spawnersOf = (dataDir: string): Array<number> => {
  const script = join(dataDir, "gantry-spawner.mjs")
  const pids: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")
      const state = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.[0]
      if (argv.includes(script) && state !== "Z") pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

describe("NodeExecutor: the spawner", () => {
  it("is one process for many runs, started by the first; when it dies, the next run starts a new one", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    expect(spawnersOf(dataDir)).toEqual([]) // no run yet, no spawner
    for (let i = 0; i < 3; i++) {
      const exits = exitRecorder()
      await start(executor, runOf(["true"]), exits.onExit)
      expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
    }
    const [first, ...others] = spawnersOf(dataDir)
    expect(others).toEqual([])
    process.kill(first!, "SIGKILL")
    await eventually(() => spawnersOf(dataDir).length === 0, "the spawner to die")

    const exits = exitRecorder()
    await start(executor, runOf(["sh", "-c", "exit 4"]), exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 4, signal: null })
    const now = spawnersOf(dataDir)
    expect(now).toHaveLength(1)
    expect(now[0]).not.toBe(first)
    close()
    await eventually(() => spawnersOf(dataDir).length === 0, "the spawner to exit once its executor closed")
  })

  it("an empty exit file is 'not yet' (the wrapper created it and has not written its line)", () => {
    const dir = tempDir()
    const file = join(dir, "r.1.json")
    writeFileSync(file, "")
    expect(NodeExecutor.readExitFile(file)).toBeNull()
    writeFileSync(file, '{"exitCode":0,"signal":null,"status":0}\n')
    expect(NodeExecutor.readExitFile(file)).toEqual({ exitCode: 0, signal: null })
    writeFileSync(file, '{"exitCo')
    expect(NodeExecutor.readExitFile(file)).toEqual({ exitCode: null, signal: null, lost: true })
  })
})

describe("NodeExecutor: signal", () => {
  it("TERM kills the run's whole process group, grandchildren included", async () => {
    const dataDir = tempDir()
    const scratch = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(["sh", "-c", 'sleep 100 & echo $! > "$0/gc.pid"; sleep 100; wait', scratch])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    await eventually(() => existsSync(join(scratch, "gc.pid")) && readFileSync(join(scratch, "gc.pid"), "utf8").endsWith("\n"), "the grandchild's pid")
    const grandchild = Number(readFileSync(join(scratch, "gc.pid"), "utf8"))
    const grandchildStart = processStartTime(grandchild)!
    expect(alive(grandchild, grandchildStart)).toBe(true)
    const info = await procInfoOf(dataDir, run)

    await Effect.runPromise(executor.signal(run, "TERM"))
    expect(await exits.next()).toEqual({ exitCode: null, signal: "SIGTERM" })
    await eventually(() => !alive(grandchild, grandchildStart), "the grandchild to die")
    // the wrapper was not in the group: it lived to write the exit, then ended by itself
    await eventually(() => !alive(info.wrapperPid, info.wrapperStart), "the wrapper to end")
    close()
  })

  it("KILL ends a run that ignores TERM", async () => {
    const dataDir = tempDir()
    const scratch = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(["sh", "-c", 'trap "" TERM; touch "$0/ready"; sleep 100', scratch])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    await eventually(() => existsSync(join(scratch, "ready")), "the trap to be set")
    await Effect.runPromise(executor.signal(run, "TERM"))
    await Effect.runPromise(executor.signal(run, "KILL"))
    // had TERM killed it, the exit would say SIGTERM
    expect(await exits.next()).toEqual({ exitCode: null, signal: "SIGKILL" })
    close()
  })

  it("a signal sent right after start waits for the process group to be known", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(["sleep", "100"])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    await Effect.runPromise(executor.signal(run, "TERM"))
    expect(await exits.next()).toEqual({ exitCode: null, signal: "SIGTERM" })
    close()
  })

  it("signalling a run that has ended, or was never started here, is not an error", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(["true"])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    await exits.next()
    await Effect.runPromise(executor.signal(run, "TERM"))
    await Effect.runPromise(executor.signal(run, "KILL"))
    await Effect.runPromise(executor.signal(runOf(["true"]), "TERM"))
    expect(exits.calls).toHaveLength(1)
    close()
  })

  it("the wrapper survives SIGHUP and SIGTERM sent to it, and still records the exit", async () => {
    const dataDir = tempDir()
    const gate = join(tempDir(), "gate")
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(gated(gate, 5))
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    const info = await procInfoOf(dataDir, run)
    process.kill(info.wrapperPid, "SIGHUP")
    process.kill(info.wrapperPid, "SIGTERM")
    process.kill(info.wrapperPid, "SIGINT")
    expect(alive(info.pid, info.processStart)).toBe(true)
    open(gate)
    // had a signal killed the wrapper, its exit without an exit file would read `lost`
    expect(await exits.next()).toEqual({ exitCode: 5, signal: null })
    close()
  })
})

describe("NodeExecutor: signals to the wrapper", () => {
  it("racing the command's own exit never change the recorded status (20 runs at once)", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const rounds = Array.from({ length: 20 }, async (_, i) => {
      const gate = join(tempDir(), "gate")
      const run = runOf(gated(gate, 5), { id: `race-${i}` })
      const exits = exitRecorder()
      await start(executor, run, exits.onExit)
      const info = await procInfoOf(dataDir, run)
      open(gate) // the command ends while the wrapper handles the signals
      for (const signal of ["SIGHUP", "SIGTERM", "SIGINT"] as const) process.kill(info.wrapperPid, signal)
      return exits.next()
    })
    for (const exit of await Promise.all(rounds)) expect(exit).toEqual({ exitCode: 5, signal: null })
    close()
  }, 30_000)
})

/** A run started by one executor, which then closes; the run exits with `code` while none watches. */
const endedWhileNoExecutorWatched = async (code: number) => {
  const dataDir = tempDir()
  const gate = join(tempDir(), "gate")
  const a = openExecutor(dataDir)
  const run = runOf(gated(gate, code))
  await start(a.executor, run, () => {})
  await procInfoOf(dataDir, run)
  a.close()
  open(gate)
  await eventually(() => existsSync(NodeExecutor.exitPath(dataDir, run.id, 1)), "the exit file")
  return { dataDir, run }
}

describe("NodeExecutor: the runner dies, a new one adopts", () => {
  it("a run outlives its executor's scope and the next executor adopts it and learns its exit", async () => {
    const dataDir = tempDir()
    const gate = join(tempDir(), "gate")
    const a = openExecutor(dataDir)
    const run = runOf(gated(gate, 7))
    const exitsA = exitRecorder()
    await start(a.executor, run, exitsA.onExit)
    const info = await procInfoOf(dataDir, run)
    a.close()
    await eventually(() => spawnersOf(dataDir).length === 0, "the spawner to exit with its executor")
    expect(alive(info.wrapperPid, info.wrapperStart)).toBe(true)
    expect(alive(info.pid, info.processStart)).toBe(true)

    const b = openExecutor(dataDir)
    const exitsB = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exitsB.onExit))).toBe("adopted")
    expect(exitsB.calls).toEqual([])
    open(gate)
    expect(await exitsB.next()).toEqual({ exitCode: 7, signal: null })
    expect(exitsA.calls).toEqual([])
    b.close()
  })

  it("an exit that happened while no executor watched is found by adopt", async () => {
    const { dataDir, run } = await endedWhileNoExecutorWatched(4)
    const b = openExecutor(dataDir)
    const exitsB = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exitsB.onExit))).toBe("adopted")
    expect(exitsB.calls).toEqual([{ exitCode: 4, signal: null }])
    b.close()
  })

  it("signal works on an adopted run", async () => {
    const dataDir = tempDir()
    const a = openExecutor(dataDir)
    const run = runOf(["sleep", "100"])
    await start(a.executor, run, () => {})
    await procInfoOf(dataDir, run)
    a.close()
    const b = openExecutor(dataDir)
    const exitsB = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exitsB.onExit))).toBe("adopted")
    await Effect.runPromise(b.executor.signal(run, "TERM"))
    expect(await exitsB.next()).toEqual({ exitCode: null, signal: "SIGTERM" })
    b.close()
  })

  it("a wrapper gone without an exit file is lost: the starting executor says so, a later one cannot adopt it", async () => {
    const dataDir = tempDir()
    const gate = join(tempDir(), "gate")
    const a = openExecutor(dataDir)
    const run = runOf(gated(gate, 0))
    const exitsA = exitRecorder()
    await start(a.executor, run, exitsA.onExit)
    const info = await procInfoOf(dataDir, run)
    process.kill(info.wrapperPid, "SIGKILL")
    expect(await exitsA.next()).toEqual({ exitCode: null, signal: null, lost: true })
    expect(alive(info.pid, info.processStart), "the orphaned command was killed before the run was reported lost").toBe(false)
    a.close()

    const b = openExecutor(dataDir)
    const exitsB = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exitsB.onExit))).toBe("lost")
    expect(exitsB.calls).toEqual([])
    b.close()
  })

  it("never trusts a recorded pid whose start time or boot differs (a recycled pid), nor an attempt with no record", () => {
    const dataDir = tempDir()
    const b = openExecutor(dataDir)
    const fake = (id: string, wrapperStart: string, bootId: string) => {
      const run = runOf(["true"], { id })
      const dir = NodeExecutor.runDir(dataDir, run.id, 1)
      mkdirSync(dir, { recursive: true })
      const info = { wrapperPid: process.pid, wrapperStart, pid: process.pid, pgid: process.pid, processStart: wrapperStart, bootId }
      writeFileSync(join(dir, "proc.json"), JSON.stringify(info))
      return run
    }
    const adopt = (run: ReturnType<typeof runOf>) => Effect.runSync(b.executor.adopt(run, () => {}))
    // `process.pid` as a run's wrapper and command: the lost-wrapper path must never signal it
    // our own pid is alive, but it did not start at that time: someone else's pid now
    expect(adopt(fake("recycled", "1", currentBootId()))).toBe("lost")
    expect(adopt(fake("other-boot", processStartTime(process.pid)!, "00000000-0000-0000-0000-000000000000"))).toBe("lost")
    expect(adopt(fake("same", processStartTime(process.pid)!, currentBootId()))).toBe("adopted")
    // no attempt folder: the spawn never happened, which the engine undoes without a retry
    expect(adopt(runOf(["true"], { id: "never-started" }))).toBe("never-started")
    b.close()
  })

  it("a run survives its runner process being SIGKILLed, and a new executor adopts it", async () => {
    const dataDir = tempDir()
    const gate = join(tempDir(), "gate")
    const runner = spawn(process.execPath, ["--import", "tsx", "--conditions=@gantry/source", fileURLToPath(new URL("./fixtures/runner.ts", import.meta.url)), dataDir, "real-death", gate, "9"], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    const runnerExit = new Promise<NodeJS.Signals | null>((resolve) => runner.once("exit", (_code, signal) => resolve(signal)))
    const procLine = new Promise<string>((resolve) => {
      let out = ""
      runner.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const line = out.split("\n").find((l) => l.startsWith("PROC "))
        if (line !== undefined) resolve(line)
      })
    })
    const info = JSON.parse((await within(procLine, 20_000, "the stand-in runner to start its run")).slice(5)) as NodeExecutor.ProcInfo
    runner.kill("SIGKILL")
    expect(await within(runnerExit, 5000, "the runner to die")).toBe("SIGKILL")
    expect(alive(info.wrapperPid, info.wrapperStart)).toBe(true)
    expect(alive(info.pid, info.processStart)).toBe(true)

    const b = openExecutor(dataDir)
    const run = runOf(gated(gate, 9), { id: "real-death" })
    const exits = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exits.onExit))).toBe("adopted")
    open(gate)
    expect(await exits.next()).toEqual({ exitCode: 9, signal: null })
    b.close()
  }, 30_000)
})

/** A command that starts a grandchild (`sleep`) in its group, writes both pids to `pids`, and waits. */
const withGrandchild = (pids: string): ReadonlyArray<string> => ["bash", "-c", 'sleep 1000 & echo "$$ $!" > "$0.tmp" && mv "$0.tmp" "$0"; wait', pids]

const readPids = async (file: string): Promise<Array<{ pid: number; start: string }>> => {
  await eventually(() => existsSync(file), `the pids in ${file}`)
  return readFileSync(file, "utf8")
    .trim()
    .split(" ")
    .map((p) => ({ pid: Number(p), start: processStartTime(Number(p))! }))
}

describe("NodeExecutor: a wrapper killed (SIGKILL) while its command lives (SPEC §6.2)", () => {
  it("a spawned run: its whole process group is killed before it is reported lost", async () => {
    const dataDir = tempDir()
    const pidFile = join(tempDir(), "pids")
    const { executor, close } = openExecutor(dataDir)
    const run = runOf(withGrandchild(pidFile))
    const exits = exitRecorder()
    let aliveWhenLost: Array<boolean> = []
    const procs = await (async () => {
      await start(executor, run, (exit) => {
        aliveWhenLost = procs.map((p) => alive(p.pid, p.start))
        exits.onExit(exit)
      })
      return readPids(pidFile)
    })()
    const info = await procInfoOf(dataDir, run)
    process.kill(info.wrapperPid, "SIGKILL")
    expect(await exits.next()).toEqual({ exitCode: null, signal: null, lost: true })
    expect(aliveWhenLost, "command and grandchild, when onExit was called").toEqual([false, false])
    expect(readFileSync(join(NodeExecutor.runDir(dataDir, run.id, 1), "wrapper.log"), "utf8")).toMatch(/gone without an exit status; SIGKILL to its process group/)
    close()
  })

  it("adopt: a dead wrapper whose command lives is adopted, the command killed, then the run reported lost", async () => {
    const dataDir = tempDir()
    const pidFile = join(tempDir(), "pids")
    const a = openExecutor(dataDir)
    const run = runOf(withGrandchild(pidFile))
    await start(a.executor, run, () => {})
    const procs = await readPids(pidFile)
    const info = await procInfoOf(dataDir, run)
    a.close()
    process.kill(info.wrapperPid, "SIGKILL")
    await eventually(() => !alive(info.wrapperPid, info.wrapperStart), "the wrapper to die")
    expect(procs.map((p) => alive(p.pid, p.start)), "the command outlives its wrapper").toEqual([true, true])

    const b = openExecutor(dataDir)
    const exits = exitRecorder()
    let aliveWhenLost: Array<boolean> = []
    const outcome = Effect.runSync(
      b.executor.adopt(run, (exit) => {
        aliveWhenLost = procs.map((p) => alive(p.pid, p.start))
        exits.onExit(exit)
      })
    )
    expect(outcome, "held (its GPUs too) until nothing of it lives").toBe("adopted")
    expect(await exits.next()).toEqual({ exitCode: null, signal: null, lost: true })
    expect(aliveWhenLost).toEqual([false, false])
    b.close()
  })

  it("an adopted run whose wrapper is killed after the adoption is noticed (liveness check), killed, and reported lost", async () => {
    const dataDir = tempDir()
    const pidFile = join(tempDir(), "pids")
    const a = openExecutor(dataDir)
    const run = runOf(withGrandchild(pidFile))
    await start(a.executor, run, () => {})
    const procs = await readPids(pidFile)
    const info = await procInfoOf(dataDir, run)
    a.close()

    const b = openExecutor(dataDir)
    const exits = exitRecorder()
    let aliveWhenLost: Array<boolean> = []
    expect(
      Effect.runSync(
        b.executor.adopt(run, (exit) => {
          aliveWhenLost = procs.map((p) => alive(p.pid, p.start))
          exits.onExit(exit)
        })
      )
    ).toBe("adopted")
    process.kill(info.wrapperPid, "SIGKILL")
    expect(await exits.next("the lost report of the adopted run", 5000)).toEqual({ exitCode: null, signal: null, lost: true })
    expect(aliveWhenLost).toEqual([false, false])
    b.close()
  })

  it("when the group cannot be killed (EPERM), onExit is not called and it is said loudly; once the processes are gone, it is lost", async () => {
    const dataDir = tempDir()
    const pidFile = join(tempDir(), "pids")
    const scope = Effect.runSync(Scope.make())
    const refuse = (pid: number, sig: NodeJS.Signals) => {
      if (pid < 0 && sig === "SIGKILL") throw Object.assign(new Error("kill EPERM"), { code: "EPERM" })
      process.kill(pid, sig)
    }
    const executor = Effect.runSync(Scope.extend(NodeExecutor.make({ dataDir, kill: refuse }), scope))
    const run = runOf(withGrandchild(pidFile))
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    const procs = await readPids(pidFile)
    const info = await procInfoOf(dataDir, run)
    process.kill(info.wrapperPid, "SIGKILL")
    const log = join(NodeExecutor.runDir(dataDir, run.id, 1), "wrapper.log")
    await eventually(() => /cannot be killed \(EPERM\)/.test(readFileSync(log, "utf8")), "the refusal in wrapper.log")
    expect(readFileSync(log, "utf8")).toMatch(/stays running and keeps its GPUs/)
    expect(exits.calls, "no exit while its processes live").toEqual([])
    expect(procs.map((p) => alive(p.pid, p.start))).toEqual([true, true])
    // someone with the right to do it kills them: the next look reports the run lost
    process.kill(-info.pgid, "SIGKILL")
    expect(await exits.next("the lost report once the processes are gone", 5000)).toEqual({ exitCode: null, signal: null, lost: true })
    Effect.runSync(Scope.close(scope, Exit.void))
  })
})

describe("NodeExecutor: end times and file modes", () => {
  it("the exit file records when the command ended, and onExit carries it as endedAt (epoch ms)", async () => {
    const dataDir = tempDir()
    const stamp = join(tempDir(), "stamp")
    const { executor, close } = openExecutor(dataDir)
    // the command's own last stamp, just before it exits
    const run = runOf(["bash", "-c", 'sleep 0.2; echo "$EPOCHREALTIME" > "$0"; exit 3', stamp])
    const exits = exitRecorder()
    await start(executor, run, exits.onExit)
    expect(await exits.next()).toEqual({ exitCode: 3, signal: null })
    const own = Number(readFileSync(stamp, "utf8").trim()) * 1000
    const endedAt = exits.raw[0]!.endedAt!
    expect(Number.isSafeInteger(endedAt)).toBe(true)
    expect(endedAt - own).toBeGreaterThanOrEqual(-1)
    expect(endedAt - own).toBeLessThan(50)
    expect(JSON.parse(readFileSync(NodeExecutor.exitPath(dataDir, run.id, 1), "utf8")).endedAt).toBe(endedAt)
    close()
  })

  it("an exit file without an end time (a bash with no $EPOCHREALTIME writes null) gives an exit without endedAt", () => {
    const file = join(tempDir(), "exit.json")
    writeFileSync(file, '{"exitCode":1,"signal":null,"status":1,"endedAt":null}\n')
    expect(NodeExecutor.readExitFile(file)).toEqual({ exitCode: 1, signal: null })
  })

  it("the wrapper writes endedAt null where bash has no $EPOCHREALTIME (older than 5.0); the exit is still read, without endedAt", () => {
    const dir = tempDir()
    const script = join(dir, "wrapper.sh")
    writeFileSync(script, WRAPPER_SCRIPT)
    const exitFile = join(dir, "exit.json")
    // an unset EPOCHREALTIME loses its special meaning: the wrapper, sourced, sees a bash without it
    const r = spawnSync("bash", ["-c", 'unset EPOCHREALTIME; . "$0" "$@"', script, dir, exitFile, "sh", "-c", "exit 6"], { stdio: "ignore" })
    expect(r.status).toBe(0)
    expect(JSON.parse(readFileSync(exitFile, "utf8"))).toEqual({ exitCode: 6, signal: null, status: 6, endedAt: null })
    expect(NodeExecutor.readExitFile(exitFile)).toEqual({ exitCode: 6, signal: null })
  })

  it("an exit found by adopt carries the end time recorded while no executor watched, not the adoption time", async () => {
    const { dataDir, run } = await endedWhileNoExecutorWatched(2)
    const recorded = (JSON.parse(readFileSync(NodeExecutor.exitPath(dataDir, run.id, 1), "utf8")) as { endedAt: number }).endedAt
    expect(Number.isSafeInteger(recorded), "the exit file has endedAt").toBe(true)
    const b = openExecutor(dataDir)
    const exits = exitRecorder()
    expect(Effect.runSync(b.executor.adopt(run, exits.onExit))).toBe("adopted")
    expect(exits.raw).toEqual([{ exitCode: 2, signal: null, endedAt: recorded }])
    b.close()
  })

  it("under umask 022: folders 0700, its files 0600 (scripts, logs, proc.json, jobs, exit files); the command keeps the umask", async () => {
    const previous = process.umask(0o022)
    try {
      const dataDir = tempDir()
      const made = join(tempDir(), "made-by-run")
      const { executor, close } = openExecutor(dataDir)
      const run = runOf(["bash", "-c", 'echo out; echo err >&2; : > "$0"', made])
      const exits = exitRecorder()
      await start(executor, run, exits.onExit)
      expect(await exits.next()).toEqual({ exitCode: 0, signal: null })
      const mode = (p: string) => (statSync(p).mode & 0o777).toString(8)
      const dir = NodeExecutor.runDir(dataDir, run.id, 1)
      const dirs = [join(dataDir, "exits"), join(dataDir, "runs"), join(dataDir, "runs", run.id), dir]
      const files = [
        join(dataDir, "gantry-wrapper.sh"),
        join(dataDir, "gantry-spawner.mjs"),
        ...["stdout.log", "stderr.log", "proc.json", "jobs", "wrapper.log"].map((f) => join(dir, f)),
        NodeExecutor.exitPath(dataDir, run.id, 1)
      ]
      expect(Object.fromEntries([...dirs, ...files].map((p) => [p.slice(dataDir.length), mode(p)]))).toEqual(
        Object.fromEntries([...dirs.map((p) => [p.slice(dataDir.length), "700"]), ...files.map((p) => [p.slice(dataDir.length), "600"])])
      )
      expect(mode(made), "the run's own files follow the runner's umask").toBe("644")
      close()
    } finally {
      process.umask(previous)
    }
  })

  it("makes existing exits/ and runs/ folders private", () => {
    const dataDir = tempDir()
    mkdirSync(join(dataDir, "exits"), { mode: 0o755 })
    mkdirSync(join(dataDir, "runs"), { mode: 0o755 })
    chmodSync(join(dataDir, "exits"), 0o755)
    const { close } = openExecutor(dataDir)
    expect((statSync(join(dataDir, "exits")).mode & 0o777).toString(8)).toBe("700")
    expect((statSync(join(dataDir, "runs")).mode & 0o777).toString(8)).toBe("700")
    close()
  })
})

describe("NodeExecutor: paths", () => {
  it("lays out run folders and exit files, encoding run ids as one path segment", () => {
    expect(NodeExecutor.runDir("/d", "r1", 2)).toBe("/d/runs/r1/2")
    expect(NodeExecutor.logPaths("/d", "r1", 2)).toEqual({ stdout: "/d/runs/r1/2/stdout.log", stderr: "/d/runs/r1/2/stderr.log" })
    expect(NodeExecutor.exitPath("/d", "r1", 2)).toBe("/d/exits/r1.2.json")
    expect(NodeExecutor.runDir("/d", "a/b", 1)).toBe("/d/runs/a%2Fb/1")
    expect(NodeExecutor.runDir("/d", "..", 1)).toBe("/d/runs/%2E%2E/1")
  })

  it("removes a run's files, every attempt", async () => {
    const dataDir = tempDir()
    const { executor, close } = openExecutor(dataDir)
    const first = runOf(["true"], { id: "gone" })
    const second = runOf(["true"], { id: "gone", attempt: 2 })
    const kept = runOf(["true"], { id: "gone2" })
    for (const run of [first, second, kept]) {
      const exits = exitRecorder()
      await start(executor, run, exits.onExit)
      await exits.next()
    }
    NodeExecutor.removeRunFiles(dataDir, "gone", 2)
    expect(existsSync(join(dataDir, "runs", "gone"))).toBe(false)
    expect(existsSync(NodeExecutor.exitPath(dataDir, "gone", 1)) || existsSync(NodeExecutor.exitPath(dataDir, "gone", 2))).toBe(false)
    expect(existsSync(NodeExecutor.exitPath(dataDir, "gone2", 1))).toBe(true)
    expect(existsSync(NodeExecutor.runDir(dataDir, "gone2", 1))).toBe(true)
    close()
  })
})
