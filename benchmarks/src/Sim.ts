/**
 * sim: the M/M/c model (c servers, load ρ) three ways, each timed on the same machine in
 * the same run:
 * - **kernel**: the simulator's kernel without actors — SimClock's timer heap, the core's
 *   pending index and running set, and `decide()` on every cycle, cycles coalesced per
 *   instant exactly as the engine does;
 * - **engine**: the full engine (actors, statecharts, Effect runtime) through `simulate()`;
 * - **SimPy** on the identical model (Debian's python3-simpy3), or, where it is missing,
 *   a minimal JavaScript event-heap M/M/c as the baseline (said in the output).
 * Each also reports its mean wait, so one can see that the three simulate the same queue.
 */
import { activeRunOf, decide, defaultPolicy, freshLifecycle, type GpuView, makeQueue, PendingIndex, type Policy, QueueName, type Run, RunId, RunningSet, UserName } from "@gantry/core"
import { BinaryHeap } from "@gantry/core"
import { makePrng, mmcWorkload, SimClock, simulate } from "@gantry/sim"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const MEAN_SERVICE_MS = 60_000

export interface SimResult {
  readonly jobs: number
  readonly seconds: number
  readonly meanWaitMs: number
}

const DEFAULT = QueueName.make("default")

/** The kernel: SimClock + indexes + decide, no actors, no Effect. */
export const kernelMmc = (servers: number, load: number, jobs: number, seed: number): SimResult => {
  const workload = mmcWorkload({ seed, jobs, servers, load, meanServiceMs: MEAN_SERVICE_MS })
  const clock = new SimClock(0)
  const policy: Policy = { ...defaultPolicy, aging: null }
  const queues = new Map([[DEFAULT, makeQueue("default")]])
  const gpus: Array<GpuView & { heldBy: RunId | null }> = Array.from({ length: servers }, (_, index) => ({ index, drained: false, heldBy: null }))
  const running = new RunningSet()
  const pending = new PendingIndex(false)
  const user = UserName.make("u0")
  let waited = 0
  let cycleDue = false
  const t0 = performance.now()
  const finish = (run: Run, held: ReadonlyArray<number>) => {
    running.remove(run.id)
    for (const g of held) gpus[g]!.heldBy = null
    wake()
  }
  const cycle = () => {
    cycleDue = false
    const now = clock.now
    const decision = decide({ now, policy, queues, gpus, running, pending, usage: null })
    for (const start of decision.starts) {
      const run = pending.remove(start.runId)!
      waited += now - run.eligibleAt
      running.add(activeRunOf(run, now, start.gpus))
      for (const g of start.gpus) gpus[g]!.heldBy = run.id
      const duration = durations[run.seq - 1]!
      clock.timers.schedule(() => finish(run, start.gpus), duration)
    }
  }
  const wake = () => {
    if (cycleDue) return
    cycleDue = true
    clock.timers.schedule(cycle, 0)
  }
  const durations = workload.jobs.map((j) => j.durationMs)
  let next = 0
  const arrive = () => {
    const job = workload.jobs[next]!
    const seq = ++next
    const run: Run = {
      id: RunId.make(job.id),
      seq,
      name: null,
      command: ["mmc"],
      env: {},
      cwd: null,
      metadata: {},
      queue: DEFAULT,
      user,
      level: "researcher",
      team: null,
      project: null,
      gpus: 1,
      deviceIds: null,
      anyGpu: false,
      basePriority: 10,
      maxAttempts: 1,
      maxQueuedTimeMs: null,
      deadlineAt: null,
      timeLimitMs: null,
      estimatedCost: null,
      requiresApproval: false,
      idempotencyKey: null,
      parentId: null,
      submittedAt: clock.now,
      priorityOverride: null,
      ...freshLifecycle("pending", clock.now)
    }
    pending.add(run)
    wake()
    if (next < workload.jobs.length) clock.timers.schedule(arrive, workload.jobs[next]!.arrivalMs - clock.now)
  }
  if (workload.jobs.length > 0) clock.timers.schedule(arrive, workload.jobs[0]!.arrivalMs)
  clock.run()
  return { jobs, seconds: (performance.now() - t0) / 1000, meanWaitMs: waited / jobs }
}

/** The full engine, actors included, through the simulator. */
export const engineMmc = (servers: number, load: number, jobs: number, seed: number): SimResult => {
  const workload = mmcWorkload({ seed, jobs, servers, load, meanServiceMs: MEAN_SERVICE_MS })
  const t0 = performance.now()
  const report = simulate({ seed, workload, gpus: servers, policy: { ...defaultPolicy, aging: null }, eventLog: false })
  return { jobs, seconds: (performance.now() - t0) / 1000, meanWaitMs: report.metrics.overall.waitMeanMs }
}

const SIMPY_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../python/mmc_simpy.py")
const PYTHON = "/usr/bin/python3"

export const simpyAvailable = (): boolean => spawnSync(PYTHON, ["-c", "import simpy"], { stdio: "ignore" }).status === 0

/** SimPy on the same model, in its own process; the time is its own `env.run()`. */
export const simpyMmc = (servers: number, load: number, jobs: number, seed: number): SimResult => {
  const out = spawnSync(PYTHON, [SIMPY_SCRIPT, String(servers), String(load), String(jobs), String(seed), String(MEAN_SERVICE_MS)], { encoding: "utf8" })
  if (out.status !== 0) throw new Error(`SimPy failed: ${out.stderr}`)
  const r = JSON.parse(out.stdout) as SimResult
  return { jobs: r.jobs, seconds: r.seconds, meanWaitMs: r.meanWaitMs }
}

/** Where SimPy is missing: the smallest M/M/c event simulation in JavaScript (a heap of events, a FIFO). */
export const jsHeapMmc = (servers: number, load: number, jobs: number, seed: number): SimResult => {
  const prng = makePrng(seed)
  const rate = (load * servers) / MEAN_SERVICE_MS
  const events = new BinaryHeap<{ at: number; kind: 0 | 1; seq: number }>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  const fifo: Array<number> = []
  let head = 0
  let free = servers
  let waited = 0
  let seq = 0
  const t0 = performance.now()
  events.push({ at: prng.exponential(1 / rate), kind: 0, seq: seq++ })
  let arrived = 0
  for (let e = events.pop(); e !== undefined; e = events.pop()) {
    if (e.kind === 0) {
      arrived++
      fifo.push(e.at)
      if (arrived < jobs) events.push({ at: e.at + prng.exponential(1 / rate), kind: 0, seq: seq++ })
    } else free++
    while (free > 0 && head < fifo.length) {
      free--
      waited += e.at - fifo[head++]!
      events.push({ at: e.at + prng.exponential(MEAN_SERVICE_MS), kind: 1, seq: seq++ })
    }
  }
  return { jobs, seconds: (performance.now() - t0) / 1000, meanWaitMs: waited / jobs }
}
