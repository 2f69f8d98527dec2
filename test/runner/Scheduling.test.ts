/**
 * Acceptance of the runner's scheduling with real processes: the global limit and the
 * start order (SPEC §3, §4, §6.1, §6.5), and GPU allocation (SPEC §4 GPU fit, §6.2).
 */
import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { type Interval, maxOverlap, ms, recordIntervals, type RunDetail, type RunJson, runningIntervals, sandbox } from "./Gantry.js"


const startOf = (detail: RunDetail): number => {
  const started = detail.timeline.filter((e) => e.from === "pending" && e.to === "running")
  expect(started, `run ${detail.run.id} starts once`).toHaveLength(1)
  return ms(started[0]!.at)
}

describe.concurrent("SPEC §4 max-concurrent and §3 order, on the real runner", () => {
  it("10 runs under max-concurrent=3 never run more than 3 at once, all complete, and higher-priority runs submitted later start first", { timeout: 90_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    await s.ok(["limits", "set", "max-concurrent=3"])

    // three runs take the three slots and hold them until released
    const blockers: Array<string> = []
    for (let i = 0; i < 3; i++) blockers.push(await s.submit(s.script({ gate: true }), ["--name", `blocker-${i}`]))
    await s.waitStarted(blockers)
    // then four ordinary runs, then three with a priority override, all while the slots are busy
    const ordinary: Array<string> = []
    for (let i = 0; i < 4; i++) ordinary.push(await s.submit(s.script({ sleep: 0.3 }), ["--name", `ordinary-${i}`]))
    const urgent: Array<string> = []
    for (let i = 0; i < 3; i++) urgent.push(await s.submit(s.script({ sleep: 0.3 }), ["--priority", "50", "--name", `urgent-${i}`]))

    const before = new Map((await d.list()).map((r) => [r.id, r] as const))
    for (const id of blockers) expect(before.get(id)?.status, `blocker ${id}`).toBe("running")
    for (const id of [...ordinary, ...urgent]) expect(before.get(id)?.status, `run ${id} waits while the slots are busy`).toBe("pending")
    for (const id of urgent) expect(before.get(id)?.priorityOverride).toBe(50)

    for (const id of blockers) s.release(id)
    const runs = await d.waitTerminal([...blockers, ...ordinary, ...urgent], { timeoutMs: 60_000 })
    expect(runs).toHaveLength(10)
    for (const r of runs) expect(r.status, `run ${r.id}`).toBe("completed")

    // the runs' own records: one start and one end each, never more than 3 at once
    const records = s.records()
    for (const r of runs) {
      expect(s.starts(r.id), `start records of ${r.id}`).toBe(1)
      expect(s.ends(r.id), `end records of ${r.id}`).toBe(1)
    }
    const fromRecords = recordIntervals(records)
    expect(fromRecords).toHaveLength(10)
    expect(maxOverlap(fromRecords)).toBeLessThanOrEqual(3)

    // the timelines, through the CLI: the running intervals overlap at most 3 deep (and the
    // three blockers did run together, so the limit was reached)
    const details = await Promise.all(runs.map((r) => s.json<RunDetail>(["runs", "show", r.id])))
    const intervals: Array<Interval> = details.flatMap((detail) => runningIntervals(detail.timeline))
    expect(intervals).toHaveLength(10)
    expect(maxOverlap(intervals)).toBe(3)

    // SPEC §3: the overrides (50) before the base priority (10); equal priority in submission order
    const startAt = new Map(details.map((detail) => [detail.run.id, startOf(detail)] as const))
    const expectedOrder = [...urgent, ...ordinary]
    for (let i = 0; i + 1 < expectedOrder.length; i++) {
      const a = expectedOrder[i]!
      const b = expectedOrder[i + 1]!
      expect(startAt.get(a)!, `run ${a} starts no later than ${b}`).toBeLessThanOrEqual(startAt.get(b)!)
    }
    for (const id of urgent) expect(startAt.get(id)!, `urgent ${id} starts before the last ordinary run`).toBeLessThan(startAt.get(ordinary.at(-1)!)!)
  })
})

describe.concurrent("SPEC §4 GPU fit on the real runner (GANTRY_FAKE_GPUS=4)", () => {
  it("each run sees exactly its assigned GPUs, no device is shared by two running runs, deviceIds are honoured", { timeout: 90_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 4 })
    const asks: ReadonlyArray<{ readonly gpus: number; readonly devices?: string }> = [
      { gpus: 2 },
      { gpus: 1 },
      { gpus: 1, devices: "3" },
      { gpus: 2 },
      { gpus: 1 },
      { gpus: 2 },
      { gpus: 1, devices: "3" },
      { gpus: 1 }
    ]
    const body = `echo "CUDA=$CUDA_VISIBLE_DEVICES NVIDIA=$NVIDIA_VISIBLE_DEVICES RUN=$GANTRY_RUN_ID"`
    // submitted while no daemon runs, so that they all compete when it starts
    const ids: Array<string> = []
    for (const ask of asks)
      ids.push(await s.submit(s.script({ body, sleep: 0.3 }), ["--gpus", String(ask.gpus), ...(ask.devices !== undefined ? ["--device-ids", ask.devices] : [])]))
    const d = await s.serve()
    const runs = await d.waitTerminal(ids, { timeoutMs: 60_000 })

    const byId = new Map(runs.map((r) => [r.id, r] as const))
    const held: Array<Interval & { readonly gpus: ReadonlyArray<number> }> = []
    for (const [i, id] of ids.entries()) {
      const run: RunJson = byId.get(id)!
      const ask = asks[i]!
      expect(run.status, `run ${id}`).toBe("completed")
      expect(run.assignedGpus, `run ${id} holds what it asked`).toHaveLength(ask.gpus)
      if (ask.devices !== undefined) expect(run.assignedGpus).toEqual([3])
      const log = fs.readFileSync(s.logPath(id, "stdout"), "utf8")
      const m = /^CUDA=(\S*) NVIDIA=(\S*) RUN=(\S*)$/m.exec(log)
      expect(m, `run ${id}'s log: ${log}`).not.toBeNull()
      expect(m![1], `CUDA_VISIBLE_DEVICES of ${id}`).toBe(run.assignedGpus.join(","))
      expect(m![2], `NVIDIA_VISIBLE_DEVICES of ${id}`).toBe(run.assignedGpus.join(","))
      expect(m![3], `GANTRY_RUN_ID of ${id}`).toBe(id)
      const detail = await d.show(id)
      for (const interval of runningIntervals(detail.timeline)) held.push({ ...interval, gpus: run.assignedGpus })
    }
    expect(held).toHaveLength(ids.length)
    for (let gpu = 0; gpu < 4; gpu++) {
      const users = held.filter((h) => h.gpus.includes(gpu))
      expect(maxOverlap(users), `GPU ${gpu} is held by one run at a time: ${JSON.stringify(users)}`).toBeLessThanOrEqual(1)
    }
    // 11 GPUs asked of 4: the runs had to take turns, and did run side by side
    expect(maxOverlap(held)).toBeGreaterThan(1)
  })
})

describe.concurrent("SPEC §5 a limit change is an event", () => {
  it("raising max-concurrent starts the waiting runs at once, with no other trigger", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=1"])
    const d = await s.serve()
    const ids: Array<string> = []
    for (let i = 0; i < 3; i++) ids.push(await s.submit(s.script({ gate: true })))
    await s.waitStarted([ids[0]!], { daemon: d })
    expect((await d.list()).filter((r) => r.status === "pending").map((r) => r.id).sort()).toEqual(ids.slice(1).sort())

    await s.ok(["limits", "set", "max-concurrent=3"])
    await s.waitStarted(ids, { daemon: d })
    expect((await d.list()).filter((r) => r.status === "running")).toHaveLength(3)
    for (const id of ids) s.release(id)
    const runs = await d.waitTerminal(ids)
    expect(runs.map((r) => r.status)).toEqual(["completed", "completed", "completed"])
  })
})
