/**
 * A runner's own history as a workload to replay (`gantry sim --from-db`, issue 12), and the
 * real starts a replay is compared with (Fidelity.ts). Pure: the runs and their timelines come
 * in (libs/store-sqlite `History.readHistory` reads them from a database), a workload goes out.
 *
 * Per run (its record and its timeline):
 * - arrival: its submission, or, for a run submitted held, its release (when it could first be
 *   considered); user, team, project, queue, level, GPUs, device ids, time limit, max queued
 *   time and deadline as submitted; the exit code it ended with;
 * - duration: the measured running time of its last attempt (start to end); a run still running
 *   at the snapshot: its elapsed time until the snapshot instant (and the report says so);
 * - operator actions it met: an approval or a rejection (at the instant it happened after the
 *   arrival), a cancel (likewise; a run cancelled while running is cancelled at that instant in
 *   the replay too);
 * - runs still waiting at the snapshot (pending) are kept, with the median measured duration
 *   (none is known), because they shape the decisions (a waiting head holds a reservation);
 *   runs still blocked are kept blocked; runs held and never released are left out (they never
 *   competed for anything); each is counted in the notes.
 *
 * What a replay cannot express is said in the notes: a retried run is replayed as its last
 * attempt; a priority override (set at submission or later) is not replayed; the queues are
 * replayed as configured now, unpaused.
 *
 * Times: the runner's are wall-clock epoch ms; the workload's are ms from `originMs` (the
 * earliest arrival), kept so a report can print real dates.
 */
import { makeQueue, type Policy, type QueueConfig, type Run, type RunEvent } from "@gantry/core"
import type { RealStart } from "./Fidelity.js"
import { formatDurationMs } from "./Metrics.js"
import type { Workload, WorkloadJob } from "./Workload.js"

/** What a runner database holds that a replay needs, read at one instant. */
export interface RunnerHistory {
  /** Where it was read from (the database's path). */
  readonly source: string
  /** The snapshot instant (epoch ms): runs still running ran until it. */
  readonly snapshotAt: number
  /** Every run, in submission order (seq). */
  readonly runs: ReadonlyArray<Run>
  /** Every run's transitions, in the order the runner recorded them. */
  readonly events: ReadonlyArray<RunEvent>
  /** The policy in force; null when none was ever stored (the runner's default). */
  readonly policy: Policy | null
  readonly queues: ReadonlyArray<QueueConfig>
  /** GPUs of the machine's last inventory; null when none is stored. */
  readonly gpuCount: number | null
}

export interface HistoryReplay {
  readonly workload: Workload
  /** Epoch ms of the workload's instant 0. */
  readonly originMs: number
  /** The snapshot instant on the workload's clock. */
  readonly horizonMs: number
  /** The real first starts, in the order they happened (the runner's timeline sequence). */
  readonly real: ReadonlyArray<RealStart>
  /** The queues to replay on (SimulateOptions.queues). */
  readonly queues: ReadonlyArray<QueueConfig>
  readonly counts: {
    readonly runs: number
    readonly jobs: number
    readonly started: number
    readonly stillRunning: number
    readonly stillWaiting: number
    readonly stillBlocked: number
    readonly heldLeftOut: number
    readonly retried: number
    readonly priorityOverrides: number
  }
  /** What the replay does differently from what happened, for the report. */
  readonly notes: ReadonlyArray<string>
}

export interface ReplayOptions {
  /**
   * `measured` (default): each run runs for its measured duration once started (what a
   * candidate policy is judged with). `real-ends`: each run that started ends at its real end
   * instant (`WorkloadJob.endAtMs`), so the replay meets every exit when reality did: for
   * checking that the simulator decides as the runner did (the sim ≡ runner test).
   */
  readonly ends?: "measured" | "real-ends"
}

const ACTIVE = new Set(["running", "stopping"])

interface Timeline {
  readonly events: Array<RunEvent>
  /** Index (in the history's event order) of the first start, or -1. */
  firstStart: number
  starts: number
}

const medianOf = (xs: ReadonlyArray<number>): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]!
}

/** The workload a runner's history replays as, its real starts, and what the replay leaves out. */
export const replayOfHistory = (h: RunnerHistory, o: ReplayOptions = {}): HistoryReplay => {
  const timelines = new Map<string, Timeline>()
  h.events.forEach((e, i) => {
    let t = timelines.get(e.runId)
    if (t === undefined) timelines.set(e.runId, (t = { events: [], firstStart: -1, starts: 0 }))
    t.events.push(e)
    if (e.to === "running") {
      t.starts++
      if (t.firstStart < 0) t.firstStart = i
    }
  })
  const timelineOf = (run: Run): Timeline => timelines.get(run.id) ?? { events: [], firstStart: -1, starts: run.startedAt === null ? 0 : 1 }

  // the measured running time of each run's last attempt; still running: until the snapshot
  const durationOf = (run: Run): number | null =>
    run.startedAt === null ? null : Math.max(1, (ACTIVE.has(run.status) ? h.snapshotAt : (run.endedAt ?? h.snapshotAt)) - run.startedAt)
  const median = medianOf(h.runs.filter((r) => r.startedAt !== null && !ACTIVE.has(r.status)).map((r) => durationOf(r)!)) ?? 60_000

  interface Candidate {
    readonly run: Run
    readonly arrivalAt: number
    readonly job: Omit<WorkloadJob, "id" | "arrivalMs">
    readonly decisionAt?: { readonly at: number; readonly approve: boolean }
    readonly cancelAt?: number
    readonly endAt?: number
  }
  const candidates: Array<Candidate> = []
  let stillRunning = 0
  let stillWaiting = 0
  let stillBlocked = 0
  let heldLeftOut = 0
  let retried = 0
  let priorityOverrides = 0
  for (const run of h.runs) {
    const t = timelineOf(run)
    const firstEligible = t.events.find((e) => e.to === "pending")
    const wasHeld = t.events[0]?.to === "held" || (t.events.length === 0 && run.status === "held")
    if (wasHeld && firstEligible === undefined) {
      heldLeftOut++
      continue
    }
    const arrivalAt = wasHeld ? firstEligible!.at : run.submittedAt
    const blocked = t.events.some((e) => e.to === "blocked") || run.status === "blocked"
    const approvedAt = t.events.find((e) => e.from === "blocked" && e.to === "pending")?.at
    const rejectedAt = t.events.find((e) => e.from === "blocked" && e.to === "rejected")?.at
    const cancelAt = t.events.find((e) => e.to === "cancelled" || (e.to === "stopping" && run.stopCause === "cancel"))?.at
    if (ACTIVE.has(run.status)) stillRunning++
    if (run.status === "pending") stillWaiting++
    if (run.status === "blocked") stillBlocked++
    if (t.starts > 1) retried++
    if (run.priorityOverride !== null) priorityOverrides++
    const duration = durationOf(run)
    const exitCode = run.exitCode ?? (run.status === "failed" ? 1 : 0)
    candidates.push({
      run,
      arrivalAt,
      job: {
        durationMs: duration ?? median,
        exitCode,
        user: run.user,
        ...(run.team === null ? {} : { team: run.team }),
        ...(run.project === null ? {} : { project: run.project }),
        level: run.level,
        queue: run.queue,
        gpus: run.gpus,
        ...(run.deviceIds === null ? {} : { deviceIds: run.deviceIds }),
        ...(run.anyGpu ? { anyGpu: true } : {}),
        ...(run.timeLimitMs === null ? {} : { timeLimitMs: run.timeLimitMs }),
        ...(run.maxQueuedTimeMs === null ? {} : { maxQueuedTimeMs: run.maxQueuedTimeMs }),
        ...(run.deadlineAt === null ? {} : { deadlineMs: Math.max(1, run.deadlineAt - arrivalAt) }),
        ...(blocked ? { requiresApproval: true } : {})
      },
      ...(approvedAt !== undefined ? { decisionAt: { at: approvedAt, approve: true } } : rejectedAt !== undefined ? { decisionAt: { at: rejectedAt, approve: false } } : {}),
      ...(cancelAt !== undefined ? { cancelAt } : {}),
      ...(run.startedAt !== null ? { endAt: ACTIVE.has(run.status) ? h.snapshotAt : (run.endedAt ?? h.snapshotAt) } : {})
    })
  }
  candidates.sort((a, b) => a.arrivalAt - b.arrivalAt || a.run.seq - b.run.seq)
  const originMs = candidates[0]?.arrivalAt ?? h.snapshotAt
  const jobs: Array<WorkloadJob> = candidates.map((c) => ({
    id: c.run.id,
    arrivalMs: c.arrivalAt - originMs,
    ...c.job,
    ...(c.decisionAt === undefined ? {} : { decision: { atMs: Math.max(0, c.decisionAt.at - c.arrivalAt), approve: c.decisionAt.approve } }),
    ...(c.cancelAt === undefined ? {} : { cancelAfterMs: Math.max(0, c.cancelAt - c.arrivalAt) }),
    ...(o.ends === "real-ends" && c.endAt !== undefined ? { endAtMs: c.endAt - originMs } : {})
  }))

  // the real first starts, in the runner's order (its timeline sequence; a run without a
  // timeline, e.g. written by hand, goes by its start time after those that have one)
  const kept = new Set(jobs.map((j) => j.id))
  const real = h.runs
    .filter((run) => kept.has(run.id))
    .flatMap((run) => {
      const t = timelineOf(run)
      const startAt = t.firstStart >= 0 ? h.events[t.firstStart]!.at : run.startedAt
      if (startAt === null) return []
      return [{ run, order: t.firstStart >= 0 ? t.firstStart : Number.POSITIVE_INFINITY, startAt, starts: t.starts }]
    })
    .sort((a, b) => a.order - b.order || a.startAt - b.startAt || a.run.seq - b.run.seq)
    .map(({ run, startAt, starts }): RealStart => ({ jobId: run.id, startMs: startAt - originMs, gpus: starts === 1 ? run.assignedGpus : null }))

  // the queues as configured now, unpaused (a pause is an operator's act of the moment), and a
  // default one for each queue a run names that no longer exists
  const queues = new Map<string, QueueConfig>()
  const paused: Array<string> = []
  for (const q of h.queues) {
    if (q.paused) paused.push(q.name)
    queues.set(q.name, q.paused ? { ...q, paused: false } : q)
  }
  const gone = [...new Set(jobs.map((j) => j.queue!))].filter((name) => name !== "default" && !queues.has(name))
  for (const name of gone) queues.set(name, makeQueue(name))

  const notes: Array<string> = []
  if (stillRunning > 0) notes.push(`${stillRunning} run${stillRunning === 1 ? "" : "s"} still running: their elapsed time used as duration`)
  if (stillWaiting > 0) notes.push(`${stillWaiting} run${stillWaiting === 1 ? "" : "s"} still waiting: kept, with the median measured duration (${formatDurationMs(median)})`)
  if (stillBlocked > 0) notes.push(`${stillBlocked} run${stillBlocked === 1 ? "" : "s"} still blocked: kept blocked`)
  if (heldLeftOut > 0) notes.push(`${heldLeftOut} run${heldLeftOut === 1 ? "" : "s"} held and never released: left out`)
  if (retried > 0) notes.push(`${retried} run${retried === 1 ? "" : "s"} retried: replayed as the last attempt`)
  if (priorityOverrides > 0) notes.push(`${priorityOverrides} priority override${priorityOverrides === 1 ? "" : "s"}: not replayed`)
  if (paused.length > 0) notes.push(`paused queue${paused.length === 1 ? "" : "s"} ${paused.join(", ")}: replayed unpaused`)
  if (gone.length > 0) notes.push(`queue${gone.length === 1 ? "" : "s"} ${gone.join(", ")} no longer configured: replayed with the defaults`)
  if (o.ends === "real-ends") notes.push("runs end at their real end instants")

  return {
    workload: {
      name: h.source.replace(/^.*\//, ""),
      jobs,
      description: `${jobs.length} runs of ${h.source} as of ${new Date(h.snapshotAt).toISOString()}`
    },
    originMs,
    horizonMs: h.snapshotAt - originMs,
    real,
    queues: [...queues.values()],
    counts: {
      runs: h.runs.length,
      jobs: jobs.length,
      started: real.length,
      stillRunning,
      stillWaiting,
      stillBlocked,
      heldLeftOut,
      retried,
      priorityOverrides
    },
    notes
  }
}

/** `current`'s label: the version of the policy in force (`current (v7)`). */
export const currentPolicyName = (policy: Policy | null, fallback: Policy): string => `current (v${(policy ?? fallback).version})`
