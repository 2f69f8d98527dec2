/**
 * A run's wrapper killed with SIGKILL while its command lives (SPEC §6.2 on a real machine,
 * §7): the run is `failed(lost)`, but its GPU goes to the next run only once no process of it
 * is alive, whether the daemon saw the wrapper die (its own child's exit), found it dead when
 * it adopted the run after a restart, or it died after the adoption. And a run that ended
 * while no daemon ran gets the time it ended, not the time it was adopted.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, type ExpectStatic, it } from "vitest"
import { type Daemon, isAlive, ms, type Sandbox, sandbox, waitFor } from "./Gantry.js"

/** A: holds GPU 0 with a grandchild (`sleep`) in its group, writing its pid to `child.<id>`, until its gate opens. */
const holder = (s: Sandbox): Array<string> => s.script({ gate: true, body: `sleep 1000 & echo $! > "${s.work}/child.$GANTRY_RUN_ID"` })

/**
 * B: at its start, writes what it sees of A's command and grandchild (`<pid> <state>` from
 * /proc, `gone` when there is no such process) and its own CUDA_VISIBLE_DEVICES to `seen.<id>`.
 */
const observer = (s: Sandbox, a: string): Array<string> =>
  s.script({
    body: [
      `for f in "${s.work}/pid.${a}" "${s.work}/child.${a}"; do`,
      `  read -r p < "$f"; st=gone`,
      `  if read -r line 2>/dev/null < /proc/$p/stat; then st=\${line##*) }; st=\${st%% *}; fi`,
      `  echo "$p $st" >> "${s.work}/seen.$GANTRY_RUN_ID"`,
      `done`,
      `echo "gpus $CUDA_VISIBLE_DEVICES" >> "${s.work}/seen.$GANTRY_RUN_ID"`
    ].join("\n")
  })

/** What B saw of A when it started: A's processes were gone (or zombies: dead, not yet reaped). */
const checkSeen = async (s: Sandbox, a: string, b: string, expect: ExpectStatic) => {
  const pids = [s.pidOf(a)!, Number(fs.readFileSync(path.join(s.work, `child.${a}`), "utf8").trim())]
  // B is running once the daemon says so; its script writes its three lines right after
  const file = path.join(s.work, `seen.${b}`)
  const seen = await waitFor(
    `B's record of A (${file})`,
    () => {
      const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n") : []
      return lines.length >= 3 ? lines : undefined
    },
    { watch: [s.work] }
  )
  expect(seen.slice(0, 2).map((l) => l.split(" ")[0])).toEqual(pids.map(String))
  for (const line of seen.slice(0, 2)) expect(["gone", "Z"], `A's process ${line} when B started on its GPU`).toContain(line.split(" ")[1])
  expect(seen[2]).toBe("gpus 0")
  for (const pid of pids) expect(isAlive(pid)).toBe(false)
}

const setup = async (s: Sandbox): Promise<{ d: Daemon; a: string; b: string; wrapperPid: number }> => {
  const d = await s.serve()
  const a = await s.submit(holder(s))
  await s.waitStarted([a], { daemon: d })
  await waitFor(`A's grandchild pid`, () => fs.existsSync(path.join(s.work, `child.${a}`)) || undefined, { watch: [s.work] })
  const b = await s.submit(observer(s, a))
  const waiting = (await d.list()).find((r) => r.id === b)?.status
  if (waiting !== "pending") throw new Error(`B should wait for GPU 0, but is ${waiting}`)
  return { d, a, b, wrapperPid: s.procInfo(a)!.wrapperPid }
}

describe.concurrent("SPEC §6.2: a GPU is not handed on while a process of the run that held it lives", () => {
  it("kill -9 of a run's wrapper: the run is failed(lost), its command and grandchild are killed before the next run starts on its GPU", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 1 })
    const { d, a, b, wrapperPid } = await setup(s)
    process.kill(wrapperPid, "SIGKILL")
    const t0 = Date.now()
    const [lost] = await d.waitTerminal([a], { timeoutMs: 10_000 })
    expect(Date.now() - t0, "noticed at once (the wrapper is the spawner's child)").toBeLessThan(5000)
    expect([lost?.status, lost?.failReason, lost?.attempt]).toEqual(["failed", "lost", 1])
    await s.waitStarted([b], { daemon: d })
    await checkSeen(s, a, b, expect)
    const [ran] = await d.waitTerminal([b])
    expect(ran?.status).toBe("completed")
    expect(s.starts(a)).toBe(1)
  })

  it("a wrapper killed while no daemon ran, its command alive: the next daemon kills the command before it reports the run lost and starts the next one", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 1 })
    const { d, a, b, wrapperPid } = await setup(s)
    await d.kill9()
    process.kill(wrapperPid, "SIGKILL")
    expect(isAlive(s.pidOf(a)!), "A's command outlives its wrapper").toBe(true)
    const d2 = await s.serve()
    await s.waitStarted([b], { daemon: d2 })
    await checkSeen(s, a, b, expect)
    const [lost, ran] = await d2.waitTerminal([a, b])
    expect([lost?.status, lost?.failReason]).toEqual(["failed", "lost"])
    expect(ran?.status).toBe("completed")
  })

  it("a wrapper killed after its run was adopted by a restarted daemon is noticed, its command killed, and the run reported lost", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 1 })
    const { d, a, b, wrapperPid } = await setup(s)
    await d.kill9()
    const d2 = await s.serve()
    expect((await d2.list()).find((r) => r.id === a)?.status, "adopted").toBe("running")
    process.kill(wrapperPid, "SIGKILL")
    const t0 = Date.now()
    const [lost] = await d2.waitTerminal([a], { timeoutMs: 10_000 })
    expect(Date.now() - t0, "noticed by the liveness check (every second)").toBeLessThan(5000)
    expect([lost?.status, lost?.failReason]).toEqual(["failed", "lost"])
    await s.waitStarted([b], { daemon: d2 })
    await checkSeen(s, a, b, expect)
  })
})

describe.concurrent("SPEC §7: a run that ended while no daemon ran", () => {
  it("gets the time it ended as endedAt (within 50 ms of its own last record), not the time the next daemon adopted it", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const id = await s.submit(s.script({ gate: true, exit: 2 }))
    await s.waitStarted([id], { daemon: d })
    await d.kill9()
    s.release(id)
    const exitFile = path.join(s.home, "exits", `${id}.1.json`)
    await waitFor("the exit file", () => fs.existsSync(exitFile) && fs.readFileSync(exitFile, "utf8") !== "" || undefined, { watch: [path.dirname(exitFile)] })
    // the downtime whose length must not show in the end time (deliberate, not a wait for something)
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const d2 = await s.serve()
    const [run] = await d2.waitTerminal([id])
    const end = s.records().find((r) => r.kind === "end" && r.id === id)!.t * 1000
    expect(run?.exitCode).toBe(2)
    expect(Math.abs(ms(run!.endedAt!) - end), `endedAt ${run?.endedAt} vs the run's own end ${end}`).toBeLessThanOrEqual(50)
    const detail = await d2.show(id)
    const last = detail.timeline[detail.timeline.length - 1]!
    expect(Math.abs(ms(last.at) - end), "the terminal event's time").toBeLessThanOrEqual(50)
  })
})
