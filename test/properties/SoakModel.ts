/**
 * The soak's independent model (Faults.ts drives it): it rebuilds every run's state from the
 * engine's transitions, the journal's starts and the store's commits, and checks the SPEC §6
 * properties that keep their meaning under injected store failures and restarts. Soak.test.ts
 * says which ones and why; in short:
 *
 *  1. limits: on every transition into running, the active runs (running + stopping) stay
 *     within every count and GPU limit of §4 (same rules as Model.ts, recomputed here);
 *  2. GPUs: each journal start gets exactly its `gpus` distinct GPUs, inside its queue's pool,
 *     none held by another active run; every start of a cycle is in its journal entry;
 *  3. transitions: `from` is the run's status; the (from, to) pair is in §2's table; attempts
 *     move only on a retry, which happens iff attempt < maxAttempts; a run starts at most once
 *     per attempt. The faults' own transitions are allowed only where the fault is:
 *     running → pending "requeued: store failed" (a start undone, attempt unchanged) only at an
 *     instant whose cycle commit the store refused; `lost` (and what a lost stopping run ends
 *     as) only while a new engine recovers the store after a restart;
 *  7. depth: on each submission, the queue's live runs ≤ its depth;
 *  9. liveness: at the end every run is terminal, in the store and in the engine, which counts
 *     nothing live and holds no GPU;
 * 11. conservation: every acknowledged submission is one run in the store (one per job, the
 *     id acknowledged), and every stored run was acknowledged: nothing lost across restarts
 *     (checked at each restart and at the end), nothing stored that its client was told was
 *     refused; a command refused by the store changed nothing (Faults.ts); an engine shut down
 *     commits and emits nothing; after every quiet instant the engine agrees with the store:
 *     getRun equals the stored run for every run, stats count what the store holds, and each
 *     GPU the engine shows held is held by a stored running run.
 */
import { makeQueue, type Policy, type QueueConfig, type Run, type RunEvent, type RunId, type RunStatus } from "@gantry/core"
import type { EngineService, JournalEntry, StoreService } from "@gantry/engine"
import type { WorkloadJob } from "@gantry/sim"
import { Effect } from "effect"
import { LEGAL } from "./Model.js"

export interface Violation {
  readonly invariant: number
  readonly at: number
  readonly message: string
}

export interface SoakModelSetup {
  readonly gpus: number
  readonly policy: Policy
  readonly queues: ReadonlyArray<QueueConfig>
  readonly jobs: ReadonlyMap<string, WorkloadJob>
  readonly now: () => number
}

interface MRun {
  readonly id: RunId
  readonly job: WorkloadJob
  readonly queue: string
  status: RunStatus
  attempt: number
  readonly started: Set<number>
  startedAt: number | null
  held: ReadonlyArray<number> | null
}

const TERMINAL: ReadonlySet<RunStatus> = new Set(["completed", "failed", "cancelled", "rejected"])
const ACTIVE: ReadonlySet<RunStatus> = new Set(["running", "stopping"])
const LIVE: ReadonlySet<RunStatus> = new Set(["held", "blocked", "pending", "running", "stopping"])


const UNDONE = "requeued: store failed"
const LOST_REASONS: ReadonlySet<string> = new Set(["lost", "retry after lost", "cancelled (lost)"])

export class SoakModel {
  readonly violations: Array<Violation> = []
  readonly seen = new Map<string, number>()
  private readonly runs = new Map<RunId, MRun>()
  private readonly byJob = new Map<string, RunId>()
  /** Jobs whose submission the client saw accepted, and the id it was given. */
  private readonly acked = new Map<string, RunId>()
  private readonly refusedJobs = new Map<string, string>()
  private readonly owner = new Map<number, RunId>()
  private readonly queues = new Map<string, QueueConfig>()
  private startsSinceCycle: Array<RunId> = []
  private refusedAt: number | null = null
  /** A commit was refused and none has gone through since: the engine's changes await a retry. */
  private awaitingRetry = false
  private recovering = false
  private readonly perInvariant = new Map<number, number>()
  private readonly globalMax: number

  constructor(
    private readonly setup: SoakModelSetup,
    /** The store itself (not a faulty view): what is committed. */
    private readonly store: StoreService
  ) {
    for (const q of setup.queues) this.queues.set(q.name, q)
    this.globalMax = setup.policy.limits.maxConcurrent ?? Math.max(1, setup.gpus)
  }

  // ------------------------------------------------------------------ reporting

  private get now(): number {
    return this.setup.now()
  }

  count(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1)
  }

  violation(invariant: number, message: string): void {
    const n = this.perInvariant.get(invariant) ?? 0
    this.perInvariant.set(invariant, n + 1)
    if (n < 10) this.violations.push({ invariant, at: this.now, message: `§6.${invariant} t=${this.now}: ${message}` })
  }

  private label(r: MRun): string {
    return `run ${r.id} (job ${r.job.id}, ${r.job.user}${r.job.team === undefined ? "" : `/${r.job.team}`}, queue ${r.queue}, ${r.job.gpus} GPU, attempt ${r.attempt}, ${r.status})`
  }

  jobOf(id: RunId): string | undefined {
    return this.runs.get(id)?.job.id
  }

  // ------------------------------------------------------------------ faults, as Faults.ts reports them

  /** The store refused a commit now: a cycle's starts may be undone at this instant. */
  commitRefused(): void {
    this.refusedAt = this.now
    this.awaitingRetry = true
    this.count("commit refused")
  }

  /** A commit went through. While a new engine recovers the store, its transitions are checked here (no one is subscribed yet). */
  committed(events: ReadonlyArray<RunEvent>): void {
    this.awaitingRetry = false
    if (!this.recovering) return
    for (const e of events) this.onEvent(e, () => undefined)
  }

  restarting(on: boolean): void {
    this.recovering = on
  }

  /**
   * The engine was shut down: what it had not committed is gone. The model goes back to the
   * store's state (the next engine starts from it), and every acknowledged run must be there.
   */
  crashed(): void {
    this.count("restart")
    const stored = new Map(Effect.runSync(this.store.listRuns({})).map((r) => [r.id, r] as const))
    for (const [jobId, id] of this.acked) if (!stored.has(id)) this.violation(11, `job ${jobId}'s run ${id} was acknowledged, but the store lost it across a restart`)
    this.owner.clear()
    this.startsSinceCycle = []
    this.awaitingRetry = false
    for (const [id, r] of this.runs) {
      const s = stored.get(id)
      if (s === undefined) {
        this.runs.delete(id)
        if (this.byJob.get(r.job.id) === id) this.byJob.delete(r.job.id)
        this.count("restart: a run never committed is gone")
        continue
      }
      if (s.status !== r.status || s.attempt !== r.attempt) this.count("restart: uncommitted transitions lost")
      r.status = s.status
      r.attempt = s.attempt
      r.startedAt = s.startedAt
      r.held = ACTIVE.has(s.status) ? s.assignedGpus : null
      for (const g of r.held ?? []) this.owner.set(g, id)
      // the starts the store knows of: a start undone after a refused commit did not happen
      r.started.clear()
      for (const e of Effect.runSync(this.store.timeline(id))) {
        if (e.to === "running") r.started.add(e.attempt)
        if (e.from === "running" && e.to === "pending" && e.reason.startsWith("requeued:")) r.started.delete(e.attempt)
      }
    }
  }

  /** A new engine is up. */
  started(_engine: EngineService): void {
    this.count("engine started")
  }

  // ------------------------------------------------------------------ the client

  acknowledged(jobId: string, id: RunId): void {
    if (this.acked.has(jobId)) this.violation(11, `job ${jobId} was accepted twice (${this.acked.get(jobId)}, ${id})`)
    this.acked.set(jobId, id)
    const stored = Effect.runSync(this.store.getRun(id))
    // SPEC §7: acknowledged only after it is committed
    if (stored === undefined) this.violation(11, `job ${jobId}'s run ${id} was acknowledged before it was stored`)
  }

  refused(jobId: string, why: string): void {
    this.refusedJobs.set(jobId, why)
    this.count(`submission refused: ${why}`)
  }

  /** What a refused command must leave as it was: the engine's counts and GPUs. */
  fingerprint(engine: EngineService): string {
    const s = Effect.runSync(engine.stats)
    return `pending ${s.pending} held ${s.held} blocked ${s.blocked} active ${s.active} free GPUs ${s.gpus.free}`
  }

  // ------------------------------------------------------------------ transitions

  onEvent(e: RunEvent, getRun: (id: RunId) => Run | undefined): void {
    const now = this.now
    if (e.from === null) return this.submitted(e, getRun)
    const r = this.runs.get(e.runId)
    if (r === undefined) return this.violation(3, `${e.from} → ${e.to} of run ${e.runId}, never submitted`)
    const context = this.recovering ? "recovery" : "live"
    this.count(`${context} ${e.from}→${e.to} (${e.reason})`)
    if (e.from !== r.status) this.violation(3, `${this.label(r)}: the event says ${e.from} → ${e.to} (${e.reason})`)
    if (!LEGAL[e.from].includes(e.to)) this.violation(3, `${this.label(r)}: illegal ${e.from} → ${e.to} (${e.reason})`)
    const lost = LOST_REASONS.has(e.reason) || (e.from === "stopping" && this.recovering)
    if (lost !== this.recovering) this.violation(3, `${this.label(r)}: ${e.from} → ${e.to} (${e.reason}) ${this.recovering ? "while a new engine recovered the store" : "with no restart"}`)
    const undone = e.from === "running" && e.to === "pending" && e.reason === UNDONE
    if (undone) {
      if (this.refusedAt !== now) this.violation(3, `${this.label(r)}: start undone (${UNDONE}) at t=${now}, but no commit was refused then`)
      if (r.startedAt !== now) this.violation(3, `${this.label(r)}: start undone at t=${now}, but it started at ${r.startedAt}`)
    }
    const retry = e.from === "running" && e.to === "pending" && !undone
    const expected = retry ? r.attempt + 1 : r.attempt
    if (e.attempt !== expected) this.violation(3, `${this.label(r)}: ${e.from} → ${e.to} (${e.reason}) carries attempt ${e.attempt}, expected ${expected}`)
    const maxAttempts = r.job.maxAttempts ?? 1
    if (retry && r.attempt >= maxAttempts) this.violation(3, `${this.label(r)}: retried after attempt ${r.attempt} of ${maxAttempts}`)
    if (e.from === "running" && e.to === "failed" && ["exit-code", "signal", "lost"].includes(e.reason) && r.attempt < maxAttempts)
      this.violation(3, `${this.label(r)}: failed (${e.reason}) after attempt ${r.attempt} of ${maxAttempts}: it should have been retried`)
    if (e.to === "running") {
      if (r.started.has(r.attempt)) this.violation(3, `${this.label(r)} started a second time in attempt ${r.attempt}`)
      r.started.add(r.attempt)
      r.startedAt = now
      r.held = null
      this.startsSinceCycle.push(r.id)
    }
    if (undone) {
      r.started.delete(r.attempt)
      this.startsSinceCycle = this.startsSinceCycle.filter((id) => id !== r.id)
    }
    const wasActive = ACTIVE.has(r.status)
    r.status = e.to
    r.attempt = e.attempt
    if (wasActive && !ACTIVE.has(e.to)) {
      for (const g of r.held ?? []) if (this.owner.get(g) === r.id) this.owner.delete(g)
      r.held = null
      r.startedAt = null
    }
    if (e.to === "running") this.checkLimits(r)
  }

  private submitted(e: RunEvent, getRun: (id: RunId) => Run | undefined): void {
    if (this.recovering) return this.violation(3, `run ${e.runId} was submitted while an engine recovered the store`)
    if (this.runs.has(e.runId)) return this.violation(11, `run ${e.runId} was submitted twice`)
    const record = getRun(e.runId)
    const job = record?.name === null || record === undefined ? undefined : this.setup.jobs.get(record.name)
    if (job === undefined) return this.violation(11, `run ${e.runId} matches no job of the workload`)
    const other = this.byJob.get(job.id)
    if (other !== undefined) this.violation(11, `job ${job.id} became two runs: ${other} and ${e.runId}`)
    this.byJob.set(job.id, e.runId)
    const r: MRun = { id: e.runId, job, queue: job.queue ?? "default", status: e.to, attempt: e.attempt, started: new Set(), startedAt: null, held: null }
    this.runs.set(r.id, r)
    const expected: RunStatus = job.requiresApproval === true ? "blocked" : "pending"
    if (e.to !== expected) this.violation(3, `${this.label(r)} entered ${e.to} on submission, expected ${expected}`)
    if (e.attempt !== 1) this.violation(3, `${this.label(r)} was submitted with attempt ${e.attempt}`)
    // §6.7
    const depth = this.queueOf(r).depth
    const live = [...this.runs.values()].filter((x) => x.queue === r.queue && LIVE.has(x.status)).length
    if (depth !== null && live > depth) this.violation(7, `${this.label(r)} was accepted: queue ${r.queue} now holds ${live} live runs > depth ${depth}`)
  }

  private queueOf(r: MRun): QueueConfig {
    return this.queues.get(r.queue) ?? makeQueue(r.queue)
  }

  // ------------------------------------------------------------------ §6.1

  private checkLimits(started: MRun): void {
    const limits = this.setup.policy.limits
    const active = [...this.runs.values()].filter((r) => ACTIVE.has(r.status))
    const over = (what: string, value: number, limit: number | null) => {
      if (limit !== null && value > limit) this.violation(1, `${this.label(started)} started: ${what} = ${value} > ${limit} (active: ${active.map((r) => r.id).join(",")})`)
    }
    const tally = (key: (r: MRun) => string | null, weight: (r: MRun) => number = () => 1) => {
      const m = new Map<string, number>()
      for (const r of active) {
        const k = key(r)
        if (k !== null) m.set(k, (m.get(k) ?? 0) + weight(r))
      }
      return m
    }
    over("running runs (maxConcurrent)", active.length, this.globalMax)
    over("local jobs (localJobMaxConcurrent)", active.length, limits.localJobMaxConcurrent)
    over("GPUs held (localGpuMaxConcurrent)", active.reduce((s, r) => s + r.job.gpus, 0), limits.localGpuMaxConcurrent)
    for (const [user, n] of tally((r) => r.job.user)) over(`runs of user ${user}`, n, limits.userMaxConcurrent)
    if (this.setup.policy.fairShare.mode !== "off")
      for (const [team, n] of tally((r) => r.job.team ?? null)) over(`runs of team ${team}`, n, limits.teamMaxConcurrent)
    for (const [queue, n] of tally((r) => r.queue)) {
      const q = this.queues.get(queue) ?? makeQueue(queue)
      over(`runs of queue ${queue} (maxConcurrent)`, n, q.maxConcurrent)
      over(`runs of queue ${queue} (runConcurrency)`, n, q.runConcurrency)
    }
    for (const [queue, n] of tally((r) => r.queue, (r) => r.job.gpus)) over(`GPUs of queue ${queue} (gpuQuota)`, n, (this.queues.get(queue) ?? makeQueue(queue)).gpuQuota)
  }

  // ------------------------------------------------------------------ §6.2, per cycle

  onCycle(entry: JournalEntry): void {
    const ids = entry.starts.map((s) => s.runId)
    if (ids.join(",") !== this.startsSinceCycle.join(","))
      this.violation(2, `cycle ${entry.cycle}: the journal starts [${ids.join(",")}], the transitions started [${this.startsSinceCycle.join(",")}]`)
    this.startsSinceCycle = []
    for (const s of entry.starts) {
      const r = this.runs.get(s.runId)
      if (r === undefined) {
        this.violation(2, `cycle ${entry.cycle} started unknown run ${s.runId}`)
        continue
      }
      if (!ACTIVE.has(r.status)) this.violation(2, `cycle ${entry.cycle} gave GPUs to ${this.label(r)}`)
      if (s.gpus.length !== r.job.gpus || new Set(s.gpus).size !== s.gpus.length) this.violation(2, `${this.label(r)} got GPUs [${s.gpus.join(",")}]`)
      const pool = this.queueOf(r).gpuPool
      for (const g of s.gpus) {
        if (g >= this.setup.gpus || (pool !== null && !pool.includes(g))) this.violation(2, `${this.label(r)} got GPU ${g}, outside its pool ${JSON.stringify(pool)}`)
        const holder = this.owner.get(g)
        if (holder !== undefined && holder !== r.id) this.violation(2, `GPU ${g} given to ${this.label(r)} while run ${holder} holds it`)
        this.owner.set(g, r.id)
      }
      r.held = s.gpus
    }
  }

  // ------------------------------------------------------------------ memory = store

  /**
   * A quiet instant (nothing else due now): the engine and the store agree. While a refused
   * commit awaits its retry, the engine may be ahead of the store, by exactly what it has not
   * committed yet (what happened meanwhile: exits, timeouts, retries): then a run that differs
   * must have uncommitted transitions (its timeline beyond the store's) ending in the status
   * the engine shows, and the engine's counts and GPUs must agree with its own runs.
   */
  quiet(engine: EngineService): void {
    if (this.refusedAt !== null && this.refusedAt < this.now) this.refusedAt = null
    const ahead = this.awaitingRetry
    const when = ahead ? "while a refused commit awaits its retry, " : ""
    const stored = Effect.runSync(this.store.listRuns({}))
    const counts = new Map<string, number>()
    const held = new Map<number, RunId>()
    for (const s of stored) {
      const live = Effect.runSync(Effect.either(engine.getRun(s.id)))
      if (live._tag === "Left") {
        this.violation(11, `${when}the store holds run ${s.id} (${s.status}), the engine does not know it`)
        continue
      }
      // the engine's view (what its stats and GPUs must agree with), or the store's when they must be equal
      const seen = ahead ? live.right : s
      counts.set(seen.status, (counts.get(seen.status) ?? 0) + 1)
      if (ACTIVE.has(seen.status)) for (const g of seen.assignedGpus) held.set(g, s.id)
      if (JSON.stringify(live.right) === JSON.stringify(s)) continue
      if (ahead) {
        const committed = Effect.runSync(this.store.timeline(s.id))
        const all = Effect.runSync(engine.timeline(s.id))
        const extra = all.slice(committed.length)
        if (all.length > committed.length && extra[extra.length - 1]!.to === live.right.status && committed.every((e, i) => JSON.stringify(e) === JSON.stringify(all[i]))) {
          this.count("engine ahead of the store while a refused commit awaits its retry")
          continue
        }
      }
      const fields = (Object.keys(s) as Array<keyof Run>).filter((k) => JSON.stringify(live.right[k]) !== JSON.stringify(s[k]))
      this.violation(11, `${when}run ${s.id}: the engine says ${fields.map((k) => `${k}=${JSON.stringify(live.right[k])}`).join(" ")}, the store ${fields.map((k) => `${k}=${JSON.stringify(s[k])}`).join(" ")}`)
    }
    for (const r of this.runs.values())
      if (!stored.some((s) => s.id === r.id)) this.violation(11, `${when}${this.label(r)} is in the engine, not in the store`)
    const stats = Effect.runSync(engine.stats)
    const n = (s: RunStatus) => counts.get(s) ?? 0
    const want = { pending: n("pending"), held: n("held"), blocked: n("blocked"), active: n("running") + n("stopping") }
    const got = { pending: stats.pending, held: stats.held, blocked: stats.blocked, active: stats.active }
    const whose = ahead ? "its runs say" : "the store holds"
    if (JSON.stringify(want) !== JSON.stringify(got)) this.violation(11, `${when}the engine's stats ${JSON.stringify(got)}, ${whose} ${JSON.stringify(want)}`)
    for (const g of Effect.runSync(engine.gpus))
      if ((g.heldBy ?? null) !== (held.get(g.index) ?? null)) this.violation(11, `${when}GPU ${g.index}: the engine says held by ${g.heldBy}, ${whose} ${held.get(g.index) ?? "free"}`)
  }

  // ------------------------------------------------------------------ the end

  finish(engine: EngineService | null): void {
    if (engine === null) return this.violation(9, "no engine was running at the end")
    const stored = Effect.runSync(this.store.listRuns({}))
    for (const s of stored) if (!TERMINAL.has(s.status)) this.violation(9, `run ${s.id} (job ${s.name}) is still ${s.status} in the store at the end`)
    for (const r of this.runs.values()) if (!TERMINAL.has(r.status)) this.violation(9, `${this.label(r)} is not terminal at the end`)
    const stats = Effect.runSync(engine.stats)
    if (stats.pending + stats.held + stats.blocked + stats.active !== 0 || stats.gpus.allocated !== 0)
      this.violation(9, `the engine still counts pending ${stats.pending}, held ${stats.held}, blocked ${stats.blocked}, active ${stats.active}, ${stats.gpus.allocated} GPUs allocated`)
    // §6.11: acknowledged submissions = stored runs
    const byName = new Map<string, Array<Run>>()
    for (const s of stored) byName.set(s.name ?? "", [...(byName.get(s.name ?? "") ?? []), s])
    for (const [name, runs] of byName) {
      if (runs.length > 1) this.violation(11, `job ${name} is ${runs.length} runs in the store: ${runs.map((r) => r.id).join(", ")}`)
      const acked = this.acked.get(name)
      for (const run of runs)
        if (acked !== run.id)
          this.violation(11, `run ${run.id} (job ${name}) is stored, but its client was ${acked === undefined ? `told ${this.refusedJobs.get(name) ?? "the store refused it"}` : `given ${acked}`}`)
    }
    for (const [jobId, id] of this.acked) if (!stored.some((s) => s.id === id)) this.violation(11, `job ${jobId}'s run ${id} was acknowledged but is not in the store`)
    for (const job of this.setup.jobs.values())
      if (!this.acked.has(job.id) && !this.refusedJobs.has(job.id)) this.violation(11, `job ${job.id} got no answer`)
  }
}
