/**
 * A run that ended while no runner watched it gets the time it really ended (issue 9, item 8),
 * not the time the next engine adopted it. The executor reports the end time it recorded (the
 * runner's wrapper writes it in the exit file); the engine records the run's end and its
 * timeline event at that instant, clamped between its start and now.
 */
import { type Run, RunId } from "@gantry/core"
import { aRun } from "@gantry/core/testing"
import { emptyBatch, Engine, Executor, GpuInventory, MemoryStore, noJournal, type RunExit, Store } from "@gantry/engine"
import { SimClock } from "@gantry/sim"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"

const restartWith = (stored: Run, exit: RunExit, nowMs: number) => {
  const store = MemoryStore.makeMemoryStore()
  Effect.runSync(store.commit({ ...emptyBatch, runs: [stored] }))
  const clock = new SimClock(nowMs)
  const executor = Layer.succeed(Executor, {
    start: () => Effect.void,
    signal: () => Effect.void,
    // the process ended while no runner watched: its exit file says so, and when
    adopt: (_run, onExit) => Effect.sync(() => (onExit(exit), "adopted" as const))
  })
  const ports = Layer.mergeAll(Layer.succeed(Store, store), executor, Layer.succeed(GpuInventory, { list: Effect.succeed([]) }), noJournal)
  const engine = Effect.runSync(Engine.make().pipe(Effect.provide(ports), Effect.withClock(clock)))
  clock.run()
  return { engine, store }
}

describe("an exit captured while no runner watched", () => {
  const stored: Run = { ...aRun({ id: "7", seq: 7, gpus: 0 }), status: "running", startedAt: 1_000, eligibleAt: 0, submittedAt: 0 }

  it("ends the run at the end time the executor recorded, not at adoption", () => {
    const { engine, store } = restartWith(stored, { exitCode: 0, signal: null, endedAt: 4_321 }, 60_000)
    const run = Effect.runSync(engine.getRun(RunId.make("7")))
    expect(run).toMatchObject({ status: "completed", endedAt: 4_321 })
    expect(Effect.runSync(store.getRun(RunId.make("7")))?.endedAt).toBe(4_321)
    expect(Effect.runSync(engine.timeline(RunId.make("7"))).at(-1)).toMatchObject({ to: "completed", at: 4_321 })
  })

  it("never before the run started, never after now; without an end time, now", () => {
    expect(Effect.runSync(restartWith(stored, { exitCode: 3, signal: null, endedAt: 10 }, 60_000).engine.getRun(RunId.make("7"))).endedAt).toBe(1_000)
    expect(Effect.runSync(restartWith(stored, { exitCode: 0, signal: null, endedAt: 99_000 }, 60_000).engine.getRun(RunId.make("7"))).endedAt).toBe(60_000)
    expect(Effect.runSync(restartWith(stored, { exitCode: 0, signal: null }, 60_000).engine.getRun(RunId.make("7"))).endedAt).toBe(60_000)
  })
})
