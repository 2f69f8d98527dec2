/**
 * `simulate({ seed, workload, policy, gpus })`: the full engine (actors, ports, cycles)
 * on simulated time. Prints `SEED=…` and its derived options first; the same seed and
 * workload give a byte-identical event log.
 */
import { ChurnMap, defaultPolicy, type Policy, type QueueConfig, type RunEvent, type RunId, type Submission, UserName, TeamName, QueueName } from "@gantry/core"
import { type ActorMode, Engine, type EngineService, Journal, type JournalEntry, MemoryStore, noJournal, type SubmitOutcome } from "@gantry/engine"
import { Cause, Effect, Either, Exit, Layer, Option } from "effect"
import { type Metrics, metricsOfColumns, OutcomeTable, outcomeStatusCode } from "./Metrics.js"
import { makePrng } from "./Prng.js"
import { recordTransition, SeriesRecorder, type SeriesOverTime } from "./Series.js"
import { SimClock } from "./SimClock.js"
import * as SimExecutor from "./SimExecutor.js"
import * as SimGpus from "./SimGpus.js"
import type { Workload, WorkloadJob } from "./Workload.js"

export interface SimulateOptions {
  readonly seed: number
  readonly workload: Workload
  readonly gpus: number
  readonly policy?: Policy
  readonly queues?: ReadonlyArray<QueueConfig>
  /** Probability that a run's process is lost midway (seeded failure injection). */
  readonly lostProbability?: number
  /**
   * The engine's statecharts as Steppers (default) or live XState actors: the same event log
   * either way (a property test checks it), the live ones slower.
   */
  readonly actors?: ActorMode
  /** Keep the event log lines in the report (default true). */
  readonly eventLog?: boolean
  /**
   * Record busy GPUs and queue length over time (`SimReport.series`, Series.ts): a bounded
   * number of buckets, a few arithmetic operations per transition. Default off.
   */
  readonly series?: boolean
  /** What the metrics count as a long wait (`Metrics.longWaits`; default 1 h). */
  readonly waitThresholdMs?: number
  /**
   * Told how many jobs have arrived so far, every 4,096 arrivals and once at the end: for a
   * progress bar (a call per arrival would cost the hot path).
   */
  readonly onProgress?: (arrived: number, total: number) => void
  /**
   * Stop the replay at this simulated instant (ms from the workload's instant 0): later
   * arrivals are never submitted, and runs still waiting or running then count as such.
   */
  readonly untilMs?: number
  /** Where the SEED line goes (default: nowhere; the CLI passes console.log). */
  readonly print?: (line: string) => void
  /**
   * Record each run's first start (its order, instant and GPUs) in `SimReport.starts`: what a
   * replay of a runner's history is compared with (Fidelity.ts). Default false.
   */
  readonly starts?: boolean
  /**
   * Record each job's wait (first start − arrival, ms; NaN when it never started) in
   * `SimReport.waits`, indexed like the workload's jobs: the M/M/c check's batch means.
   */
  readonly waits?: boolean
  /** Called after every cycle and every run transition: for invariant checks. */
  readonly observe?: {
    readonly onEvent?: (event: RunEvent, engine: EngineService) => void
    readonly onCycle?: (entry: JournalEntry, engine: EngineService) => void
  }
}

export interface SimReport {
  readonly seed: number
  readonly header: string
  readonly metrics: Metrics
  readonly eventLog: ReadonlyArray<string> | null
  readonly events: number
  readonly cycles: number
  readonly timerEvents: number
  readonly simulatedMs: number
  readonly submitted: number
  readonly refused: number
  /** With `starts: true`: every run's first start, in the order the engine started them. */
  readonly starts?: ReadonlyArray<SimStart>
  /** With `waits: true`: each job's wait in the workload's order (NaN: never started). */
  readonly waits?: Float64Array
  /** Busy GPUs and queue length over time, when `series` was asked for. */
  readonly series?: SeriesOverTime
}

/** A run's first start in a replay: its job, when, and on which GPUs. */
export interface SimStart {
  readonly jobId: string
  readonly startMs: number
  readonly gpus: ReadonlyArray<number>
}

export const describeOptions = (o: SimulateOptions): string => {
  const policy = o.policy ?? defaultPolicy
  return [
    `SEED=${o.seed}`,
    `workload=${o.workload.name}`,
    `jobs=${o.workload.jobs.length}`,
    `gpus=${o.gpus}`,
    `fairShare=${policy.fairShare.mode}`,
    `backfill=${policy.backfill ? "on" : "off"}`,
    `aging=${policy.aging === null ? "off" : "on"}`,
    `maxConcurrent=${policy.limits.maxConcurrent ?? "gpus"}`,
    `userMax=${policy.limits.userMaxConcurrent ?? "none"}`,
    `teamMax=${policy.limits.teamMaxConcurrent ?? "none"}`,
    `lost=${o.lostProbability ?? 0}`
  ].join(" ")
}

// a workload has few users, teams and queues and many jobs: each name is checked once
const branded = <B>(make: (s: string) => B) => {
  const made = new Map<string, B>()
  return (s: string): B => {
    let b = made.get(s)
    if (b === undefined) made.set(s, (b = make(s)))
    return b
  }
}
const userNameOf = branded(UserName.make)
const teamNameOf = branded(TeamName.make)
const queueNameOf = branded(QueueName.make)

/**
 * The submission a workload job makes (the same for every driver of a workload). Built field by
 * field: a conditional spread per optional field made ten throw-away objects a job.
 */
export const submissionOf = (job: WorkloadJob): Submission => {
  const s: { -readonly [K in keyof Submission]: Submission[K] } = { command: ["sim", job.id], name: job.id, user: userNameOf(job.user), level: job.level, gpus: job.gpus }
  if (job.team !== undefined) s.team = teamNameOf(job.team)
  if (job.project !== undefined) s.project = job.project
  if (job.queue !== undefined) s.queue = queueNameOf(job.queue)
  if (job.deviceIds !== undefined) s.deviceIds = job.deviceIds
  if (job.anyGpu === true) s.anyGpu = true
  if (job.timeLimitMs !== undefined) s.timeLimitMs = job.timeLimitMs
  if (job.maxQueuedTimeMs !== undefined) s.maxQueuedTimeMs = job.maxQueuedTimeMs
  if (job.deadlineMs !== undefined) s.deadlineMs = job.deadlineMs
  if (job.requiresApproval === true) s.requiresApproval = true
  if (job.maxAttempts !== undefined) s.maxAttempts = job.maxAttempts
  return s
}

export const simulate = (o: SimulateOptions): SimReport => {
  const header = describeOptions(o)
  o.print?.(header)
  const clock = new SimClock()
  const jobs = o.workload.jobs
  // the outcomes as columns, a row per accepted run in submission order (Metrics.ts), and
  // where each unfinished run's row is: a map entry per run only while it lives
  const table = new OutcomeTable(jobs.length)
  const rows = new ChurnMap<RunId, number>()
  /** Each row's job (its index in the workload) and when its current run began (NaN: not running). */
  const jobOfRow = new Int32Array(Math.max(1, jobs.length))
  const runningSince = new Float64Array(Math.max(1, jobs.length))
  const keepLog = o.eventLog ?? true
  const log: Array<string> = []
  let events = 0
  const starts: Array<SimStart> | null = o.starts === true ? [] : null
  const waits = o.waits === true ? new Float64Array(o.workload.jobs.length).fill(NaN) : null
  const ref: { engine?: EngineService } = {}
  // with no observer the journal keeps nothing: `Effect.void`, which the cycle continues
  // inline, so a cycle that starts and commits nothing runs without a fiber (Cycle.ts)
  const onCycle = o.observe?.onCycle
  const journal: Layer.Layer<Journal> =
    onCycle === undefined
      ? noJournal
      : Layer.succeed(Journal, {
          record: (entry) =>
            Effect.sync(() => {
              if (ref.engine !== undefined) onCycle(entry, ref.engine)
            })
        })
  const ports = Layer.mergeAll(
    // an observer may look up an ended run; the report reads none back
    MemoryStore.layer({ keepTimelines: false, keepRuns: o.observe !== undefined }),
    SimExecutor.layer({
      timers: clock.timers,
      behaviour: (runId) => {
        const job = jobs[jobOfRow[rows.get(runId)!]!]!
        // a replay that keeps the real end instants ends the run then (if it started before)
        const durationMs = job.endAtMs === undefined ? job.durationMs : Math.max(1, job.endAtMs - clock.now)
        return { durationMs, exitCode: job.exitCode }
      },
      lostProbability: o.lostProbability ?? 0,
      prng: makePrng(o.seed).fork("lost")
    }),
    SimGpus.layer(o.gpus),
    journal
  )
  // every transition as it happens (the engine's synchronous hook for the simulator): the
  // event log, the outcome rows, and the observer's checks
  const series = o.series === true ? new SeriesRecorder() : undefined
  const RUNNING = outcomeStatusCode("running")
  const onTransition = (event: RunEvent): void => {
    events++
    if (keepLog) log.push(JSON.stringify([event.at, event.runId, event.from, event.to, event.reason, event.attempt]))
    const row = rows.get(event.runId)
    if (series !== undefined) recordTransition(series, event.at, event.from, event.to, row === undefined ? 0 : jobs[jobOfRow[row]!]!.gpus)
    if (row !== undefined) {
      const to = event.to
      if (to === "running") {
        if (Number.isNaN(table.startMs[row]!)) {
          // the GPUs were assigned before the transition (Kernel.assumeStart)
          if (starts !== null) starts.push({ jobId: jobs[jobOfRow[row]!]!.id, startMs: event.at, gpus: Effect.runSync(ref.engine!.getRun(event.runId)).assignedGpus })
          if (waits !== null) waits[jobOfRow[row]!] = event.at - table.arrivalMs[row]!
          table.startMs[row] = event.at
        }
        runningSince[row] = event.at
      } else if ((event.from === "running" || event.from === "stopping") && to !== "stopping" && !Number.isNaN(runningSince[row]!)) {
        table.runMs[row] += event.at - runningSince[row]!
        runningSince[row] = NaN
      }
      table.status[row] = to === "running" ? RUNNING : outcomeStatusCode(to)
      if (to === "completed" || to === "failed" || to === "cancelled" || to === "rejected") {
        table.endMs[row] = event.at
        rows.delete(event.runId)
      }
    }
    o.observe?.onEvent?.(event, ref.engine!)
  }
  const engine = Effect.runSync(
    Engine.make({ policy: o.policy ?? defaultPolicy, queues: o.queues ?? [], onTransition, decodeSubmissions: false, ...(o.actors === undefined ? {} : { actors: o.actors }) }).pipe(
      Effect.provide(ports),
      Effect.withClock(clock)
    )
  )
  ref.engine = engine

  let submitted = 0
  let refused = 0
  // the driver's work at the instant of the timer that asked for it (a submission, a
  // workload's decision or cancel), run in the driver's one fiber (below), not a fiber each
  let due: Effect.Effect<void> | null = null
  const later = (delayMs: number, action: Effect.Effect<unknown, unknown>) =>
    clock.timers.schedule(() => void (due = Effect.ignore(action)), delayMs)
  /** What a submission's outcome makes of the replay: a new row, the workload's later decisions; else one refused more. */
  const settle = (job: WorkloadJob, index: number, outcome: SubmitOutcome | null): void => {
    if (outcome === null || outcome._tag !== "Accepted") {
      refused++
      return
    }
    submitted++
    const run = outcome.run
    const row = table.add({ user: job.user, team: job.team, queue: run.queue, gpus: job.gpus, arrivalMs: job.arrivalMs, status: run.status })
    jobOfRow[row] = index
    runningSince[row] = NaN
    rows.set(run.id, row)
    // the "submitted" event fired before the row existed
    if (job.decision !== undefined)
      later(job.decision.atMs, job.decision.approve ? engine.approve(run.id) : engine.reject(run.id, "rejected by the workload"))
    if (job.cancelAfterMs !== undefined) later(job.cancelAfterMs, engine.cancel([run.id]))
  }
  // every arrival, as timers at the jobs' arrival times (held one at a time: SimClock.scheduleEach),
  // submitted at once (`submitNow`: the memory store is synchronous and the lock free, so it is
  // an Exit), or else in the driver's fiber
  clock.scheduleEach(jobs.length, (i) => jobs[i]!.arrivalMs, (i) => {
    if (o.onProgress !== undefined && (i & 4095) === 4095) o.onProgress(i + 1, jobs.length)
    const job = jobs[i]!
    const submission = engine.submitNow(submissionOf(job))
    if (!Exit.isExit(submission)) {
      due = Effect.map(Effect.either(submission), (either) => settle(job, i, Either.isRight(either) ? either.right : null))
      return
    }
    const outcome = submission as Exit.Exit<SubmitOutcome, unknown>
    if (Exit.isSuccess(outcome)) settle(job, i, outcome.value)
    // a refusal is counted; a defect is the replay's, as in a fiber
    else if (Option.isSome(Cause.failureOption(outcome.cause))) settle(job, i, null)
    else throw Cause.squash(outcome.cause)
  })
  // each timer fires alone (`step`), and its work, if any, runs before the next: the order of
  // a timer doing it itself; the engine's own cycles and exits need no fiber (its Sync.ts)
  const untilMs = o.untilMs ?? Infinity
  Effect.runSync(
    Effect.gen(function* () {
      for (;;) {
        if (due !== null) {
          const work: Effect.Effect<void> = due
          due = null
          yield* work
        } else if (!clock.step(untilMs)) return
      }
    })
  )
  const stats = Effect.runSync(engine.stats)
  return {
    seed: o.seed,
    header,
    metrics: metricsOfColumns(table, { gpuCount: o.gpus, waitThresholdMs: o.waitThresholdMs }),
    eventLog: keepLog ? log : null,
    events,
    cycles: stats.cycles,
    timerEvents: clock.fired,
    simulatedMs: clock.now,
    submitted,
    refused,
    ...(starts === null ? {} : { starts }),
    ...(waits === null ? {} : { waits }),
    ...(series === undefined ? {} : { series: series.finish(clock.now) })
  }
}
