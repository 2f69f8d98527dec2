/**
 * The engine on the simulator under injected faults, for the soak (Soak.test.ts, soak.ts):
 * a generated workload (arbitraries.ts) run by a client that submits, approves, rejects and
 * cancels as the workload says, on a Store that refuses commits and an engine that is
 * restarted, both drawn from one seed. Everything the soak knows of the engine passes
 * through here (`observe` below is the one place that uses the observation API: the
 * engine's `onTransition` hook and the Journal), so a change of that API is adapted here alone.
 *
 * - `faultyStore`: one MemoryStore, seen by each engine incarnation through its own view,
 *   whose `commit` (and `load`) fail with `StoreError` on draws from the seeded PRNG. A view
 *   whose engine was shut down must never be used again (reported if it is); a view whose
 *   engine never finished starting is dead, like the process that held it.
 * - restarts: at drawn instants the engine is shut down (`engine.shutdown`) and a new one is
 *   made on the same store, with a fresh SimExecutor that adopts nothing (a simulated restart
 *   is a machine restart: running runs come back `lost`, then their retry rules apply). A
 *   start that fails (the store refused its load or its recovery commit) is a process that
 *   died: its timers go with it, and another start follows STORE_RETRY_MS later.
 * - the client: a command refused with StoreError is sent again STORE_RETRY_MS later (the
 *   contract says a refused command changed nothing, so that is safe); while no engine runs,
 *   commands wait for one. QueueFull and InvalidSubmission are final answers.
 */
import { makeQueue, type QueueConfig, type Run, type RunEvent } from "@gantry/core"
import {
  Engine,
  type EngineService,
  Journal,
  type JournalEntry,
  MemoryStore,
  sleepOn,
  Store,
  StoreError,
  type StoreService,
  type TimerClock,
  type TimerId,
  type Timers
} from "@gantry/engine"
import { makePrng, type Prng, SimClock, SimExecutor, SimGpus, submissionOf } from "@gantry/sim"
import { Clock, type Duration, Effect, Either, Layer, Logger, LogLevel } from "effect"
import * as fc from "fast-check"
import { type Bias, describeCase, type SimCase, simCaseArb, workloadOf } from "./arbitraries.js"
import { runCase } from "./Model.js"
import { SoakModel, type Violation } from "./SoakModel.js"

/** Engine.STORE_RETRY_MS: when a refused cycle is retried; the client retries refused commands as often. */
export const STORE_RETRY_MS = 1_000

export interface FaultPlan {
  /** Probability that a commit (or a start's load) is refused. */
  readonly storeFailureProbability: number
  /** Whether a command's commit may be refused too (else only cycles', recoveries' and loads'). */
  readonly commandFailures: boolean
  /** Instants at which the engine is shut down and a new one started on the same store. */
  readonly restartsAt: ReadonlyArray<number>
}

export interface SoakCase {
  readonly seed: number
  readonly sim: SimCase
  readonly faults: FaultPlan
}

const BIASES: ReadonlyArray<Bias> = [{}, { limits: true }, { timeouts: true }, { backfill: true }, { aging: true }]

/**
 * Everything drawn from one seed: the simulation case (fast-check's arbitraries, sampled with
 * this seed), and the faults (the seed's own PRNG). No lost processes besides restarts, so
 * that every `lost` the soak sees is one a restart made.
 */
/** Which faults to inject (all by default); a seed draws the same case and plan whichever are on. */
export interface FaultKinds {
  /** Commits refused in cycles, in a new engine's recovery and its load. */
  readonly storeFailures?: boolean
  /** Commits of commands (submit, approve, reject, cancel) refused too. */
  readonly commandFailures?: boolean
  readonly restarts?: boolean
}

export const soakCase = (seed: number, options: FaultKinds & { readonly jobs?: readonly [number, number] } = {}): SoakCase => {
  const jobs = options.jobs ?? [5, 60]
  const prng = makePrng(seed).fork("faults")
  const bias = { ...prng.pick(BIASES), jobs }
  const sim = { ...fc.sample(simCaseArb(bias), { seed, numRuns: 1 })[0]!, lostProbability: 0 }
  const workload = workloadOf(sim)
  const lastArrival = workload.jobs.reduce((m, j) => Math.max(m, j.arrivalMs), 0)
  const horizon = lastArrival + 2 * (sim.workload.durationMedianMs ?? 60_000)
  const storeFailureProbability = prng.pick([0, 0.02, 0.1, 0.3])
  const restarts = prng.int(0, 3)
  const restartsAt = Array.from({ length: restarts }, () => prng.int(0, horizon)).sort((a, b) => a - b)
  return {
    seed,
    sim,
    faults: {
      storeFailureProbability: options.storeFailures === false ? 0 : storeFailureProbability,
      commandFailures: options.commandFailures !== false && options.storeFailures !== false,
      restartsAt: options.restarts === false ? [] : restartsAt
    }
  }
}

export const describeSoakCase = (c: SoakCase): string =>
  `soak seed=${c.seed}: store failures p=${c.faults.storeFailureProbability}${c.faults.commandFailures ? " (commands too)" : " (not commands)"}, restarts at [${c.faults.restartsAt.join(", ")}]; ${describeCase(c.sim)}`

// ------------------------------------------------------------------ one process's timers

/**
 * The SimClock seen by one engine incarnation: its timers are its own, so the death of its
 * process (a start that failed) takes them along. A clean shutdown leaves them: the engine
 * must stop acting on its own.
 */
class ProcessClock implements TimerClock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private readonly live = new Set<TimerId>()
  constructor(private readonly sim: SimClock) {}
  readonly timers: Timers = {
    schedule: (callback, delayMs) => {
      const id: TimerId = this.sim.timers.schedule(() => {
        this.live.delete(id)
        callback()
      }, delayMs)
      this.live.add(id)
      return id
    },
    cancel: (id) => {
      this.live.delete(id)
      this.sim.timers.cancel(id)
    }
  }
  kill(): void {
    for (const id of this.live) this.sim.timers.cancel(id)
    this.live.clear()
  }
  unsafeCurrentTimeMillis(): number {
    return this.sim.now
  }
  readonly currentTimeMillis = Effect.sync(() => this.sim.now)
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.sim.now) * 1_000_000n
  }
  readonly currentTimeNanos = Effect.sync(() => BigInt(this.sim.now) * 1_000_000n)
  sleep(duration: Duration.DurationInput): Effect.Effect<void> {
    return sleepOn(this.timers, duration)
  }
}

// ------------------------------------------------------------------ the store

/** How an incarnation's view of the store stands. */
type ViewState = "live" | "shut down" | "dead"

interface StoreView {
  readonly service: StoreService
  state: ViewState
}

/**
 * One MemoryStore behind views that refuse commits on the seeded PRNG's draws. Successful
 * commits and refusals are reported to the model; a commit through a view whose engine was
 * shut down is a violation (and refused, so that the store stays what the live engine made it).
 */
const faultyStore = (inner: StoreService, prng: Prng, plan: FaultPlan, inCommand: () => boolean, model: SoakModel, counters: Counters) => {
  const p = plan.storeFailureProbability
  const refuse = () => (plan.commandFailures || !inCommand()) && prng.chance(p)
  const view = (incarnation: number): StoreView => {
    const v: StoreView = {
      state: "live",
      service: {
        ...inner,
        // every commit goes through `commit` below (where the faults are), none past it
        commitNow: undefined,
        load: Effect.suspend(() => {
          if (refuse()) {
            counters.refusedLoads++
            return Effect.fail(new StoreError({ message: "injected: the store refused the load" }))
          }
          return inner.load
        }),
        commit: (batch) =>
          Effect.suspend(() => {
            if (v.state !== "live") {
              model.violation(11, `engine #${incarnation} committed ${batch.events.length} events after it was ${v.state}`)
              return Effect.fail(new StoreError({ message: `injected: engine #${incarnation} is ${v.state}` }))
            }
            if (refuse()) {
              counters.refusedCommits++
              model.commitRefused()
              return Effect.fail(new StoreError({ message: "injected: the store refused the commit" }))
            }
            return Effect.tap(inner.commit(batch), () => model.committed(batch.events))
          })
      }
    }
    return v
  }
  return view
}

// ------------------------------------------------------------------ the run

export interface Counters {
  restarts: number
  failedStarts: number
  refusedCommits: number
  refusedLoads: number
  refusedCommands: number
  accepted: number
  refusedSubmissions: number
  events: number
  cycles: number
  instants: number
}

export interface SoakResult {
  readonly soak: SoakCase
  readonly violations: ReadonlyArray<Violation>
  readonly counters: Counters
  readonly seen: ReadonlyMap<string, number>
  readonly simulatedMs: number
  /** FNV-1a over every transition and journal entry seen, in order: the same seed gives the same digest (§6.12). */
  readonly digest: number
}

interface Incarnation {
  readonly n: number
  readonly clock: ProcessClock
  readonly view: StoreView
  engine: EngineService | null
}

/** Runs one soak case to the end and returns what the model found. */
export const runSoakCase = (soak: SoakCase): SoakResult => {
  const c = soak.sim
  const workload = workloadOf(c)
  const jobs = new Map(workload.jobs.map((j) => [j.id, j] as const))
  const queues: ReadonlyArray<QueueConfig> = c.queues
  const counters: Counters = { restarts: 0, failedStarts: 0, refusedCommits: 0, refusedLoads: 0, refusedCommands: 0, accepted: 0, refusedSubmissions: 0, events: 0, cycles: 0, instants: 0 }
  const sim = new SimClock()
  const inner = MemoryStore.makeMemoryStore()
  const model = new SoakModel({ gpus: c.gpus, policy: c.policy, queues: [makeQueue("default"), ...queues], jobs, now: () => sim.now }, inner)
  let commandRunning = false
  const viewOf = faultyStore(inner, makePrng(soak.seed).fork("store"), soak.faults, () => commandRunning, model, counters)
  let current: Incarnation | null = null
  let incarnations = 0
  let digest = 0x811c9dc5
  const fold = (value: unknown) => {
    const text = JSON.stringify(value)
    for (let i = 0; i < text.length; i++) digest = Math.imul(digest ^ text.charCodeAt(i), 0x01000193) >>> 0
  }

  /**
   * The one place that watches the engine: its transitions (the engine's `onTransition` hook,
   * given when it is made) and its journal. Transitions made while the engine starts (its
   * recovery) are the model's to infer from the store (`model.restarting`): they are reported
   * from the moment the engine exists.
   */
  const observe = (inc: Incarnation) => (event: RunEvent) => {
    const engine = inc.engine
    if (engine === null) return
    counters.events++
    fold(event)
    if (inc.view.state !== "live") model.violation(3, `engine #${inc.n} emitted ${event.runId} ${event.from} → ${event.to} after it was ${inc.view.state}`)
    else model.onEvent(event, (id) => Effect.runSync(engine.getRun(id)))
  }

  /** Makes an engine on the store; null when its start failed (the process died). */
  const start = (): Incarnation | null => {
    const n = ++incarnations
    const clock = new ProcessClock(sim)
    const view = viewOf(n)
    const inc: Incarnation = { n, clock, view, engine: null }
    const journal = Layer.succeed(Journal, {
      record: (entry: JournalEntry) =>
        Effect.sync(() => {
          counters.cycles++
          fold(entry)
          if (view.state === "live") model.onCycle(entry)
        })
    })
    const ports = Layer.mergeAll(
      Layer.succeed(Store, view.service),
      SimExecutor.layer({
        timers: clock.timers,
        behaviour: (runId) => {
          const job = jobs.get(model.jobOf(runId) ?? "")
          return job === undefined ? { durationMs: 60_000, exitCode: 0 } : { durationMs: job.durationMs, exitCode: job.exitCode }
        }
      }),
      SimGpus.layer(c.gpus),
      journal
    )
    model.restarting(true)
    const make = Engine.make({ policy: c.policy, queues, onTransition: observe(inc) }).pipe(
      Effect.provide(ports),
      Effect.withClock(clock),
      // the engine logs each refused cycle; the model counts them
      Logger.withMinimumLogLevel(LogLevel.None)
    )
    const made = Effect.runSync(Effect.either(make))
    model.restarting(false)
    if (Either.isLeft(made)) {
      counters.failedStarts++
      clock.kill()
      view.state = "dead"
      return null
    }
    inc.engine = made.right
    return inc
  }

  const startOrRetry = () => {
    current = start()
    if (current === null) sim.timers.schedule(startOrRetry, STORE_RETRY_MS)
    else model.started(current.engine!)
  }

  const restart = () => {
    if (current === null) return // down already: the pending start is the restart
    counters.restarts++
    const old = current
    Effect.runSync(old.engine!.shutdown)
    old.view.state = "shut down"
    current = null
    model.crashed()
    startOrRetry()
  }

  /** A client command: sent to the engine now, again later if the store refused it or no engine runs. */
  const send = (what: string, command: (engine: EngineService) => Effect.Effect<unknown, unknown>, onDone: (result: unknown) => void = () => {}) => {
    const attempt = () => {
      const inc = current
      if (inc === null) {
        sim.timers.schedule(attempt, STORE_RETRY_MS)
        return
      }
      const engine = inc.engine!
      const before = model.fingerprint(engine)
      const eventsBefore = counters.events
      commandRunning = true
      const result = Effect.runSync(Effect.either(command(engine)))
      commandRunning = false
      if (Either.isLeft(result) && result.left instanceof StoreError) {
        counters.refusedCommands++
        // SPEC §7: a change is acknowledged only after it is committed, so a refused one changed nothing
        if (counters.events !== eventsBefore || model.fingerprint(engine) !== before)
          model.violation(11, `${what} was refused (StoreError) but changed the engine: ${counters.events - eventsBefore} transitions, stats ${before} → ${model.fingerprint(engine)}`)
        sim.timers.schedule(attempt, STORE_RETRY_MS)
        return
      }
      onDone(Either.isRight(result) ? result.right : result.left)
    }
    attempt()
  }

  for (const job of workload.jobs)
    sim.timers.schedule(
      () =>
        send(`submit ${job.id}`, (engine) => engine.submit(submissionOf(job)), (result) => {
          const outcome = result as { readonly _tag: string; readonly run?: Run }
          if (outcome._tag !== "Accepted" || outcome.run === undefined) {
            counters.refusedSubmissions++
            model.refused(job.id, outcome._tag)
            return
          }
          counters.accepted++
          const id = outcome.run.id
          model.acknowledged(job.id, id)
          if (job.decision !== undefined) {
            const approve = job.decision.approve
            sim.timers.schedule(() => send(`${approve ? "approve" : "reject"} ${id}`, (engine) => (approve ? engine.approve(id) : engine.reject(id, "rejected by the workload"))), job.decision.atMs)
          }
          if (job.cancelAfterMs !== undefined) sim.timers.schedule(() => send(`cancel ${id}`, (engine) => engine.cancel([id])), job.cancelAfterMs)
        }),
      job.arrivalMs
    )
  for (const at of soak.faults.restartsAt) sim.timers.schedule(restart, at)

  startOrRetry()
  // instant by instant: everything due now, then the checks of a quiet instant, then on
  const live = (): Incarnation | null => current
  // a case fires a few thousand timers; one that goes on and on (an engine retrying forever)
  // is stopped and reported rather than left to hang the soak
  const MAX_INSTANTS = 20_000
  for (;;) {
    sim.run(sim.now)
    const inc = live()
    if (inc !== null) model.quiet(inc.engine!)
    if (!sim.step()) break
    if (++counters.instants === MAX_INSTANTS) {
      model.violation(9, `still going after ${MAX_INSTANTS} instants (${sim.pendingTimers} timers pending): stopped`)
      break
    }
  }
  model.finish(live()?.engine ?? null)
  return { soak, violations: model.violations, counters, seen: model.seen, simulatedMs: sim.now, digest }
}

// ------------------------------------------------------------------ one seed, both ways

export interface SeedResult {
  readonly soak: SoakCase
  /** The case without faults, through the independent Model (Model.ts): every §6 invariant. */
  readonly faultFree: ReadonlyArray<Violation>
  /** The case with its faults, through the SoakModel: the invariants that hold under them. */
  readonly faulty: SoakResult
}

/**
 * One soak seed: its simulation case first runs without faults through `simulate` and the
 * independent Model (every §6 invariant, as Invariants.test.ts checks them), then with its
 * faults through the engine incarnations here and the SoakModel.
 */
export const soakSeed = (seed: number, kinds: FaultKinds & { readonly jobs?: readonly [number, number] } = {}): SeedResult => {
  const soak = soakCase(seed, kinds)
  const faultFree = runCase(soak.sim).violations
  return { soak, faultFree, faulty: runSoakCase(soak) }
}

/** Every violation of a seed, one per line (none: empty). */
export const violationsOf = (r: SeedResult): Array<string> => [
  ...r.faultFree.map((v) => `without faults: ${v.message}`),
  ...r.faulty.violations.map((v) => `with faults: ${v.message}`)
]

/** One line per seed for the soak's log. */
export const summaryOf = (r: SeedResult, ms: number): string => {
  const c = r.faulty.counters
  const bad = violationsOf(r).length
  return (
    `seed ${r.soak.seed}: ${bad === 0 ? "ok" : `${bad} VIOLATIONS`} — ${r.soak.sim.workload.jobs} jobs on ${r.soak.sim.gpus} GPUs, ` +
    `${c.accepted} accepted, ${c.restarts} restarts (${c.failedStarts} failed starts), ${c.refusedCommits} commits and ${c.refusedCommands} commands refused, ${ms.toFixed(0)} ms`
  )
}
