import { UserName } from "@gantry/core"
import { Engine, fiberTimers, MemoryStore, noJournal } from "@gantry/engine"
import { SimExecutor, SimGpus } from "@gantry/sim"
import { Effect, Layer, Queue, Runtime } from "effect"
import { describe, expect, it } from "vitest"

/**
 * The engine on Effect's default (wall) clock, which offers no timer API of its own: every
 * timer (the scheduler's `after: 0`, a run's time limit) runs as a fiber sleeping on that
 * clock. Waits are on engine events with a bounded timeout, never a fixed sleep.
 */
describe("engine on the default Effect clock", () => {
  it("runs a submission to completion and enforces a time limit in real time", async () => {
    const program = Effect.gen(function* () {
      const runtime = yield* Effect.runtime<never>()
      const clock = yield* Effect.clock
      const timers = fiberTimers(runtime, clock)
      const ports = Layer.mergeAll(
        MemoryStore.layer(),
        SimExecutor.layer({ timers, behaviour: (id) => ({ durationMs: id === "1" ? 5 : 60_000, exitCode: 0 }) }),
        SimGpus.layer(2),
        noJournal
      )
      const engine = yield* Engine.make().pipe(Effect.provide(ports))
      const events = yield* engine.subscribe
      const quick = yield* engine.submit({ command: ["quick"], user: UserName.make("ana") })
      const limited = yield* engine.submit({ command: ["slow"], user: UserName.make("bob"), timeLimitMs: 20 })
      const ended = new Map<string, string>()
      while (ended.size < 2) {
        const event = yield* Queue.take(events)
        if (["completed", "failed", "cancelled"].includes(event.to)) ended.set(event.runId, `${event.to}:${event.reason}`)
      }
      return { quick, limited, ended }
    }).pipe(Effect.scoped, Effect.timeout("10 seconds"))
    const { quick, limited, ended } = await Runtime.runPromise(Runtime.defaultRuntime)(program)
    expect(quick._tag === "Accepted" && ended.get(quick.run.id)).toBe("completed:exit 0")
    expect(limited._tag === "Accepted" && ended.get(limited.run.id)).toBe("failed:time-limit")
  })
})
