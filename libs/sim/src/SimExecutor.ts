/**
 * The simulator's Executor: a run "runs" for the duration its workload job says, then
 * exits with the job's exit code; SIGTERM ends it at once (exit by signal). Seeded
 * failure injection loses a run's process midway (SPEC §2 `lost`).
 */
import { ChurnMap, type RunId } from "@gantry/core"
import { Executor, type ExecutorService, type RunExit, type StartRequest, type TimerId, type Timers } from "@gantry/engine"
import { Effect, Exit, Layer } from "effect"
import type { Prng } from "./Prng.js"

export interface SimJobBehaviour {
  readonly durationMs: number
  readonly exitCode: number
}

export interface SimExecutorOptions {
  readonly timers: Timers
  /** What each run does, by run id (the simulator fills it as it submits). */
  readonly behaviour: (runId: RunId, attempt: number) => SimJobBehaviour
  /** Probability that an attempt's process is lost midway (seeded). */
  readonly lostProbability?: number
  readonly prng?: Prng
}

export const makeSimExecutor = (o: SimExecutorOptions): ExecutorService => {
  const live = new ChurnMap<RunId, { timer: TimerId; onExit: (exit: RunExit) => void }>()
  const end = (runId: RunId, exit: RunExit) => {
    const entry = live.get(runId)
    if (entry === undefined) return
    live.delete(runId)
    entry.onExit(exit)
  }
  const start = ({ run }: StartRequest, onExit: (exit: RunExit) => void): void => {
    const behaviour = o.behaviour(run.id, run.attempt)
    const lost = o.prng !== undefined && (o.lostProbability ?? 0) > 0 && o.prng.chance(o.lostProbability!)
    const delay = lost ? Math.floor(behaviour.durationMs * o.prng!.next()) : behaviour.durationMs
    const exit: RunExit = lost ? { exitCode: null, signal: null, lost: true } : { exitCode: behaviour.exitCode, signal: null }
    const timer = o.timers.schedule(() => end(run.id, exit), delay)
    live.set(run.id, { timer, onExit })
  }
  return {
    start: (request, onExit) => Effect.sync(() => start(request, onExit)),
    // synchronous by nature: the cycle starts runs without a fiber (the engine's Sync.ts)
    startNow: (request, onExit) => {
      start(request, onExit)
      return Exit.void
    },
    signal: (run, signal) =>
      Effect.sync(() => {
        const entry = live.get(run.id)
        if (entry === undefined) return
        o.timers.cancel(entry.timer)
        entry.timer = o.timers.schedule(() => end(run.id, { exitCode: null, signal: signal === "TERM" ? "SIGTERM" : "SIGKILL" }), 0)
      }),
    // a simulated restart is a machine restart: no process survives it, so every run stored
    // as running is lost (SPEC §7) and its retry rules apply
    adopt: () => Effect.succeed("lost" as const)
  }
}

export const layer = (o: SimExecutorOptions): Layer.Layer<Executor> => Layer.succeed(Executor, makeSimExecutor(o))
