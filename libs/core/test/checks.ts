/**
 * Checkers for the invariants one decision must keep (SPEC §4, §6.1, §6.2), and the
 * next cycle's input after applying a decision's starts.
 */
import {
  activeRunOf,
  allowedGpus,
  type Decision,
  effectiveMaxConcurrent,
  type Run,
  type Snapshot,
  type Start
} from "../src/internal.js"
import type { Built } from "./arbitraries.js"

/** The next cycle's input: started runs move from pending to running with their GPUs. */
export const afterStarts = (b: Built, starts: ReadonlyArray<Start>): Built => {
  const started = new Map(starts.map((s) => [s.runId as string, s]))
  return {
    ...b,
    pending: b.pending.filter((r) => !started.has(r.id)),
    running: [
      ...b.running,
      ...b.pending.filter((r) => started.has(r.id)).map((r) => activeRunOf(r, b.now, started.get(r.id)!.gpus))
    ]
  }
}

/**
 * Every §4 limit and §6.2 GPU rule one decision must keep, as a list of violations.
 * A counter the starts add to must stay within its cap (the running set alone may
 * already be over a cap that was lowered; starts must not add to it then).
 */
export const violations = (s: Snapshot, starts: ReadonlyArray<Start>): Array<string> => {
  const out: Array<string> = []
  const runById = new Map([...s.pending.runs()].map((r) => [r.id as string, r]))
  const gpuView = new Map(s.gpus.map((g) => [g.index, g]))
  const taken = new Set<number>()
  const limits = s.policy.limits
  const bump = (m: Map<string, number>, k: string, by = 1) => m.set(k, (m.get(k) ?? 0) + by)
  const users = new Map<string, number>()
  const teams = new Map<string, number>()
  const queues = new Map<string, number>()
  const topLevel = new Map<string, number>()
  const queueGpus = new Map<string, number>()
  let gpuTotal = 0
  for (const start of starts) {
    const run = runById.get(start.runId)
    if (run === undefined) {
      out.push(`${start.runId} started but is not pending`)
      continue
    }
    if (start.gpus.length !== run.gpus) out.push(`${run.id} got ${start.gpus.length} GPUs, asked ${run.gpus}`)
    for (const g of start.gpus) {
      const view = gpuView.get(g)
      if (taken.has(g)) out.push(`GPU ${g} assigned twice`)
      taken.add(g)
      if (view === undefined || view.drained || view.heldBy !== null) out.push(`GPU ${g} given to ${run.id} is not free`)
    }
    if (run.deviceIds !== null && !run.anyGpu) {
      const want = [...run.deviceIds].sort((a, b) => a - b)
      const got = [...start.gpus].sort((a, b) => a - b)
      if (want.join() !== got.join()) out.push(`${run.id} strict deviceIds ${want} but got ${got}`)
    }
    const queue = s.queues.get(run.queue)
    if (queue === undefined || queue.paused) out.push(`${run.id} started from paused/unknown queue`)
    if (queue?.gpuPool != null)
      for (const g of start.gpus) if (!queue.gpuPool.includes(g)) out.push(`${run.id} got ${g} outside its pool`)
    bump(users, run.user)
    if (run.team !== null) bump(teams, run.team)
    bump(queues, run.queue)
    if (run.parentId === null) bump(topLevel, run.queue)
    bump(queueGpus, run.queue, start.gpus.length)
    gpuTotal += start.gpus.length
  }
  // the running side, counted from the runs themselves rather than RunningSet's counters
  const active = [...s.running.values()]
  const held = (pred: (a: (typeof active)[number]) => boolean) => active.filter(pred).length
  const heldGpus = (pred: (a: (typeof active)[number]) => boolean) =>
    active.filter(pred).reduce((n, a) => n + a.gpus.length, 0)
  const over = (what: string, total: number, cap: number | null | undefined) => {
    if (cap !== null && cap !== undefined && total > cap) out.push(`${what}: ${total} > ${cap}`)
  }
  if (starts.length > 0) {
    over("global", active.length + starts.length, effectiveMaxConcurrent(s.policy, s.gpus.length))
    over("local jobs", active.length + starts.length, limits.localJobMaxConcurrent)
  }
  if (gpuTotal > 0) over("local GPUs", heldGpus(() => true) + gpuTotal, limits.localGpuMaxConcurrent)
  for (const [u, n] of users) over(`user ${u}`, held((a) => a.user === u) + n, limits.userMaxConcurrent)
  if (s.policy.fairShare.mode !== "off")
    for (const [t, n] of teams) over(`team ${t}`, held((a) => a.team === t) + n, limits.teamMaxConcurrent)
  const config = (q: string) => s.queues.get(q as never)
  for (const [q, n] of queues) over(`queue ${q}`, held((a) => a.queue === q) + n, config(q)?.maxConcurrent)
  for (const [q, n] of topLevel)
    over(`queue ${q} top-level`, held((a) => a.queue === q && !a.isChild) + n, config(q)?.runConcurrency)
  for (const [q, n] of queueGpus)
    if (n > 0) over(`queue ${q} GPUs`, heldGpus((a) => a.queue === q) + n, config(q)?.gpuQuota)
  return out
}

/** A wait reason that can be checked from the end state must hold there (counters only grow). */
export const falseReasons = (s: Snapshot, d: Decision): Array<string> => {
  const out: Array<string> = []
  const started = new Set(d.starts.map((x) => x.runId as string))
  const byId = new Map([...s.pending.runs()].map((r) => [r.id as string, r]))
  const startedRuns = [...started].map((id) => byId.get(id)!)
  const count = (pred: (r: Run) => boolean) => startedRuns.filter(pred).length
  const limits = s.policy.limits
  const usable = s.gpus.filter((g) => !g.drained).map((g) => g.index)
  for (const run of s.pending.runs()) {
    if (started.has(run.id)) continue
    const reason = d.reasonOf(run.id)
    const queue = s.queues.get(run.queue)
    const bad = (why: string) => out.push(`${run.id}: ${reason} but ${why}`)
    switch (reason) {
      case "queue-paused":
        if (queue !== undefined && !queue.paused) bad("queue runs")
        break
      case "global-limit":
        if (s.running.count + started.size < effectiveMaxConcurrent(s.policy, s.gpus.length)) bad("below global cap")
        break
      case "user-limit":
        if (s.running.userCount(run.user) + count((r) => r.user === run.user) < (limits.userMaxConcurrent ?? Infinity))
          bad("below user cap")
        break
      case "team-limit":
        if (run.team === null || s.policy.fairShare.mode === "off") bad("team caps are off for it")
        else if (s.running.teamCount(run.team) + count((r) => r.team === run.team) < (limits.teamMaxConcurrent ?? Infinity))
          bad("below team cap")
        break
      case "queue-run-limit":
        if (run.parentId !== null) bad("it is a child")
        break
      case "gpu-unavailable":
        if (allowedGpus(run, usable, queue?.gpuPool ?? null) !== null) bad("it could fit")
        break
      case "gpu-reserved":
        if (d.reservation === null) bad("there is no reservation")
        break
      default:
        if (reason === null) bad("it is pending and not started")
    }
  }
  return out
}

/**
 * SPEC §6.10, backfill never delays a reservation: at the reservation's shadow time, enough
 * GPUs of its allowed set are free or released by holders bounded to end by then (running
 * runs and this decision's starts alike). With backfill off nothing starts as backfill.
 */
export const reservationDelays = (s: Snapshot, d: Decision): Array<string> => {
  const r = d.reservation
  const backfills = d.starts.filter((x) => x.backfill).map((x) => x.runId)
  if (!s.policy.backfill && backfills.length > 0) return [`backfilled ${backfills.join()} with backfill off`]
  if (r === null || r.shadowAt === null) return []
  const shadowAt = r.shadowAt
  const byId = new Map([...s.pending.runs()].map((run) => [run.id as string, run]))
  const holders = [
    ...s.running.values(),
    ...d.starts.map((x) => activeRunOf(byId.get(x.runId)!, s.now, x.gpus))
  ]
  const heldBy = new Map<number, number | null>()
  for (const h of holders) for (const g of h.gpus) heldBy.set(g, h.endBy)
  const ready = r.allowed.filter((g) => {
    if (!heldBy.has(g)) return true
    const endBy = heldBy.get(g)!
    return endBy !== null && Math.max(s.now, endBy) <= shadowAt
  })
  return ready.length >= r.gpus ? [] : [`only ${ready.length} of ${r.gpus} reserved GPUs are ready at ${shadowAt}`]
}
