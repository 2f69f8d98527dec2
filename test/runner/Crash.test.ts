/**
 * Crash acceptance (SPEC §6.2, §6.3, §6.11, §7): a workload of short runs on four fake GPUs
 * while the daemon is killed with SIGKILL and restarted again and again, and run wrappers are
 * killed with SIGKILL (one while the daemon watches it, one while no daemon runs, one after a
 * restarted daemon adopted it). Afterwards, from the runs' own records:
 *
 * - every accepted run is terminal, with the status and exit code its script gave (the runs
 *   whose wrapper was killed are lost on attempt 1 and complete on attempt 2);
 * - no attempt started twice;
 * - no GPU was held by two live processes: each run checks at its start that the process that
 *   held its GPU before it is gone (a killed run writes no end record), and the start/end
 *   intervals on one GPU never overlap;
 * - every end time is within 50 ms of the script's own end record, runs that ended while no
 *   daemon ran included.
 *
 * Kills and restarts follow events (a run's start record, the daemon's ready line), not sleeps.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"
import { type Daemon, type Interval, maxOverlap, ms, type RunJson, sandbox, waitFor } from "./Gantry.js"

const RUNS = 40
/** Runs whose wrapper is killed during attempt 1 (they then sleep until killed). */
const VICTIMS = 3
/** Daemon kill -9s; each after this many more start records (-1: right after the ready line). 43 starts in all. */
const KILL_AFTER_STARTS = [4, 6, -1, 6, 6, 6]

interface Rec {
  readonly kind: "start" | "end" | "overlap"
  readonly id: string
  readonly attempt: number
  readonly t: number
  readonly gpu: string
}

describe("crash acceptance: kill -9 of the daemon and of run wrappers under a workload", () => {
  it("every run terminal with its own exit code, no attempt started twice, no GPU held by two live processes, end times right", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 4 })
    const rec = path.join(s.work, "crec")
    // each run: check that the previous holder of its GPU is gone, record its start, sleep, record its end, exit
    const script = (sleepMs: number, code: number, victim: boolean): Array<string> => [
      "bash",
      "-c",
      [
        `w="${s.work}"; id=$GANTRY_RUN_ID; a=$GANTRY_ATTEMPT; g=$CUDA_VISIBLE_DEVICES`,
        `read -r st < /proc/$$/stat; st=\${st##*) }; set -- $st; me="$$ \${20}"`,
        `if read -r p ps 2>/dev/null < "$w/gpu.$g"; then`,
        `  if read -r line 2>/dev/null < /proc/$p/stat; then l=\${line##*) }; set -- $l`,
        `    if [ "$1" != Z ] && [ "\${20}" = "$ps" ]; then echo "overlap $id $a $EPOCHREALTIME $g" >> "$w/crec"; fi`,
        `  fi`,
        `fi`,
        `echo "$me" > "$w/gpu.$g"`,
        `echo "start $id $a $EPOCHREALTIME $g" >> "$w/crec"`,
        victim ? `if [ "$a" = 1 ]; then sleep 1000; fi` : "",
        `sleep ${(sleepMs / 1000).toFixed(3)}`,
        `echo "end $id $a $EPOCHREALTIME $g" >> "$w/crec"`,
        `exit ${code}`
      ]
        .filter((l) => l !== "")
        .join("\n")
    ]
    const records = (): Array<Rec> => {
      let text: string
      try {
        text = fs.readFileSync(rec, "utf8")
      } catch {
        return []
      }
      return text
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => {
          const [kind, id, attempt, t, gpu] = l.split(" ")
          return { kind: kind as Rec["kind"], id: id!, attempt: Number(attempt), t: Number(t) * 1000, gpu: gpu! }
        })
    }
    const startCount = () => records().filter((r) => r.kind === "start").length

    // the workload: victims first (so they start at once), then runs of 50-400 ms, every fifth exiting non-zero
    const plan = Array.from({ length: RUNS }, (_, i) => {
      const victim = i < VICTIMS
      const code = victim ? 0 : i % 5 === 3 ? 10 + (i % 7) : 0
      return { victim, code, sleepMs: 50 + ((i * 83) % 351) }
    })
    let d: Daemon = await s.serve()
    const ids: Array<string> = []
    for (const p of plan) {
      const result = await d.api<{ _tag: string; run: RunJson }>("POST", "/api/runs", {
        command: script(p.sleepMs, p.code, p.victim),
        user: "tester",
        gpus: 1,
        ...(p.victim ? { maxAttempts: 2 } : {})
      })
      expect(result._tag).toBe("Accepted")
      ids.push(result.run.id)
    }
    const expected = new Map(ids.map((id, i) => [id, plan[i]!] as const))
    const victims = ids.slice(0, VICTIMS)

    const started = (id: string, attempt: number) => records().some((r) => r.kind === "start" && r.id === id && r.attempt === attempt)
    /** The wrapper pid of a victim's first attempt, once it runs and its wrapper has recorded proc.json. */
    const victimWrapper = (id: string, daemon: Daemon): Promise<number> =>
      waitFor(`${id} attempt 1 running`, () => (started(id, 1) && s.procInfo(id, 1)?.wrapperPid) || undefined, {
        daemon,
        watch: [s.work],
        timeoutMs: 30_000
      })
    const killWrapper = (pid: number) => process.kill(pid, "SIGKILL")

    // victim 1: its wrapper dies while the daemon watches
    killWrapper(await victimWrapper(victims[0]!, d))
    let kills = 0
    for (const after of KILL_AFTER_STARTS) {
      if (after >= 0) {
        const target = startCount() + after
        await waitFor(`${target} start records`, () => startCount() >= target || undefined, { daemon: d, watch: [s.work], timeoutMs: 30_000, describe: () => startCount() })
      }
      // victim 2's wrapper must be known before the daemon goes down
      const second = kills === 0 ? await victimWrapper(victims[1]!, d) : null
      const third = kills === 0 ? await victimWrapper(victims[2]!, d) : null
      await d.kill9()
      kills++
      // victim 2: its wrapper dies while no daemon runs (the next one finds its command alive)
      if (second !== null) killWrapper(second)
      d = await s.serve()
      // victim 3: its wrapper dies after the restarted daemon adopted it
      if (third !== null) {
        expect((await d.list()).find((r) => r.id === victims[2])?.status, "victim 3 adopted").toBe("running")
        killWrapper(third)
      }
    }
    expect(kills).toBeGreaterThanOrEqual(5)

    const runs = await d.waitTerminal(ids, { timeoutMs: 60_000 })
    const recs = records()

    // no GPU held by two live processes: no run found the previous holder of its GPU alive
    expect(recs.filter((r) => r.kind === "overlap"), "runs that found their GPU's previous holder alive").toEqual([])
    // ... and the start/end intervals of each GPU never overlap
    const intervals = new Map<string, Array<Interval>>()
    const openStarts = new Map<string, Rec>()
    for (const r of recs) {
      const key = `${r.id}#${r.attempt}`
      if (r.kind === "start") openStarts.set(key, r)
      if (r.kind !== "end") continue
      const start = openStarts.get(key)
      expect(start, `end record of ${key} has a start`).toBeDefined()
      expect(start!.gpu).toBe(r.gpu)
      openStarts.delete(key)
      intervals.set(r.gpu, [...(intervals.get(r.gpu) ?? []), { id: key, start: start!.t, end: r.t }])
    }
    for (const [gpu, list] of intervals) expect(maxOverlap(list), `GPU ${gpu}: runs at once`).toBe(1)
    // the only attempts without an end record are the victims' first ones (killed)
    expect([...openStarts.keys()].sort()).toEqual(victims.map((id) => `${id}#1`).sort())

    // no attempt started twice, and each run's attempts are the ones expected
    const startsOf = new Map<string, number>()
    for (const r of recs) if (r.kind === "start") startsOf.set(`${r.id}#${r.attempt}`, (startsOf.get(`${r.id}#${r.attempt}`) ?? 0) + 1)
    for (const [key, n] of startsOf) expect(n, `starts of ${key}`).toBe(1)
    for (const id of ids) {
      const attempts = [...startsOf.keys()].filter((k) => k.startsWith(`${id}#`)).map((k) => Number(k.split("#")[1]))
      expect(attempts.sort(), `attempts of ${id}`).toEqual(expected.get(id)!.victim ? [1, 2] : [1])
    }

    // every run terminal, with the exit its script gave; the victims lost attempt 1 and completed attempt 2
    expect(runs.map((r) => r.id)).toEqual(ids)
    for (const run of runs) {
      const p = expected.get(run.id)!
      if (p.victim) {
        expect([run.status, run.attempt, run.exitCode], `victim ${run.id}`).toEqual(["completed", 2, 0])
        const detail = await d.show(run.id)
        const retries = detail.timeline.filter((e) => e.from === "running" && e.to === "pending").map((e) => e.reason)
        expect(retries, `victim ${run.id}: attempt 1 lost, then retried`).toEqual(["retry after lost"])
      } else {
        expect([run.status, run.exitCode, run.failReason, run.attempt], `run ${run.id}`).toEqual(p.code === 0 ? ["completed", 0, null, 1] : ["failed", p.code, "exit-code", 1])
      }
      const lastStart = recs.find((r) => r.kind === "start" && r.id === run.id && r.attempt === run.attempt)!
      expect(run.assignedGpus.map(String), `GPU of ${run.id}`).toEqual([lastStart.gpu])
    }

    // end times: the script's own end record, within 50 ms (runs that ended while no daemon ran too)
    const late = runs
      .map((run) => {
        const end = recs.find((r) => r.kind === "end" && r.id === run.id && r.attempt === run.attempt)!
        return { id: run.id, off: Math.round(ms(run.endedAt!) - end.t) }
      })
      .filter((x) => Math.abs(x.off) > 50)
    expect(late, "runs whose endedAt is more than 50 ms from their own end record (ms off)").toEqual([])
  })
})
