import { makeQueue, QueueName, RunId, type Submission, UserName } from "@gantry/core"
import type { EngineService } from "@gantry/engine"
import { Chunk, Effect, Exit, Fiber, Queue } from "effect"
import { describe, expect, it } from "vitest"
import { Harness } from "../properties/Harness.js"

const MIN = 60_000
const q = QueueName.make
const sub = (o: Partial<Submission> = {}): Submission => ({ command: ["train"], user: UserName.make("ana"), ...o })
const attempt = <A, E>(effect: Effect.Effect<A, E>) => Effect.runSync(Effect.either(effect))
const errorTag = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>): string | null => {
  const result = attempt(effect)
  return result._tag === "Left" ? result.left._tag : null
}
const stats = (engine: EngineService) => Effect.runSync(engine.stats)

describe("Engine API: submitNow", () => {
  const submissions: ReadonlyArray<Partial<Submission>> = [
    { gpus: 1 },
    { gpus: 5 }, // refused: more GPUs than exist
    { gpus: 2, queue: q("nope") }, // refused: no such queue
    { gpus: 4, hold: true },
    { gpus: 1, dryRun: true },
    { gpus: 1, noWait: true }
  ]

  it("is done at once with the memory store (an Exit): the same outcomes, refusals and state as submit", () => {
    const viaSubmit = new Harness({ gpus: 4 })
    const viaNow = new Harness({ gpus: 4 })
    for (const change of submissions) {
      const now = viaNow.engine.submitNow(sub(change))
      expect(Exit.isExit(now)).toBe(true)
      expect(Effect.runSync(Effect.either(now))).toEqual(attempt(viaSubmit.engine.submit(sub(change))))
      expect(stats(viaNow.engine)).toEqual(stats(viaSubmit.engine))
    }
    expect(stats(viaNow.engine)).toMatchObject({ pending: 2, held: 1 })
  })

  it("is submit's Effect, nothing done until it runs, when the submission has a key or a parent to look up", () => {
    const h = new Harness({ gpus: 1 })
    const keyed = h.engine.submitNow(sub({ idempotencyKey: "k1" }))
    expect(Exit.isExit(keyed)).toBe(false)
    expect(stats(h.engine).pending).toBe(0)
    const accepted = Effect.runSync(keyed)
    expect(accepted).toMatchObject({ _tag: "Accepted", duplicate: false })
    expect(Effect.runSync(h.engine.submitNow(sub({ idempotencyKey: "k1" })))).toMatchObject({ _tag: "Accepted", duplicate: true })
    expect(stats(h.engine).pending).toBe(1)
    const orphan = h.engine.submitNow(sub({ parentId: RunId.make("404") }))
    expect(Exit.isExit(orphan)).toBe(false)
    expect(errorTag(orphan)).toBe("InvalidSubmission")
  })
})

describe("Engine API: submissions", () => {
  it.each<[string, Partial<Submission>, string]>([
    ["an unknown queue", { queue: q("nope") }, "QueueNotFound"],
    ["more GPUs than exist", { gpus: 5 }, "InvalidSubmission"],
    ["an unknown device id", { deviceIds: [7] }, "InvalidSubmission"],
    ["repeated device ids", { gpus: 2, deviceIds: [1, 1] }, "InvalidSubmission"],
    ["an empty device list", { deviceIds: [] }, "InvalidSubmission"],
    ["a priority override from a researcher", { priority: 50 }, "PermissionDenied"],
    ["noWait with hold", { noWait: true, hold: true }, "InvalidSubmission"]
  ])("refuses %s with a typed error and stores nothing", (_, change, tag) => {
    const h = new Harness({ gpus: 4 })
    const before = stats(h.engine)
    expect(errorTag(h.engine.submit(sub(change)))).toBe(tag)
    expect(stats(h.engine)).toEqual(before)
    expect(Effect.runSync(h.engine.getRun(RunId.make("1")).pipe(Effect.either))._tag).toBe("Left")
  })

  it("refuses a submission over the queue's depth with QueueFull and stores nothing", () => {
    const h = new Harness({ gpus: 1, queues: [makeQueue("small", { depth: 2 })] })
    h.submit({ user: "ana", queue: "small" })
    h.submit({ user: "ana", queue: "small" })
    const before = stats(h.engine)
    expect(errorTag(h.engine.submit(sub({ queue: q("small") })))).toBe("QueueFull")
    expect(stats(h.engine)).toEqual(before)
  })

  it("dryRun answers whether and where it would start, storing nothing", () => {
    const h = new Harness({ gpus: 2 })
    h.submit({ user: "bob", gpus: 1 })
    h.run(1)
    const outcome = Effect.runSync(h.engine.submit(sub({ gpus: 1, dryRun: true })))
    expect(outcome).toEqual({ _tag: "DryRun", wouldStart: true, gpus: [1], reason: null })
    const busy = Effect.runSync(h.engine.submit(sub({ gpus: 2, dryRun: true })))
    expect(busy).toEqual({ _tag: "DryRun", wouldStart: false, gpus: [], reason: "gpu-busy" })
    expect(stats(h.engine).pending).toBe(0)
  })

  it("noWait starts now or is refused with nothing stored", () => {
    const h = new Harness({ gpus: 1 })
    const first = Effect.runSync(h.engine.submit(sub({ noWait: true })))
    expect(first._tag).toBe("Accepted")
    h.run(1)
    const second = Effect.runSync(h.engine.submit(sub({ noWait: true })))
    expect(second).toEqual({ _tag: "Refused", reason: "gpu-busy" })
    expect(stats(h.engine)).toMatchObject({ pending: 0, active: 1 })
  })

  it("a second submit with the same idempotency key returns the first run", () => {
    const h = new Harness({ gpus: 1 })
    const a = Effect.runSync(h.engine.submit(sub({ idempotencyKey: "k1" })))
    const b = Effect.runSync(h.engine.submit(sub({ idempotencyKey: "k1" })))
    expect(a._tag === "Accepted" && b._tag === "Accepted" && b.duplicate && b.run.id === a.run.id).toBe(true)
    h.run()
    const c = Effect.runSync(h.engine.submit(sub({ idempotencyKey: "k1" })))
    expect(c._tag === "Accepted" && c.duplicate && a._tag === "Accepted" && c.run.id === a.run.id).toBe(true)
  })
})

describe("Engine API: queues", () => {
  it("creates a queue that takes runs, and refuses a duplicate or a pool naming a missing GPU", () => {
    const h = new Harness({ gpus: 2 })
    Effect.runSync(h.engine.createQueue(makeQueue("fast", { priority: 5, gpuPool: [1] })))
    const id = h.submit({ user: "ana", queue: "fast" })
    h.run(1)
    expect(h.runOf(id).assignedGpus).toEqual([1])
    expect(errorTag(h.engine.createQueue(makeQueue("fast")))).toBe("QueueExists")
    expect(errorTag(h.engine.createQueue(makeQueue("bad", { gpuPool: [9] })))).toBe("InvalidPolicy")
    expect(Effect.runSync(h.engine.queues).map((x) => x.config.name).sort()).toEqual(["default", "fast"])
  })

  it("pausing a queue holds its runs (queue-paused); resuming starts them with no other event", () => {
    const h = new Harness({ gpus: 1, queues: [makeQueue("lab")] })
    Effect.runSync(h.engine.updateQueue(q("lab"), { paused: true }))
    const id = h.submit({ user: "ana", queue: "lab" })
    h.run(10 * MIN)
    expect(h.statusOf(id)).toBe("pending")
    expect(Effect.runSync(h.engine.position(id))).toMatchObject({ position: 1, reason: "queue-paused" })
    h.at(10 * MIN + 1, () => void Effect.runSync(h.engine.updateQueue(q("lab"), { paused: false })))
    h.run(10 * MIN + 1)
    expect(h.startedAt(id)).toBe(10 * MIN + 1)
  })

  it("deletes an empty queue, refuses a busy one, drains one on request, never deletes default", () => {
    const h = new Harness({ gpus: 1, queues: [makeQueue("a"), makeQueue("b")] })
    Effect.runSync(h.engine.deleteQueue(q("a")))
    expect(errorTag(h.engine.submit(sub({ queue: q("a") })))).toBe("QueueNotFound")
    const id = h.submit({ user: "ana", queue: "b" }, { durationMs: MIN })
    expect(errorTag(h.engine.deleteQueue(q("b")))).toBe("QueueNotEmpty")
    Effect.runSync(h.engine.deleteQueue(q("b"), { drain: true }))
    expect(errorTag(h.engine.submit(sub({ queue: q("b") })))).toBe("QueueNotFound")
    expect(Effect.runSync(h.engine.queues).find((x) => x.config.name === "b")?.state).toBe("draining")
    h.run()
    expect(h.statusOf(id)).toBe("completed")
    expect(Effect.runSync(h.engine.queues).map((x) => x.config.name)).toEqual(["default"])
    expect(errorTag(h.engine.deleteQueue(q("default")))).toBe("InvalidPolicy")
  })
})

describe("Engine API: position, priority, policy", () => {
  it("position counts the pending runs ahead in SPEC §3 order; an override moves a run up", () => {
    const h = new Harness({ gpus: 1 })
    h.submit({ user: "zed" }, { durationMs: 60 * MIN })
    const a = h.submit({ user: "ana" })
    const b = h.submit({ user: "bob" })
    h.run(1)
    expect(Effect.runSync(h.engine.position(a))).toMatchObject({ position: 1, pending: 2, reason: "gpu-busy" })
    expect(Effect.runSync(h.engine.position(b)).position).toBe(2)
    Effect.runSync(h.engine.setPriority(b, 99))
    expect(Effect.runSync(h.engine.position(b)).position).toBe(1)
    expect(Effect.runSync(h.engine.position(a)).position).toBe(2)
  })

  it("refuses an invalid policy (negative aging step) and keeps the old one", () => {
    const h = new Harness({ gpus: 1 })
    const before = Effect.runSync(h.engine.policy)
    const bad = { ...before, aging: { starvationThresholdMs: 0, agingStep: -1, agingIntervalMs: 1000 } }
    expect(errorTag(h.engine.updatePolicy(bad))).toBe("InvalidPolicy")
    expect(Effect.runSync(h.engine.policy)).toBe(before)
  })

  it("a policy change wakes the scheduler: raising the global limit starts a waiting run at once", () => {
    const h = new Harness({ gpus: 2 })
    const policy = Effect.runSync(h.engine.policy)
    Effect.runSync(h.engine.updatePolicy({ ...policy, limits: { ...policy.limits, maxConcurrent: 1 } }))
    h.submit({ user: "ana" }, { durationMs: 60 * MIN })
    const b = h.submit({ user: "bob" })
    h.run(5 * MIN)
    expect(h.statusOf(b)).toBe("pending")
    h.at(5 * MIN + 1, () => void Effect.runSync(h.engine.updatePolicy({ ...policy, limits: { ...policy.limits, maxConcurrent: 2 } })))
    h.run(5 * MIN + 1)
    expect(h.startedAt(b)).toBe(5 * MIN + 1)
  })
})

describe("Engine API: events", () => {
  it("delivers every run transition, in order, to a subscriber", () => {
    const h = new Harness({ gpus: 1 })
    const events = Effect.runSync(
      Effect.scoped(
        Effect.gen(function* () {
          const queue = yield* h.engine.subscribe
          h.submit({ user: "ana" }, { durationMs: MIN })
          h.run()
          return Chunk.toReadonlyArray(yield* Queue.takeAll(queue))
        })
      )
    )
    expect(events.map((e) => [e.from, e.to, e.at])).toEqual([
      [null, "pending", 0],
      ["pending", "running", 0],
      ["running", "completed", MIN]
    ])
  })
})

describe("Engine API: acknowledged means stored", () => {
  it("a priority override survives a restart on the same store", () => {
    const first = new Harness({ gpus: 1 })
    first.submit({ user: "zed" }, { durationMs: 60 * MIN })
    const a = first.submit({ user: "ana" })
    const b = first.submit({ user: "bob" })
    first.run(1) // zed runs; ana and bob wait
    Effect.runSync(first.engine.setPriority(b, 99))
    const second = new Harness({ gpus: 1, store: first.store })
    expect(second.runOf(b).priorityOverride).toBe(99)
    expect(Effect.runSync(second.engine.position(b)).position).toBe(1)
    expect(Effect.runSync(second.engine.position(a)).position).toBe(2)
  })
})

describe("Engine API: cancelling a run that has ended (issue 9, item 9)", () => {
  it("fails with IllegalTransition, like approve or release, and changes nothing", () => {
    const h = new Harness({ gpus: 1 })
    const done = h.submit({ user: "ana" }, { durationMs: 1_000 })
    h.run()
    expect(h.statusOf(done)).toBe("completed")
    const before = stats(h.engine)
    expect(errorTag(h.engine.cancel([done]))).toBe("IllegalTransition")
    expect(errorTag(h.engine.approve(done))).toBe("IllegalTransition")
    expect(h.statusOf(done)).toBe("completed")
    expect(stats(h.engine)).toEqual(before)
  })

  it("a bulk cancel skips the runs that have ended when some can still be cancelled", () => {
    const h = new Harness({ gpus: 1 })
    const done = h.submit({ user: "ana" }, { durationMs: 1_000 })
    const waiting = h.submitAt(2_000, { user: "bob" }, { durationMs: 60 * MIN })
    h.run(3_000)
    expect(Effect.runSync(h.engine.cancel([done, waiting.id!]))).toEqual([waiting.id])
  })
})

describe("Engine API: what callers get cannot change the engine (issue 9, item 4)", () => {
  it("submit and getRun hand out copies with frozen nested values; changing them or the submission afterwards changes nothing", () => {
    const h = new Harness({ gpus: 1 })
    const command = ["train", "--lr", "0.1"]
    const env = { SEED: "1" }
    const outcome = Effect.runSync(h.engine.submit(sub({ command, env, metadata: { tags: ["a"] } })))
    if (outcome._tag !== "Accepted") throw new Error("not accepted")
    const run = outcome.run
    // a copy: changing it changes nothing in the engine; its nested values are frozen
    ;(run as { status: string }).status = "completed"
    expect(Effect.runSync(h.engine.getRun(run.id)).status).toBe("pending")
    expect(() => (run.command as Array<string>).push("--evil")).toThrow(TypeError)
    expect(() => ((run.env as Record<string, string>)["SEED"] = "2")).toThrow(TypeError)
    expect(() => ((run.metadata["tags"] as Array<string>)[0] = "b")).toThrow(TypeError)
    command.push("--later")
    env.SEED = "3"
    const again = Effect.runSync(h.engine.getRun(run.id))
    expect(again).not.toBe(run)
    expect(again).toMatchObject({ status: "pending", command: ["train", "--lr", "0.1"], env: { SEED: "1" }, metadata: { tags: ["a"] } })
    ;(again as { priorityOverride: number | null }).priorityOverride = 99
    expect(Effect.runSync(h.engine.getRun(run.id)).priorityOverride).toBeNull()
    expect(Effect.runSync(h.engine.position(run.id)).position).toBe(1)
    // the policy and queue configurations it hands out are frozen too
    const policy = Effect.runSync(h.engine.policy)
    expect(() => ((policy.limits as { maxConcurrent: number | null }).maxConcurrent = 0)).toThrow(TypeError)
  })
})

describe("Engine API: one stream of committed events (issue 9, item 5)", () => {
  it("`events` delivers each transition once, after its commit: the store has it when it arrives", async () => {
    const h = new Harness({ gpus: 1 })
    const seen = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const queue = yield* h.engine.subscribe
          const a = h.submit({ user: "ana" }, { durationMs: MIN })
          h.run()
          const events = Chunk.toReadonlyArray(yield* Queue.takeAll(queue))
          const stored = yield* h.store.timeline(a)
          return { events, stored }
        })
      )
    )
    expect(seen.events.map((e) => `${e.from}→${e.to}`)).toEqual(["null→pending", "pending→running", "running→completed"])
    expect(seen.stored).toEqual(seen.events)
  })
})

describe("Engine API: a child names a run that exists (issue 9, item 13)", () => {
  it.each(["abc", "999999", "../1", " 1"])("refuses parentId %j with InvalidSubmission naming the field, storing nothing", (parentId) => {
    const h = new Harness({ gpus: 1 })
    h.submit({ user: "ana" })
    const before = stats(h.engine)
    const result = attempt(h.engine.submit(sub({ parentId: RunId.make(parentId) })))
    expect(result._tag).toBe("Left")
    if (result._tag === "Left") {
      expect(result.left._tag).toBe("InvalidSubmission")
      expect(result.left.message).toContain("parentId")
    }
    expect(stats(h.engine)).toEqual(before)
  })

  it("accepts a child of a live run and of a run that has ended", () => {
    const h = new Harness({ gpus: 1 })
    const parent = h.submit({ user: "ana" }, { durationMs: 1_000 })
    expect(attempt(h.engine.submit(sub({ parentId: parent })))._tag).toBe("Right")
    h.run()
    expect(h.statusOf(parent)).toBe("completed")
    expect(attempt(h.engine.submit(sub({ parentId: parent })))._tag).toBe("Right")
  })
})

describe("Engine API: an embedder's typed submission is decoded too (issue 9, items 11 and 13)", () => {
  it.each<[string, Partial<Submission>, string]>([
    ["an empty env key", { env: { "": "x" } }, "InvalidSubmission"],
    ["a NUL in an argument", { command: ["train", "a\u0000b"] }, "InvalidSubmission"],
    ["maxAttempts 10⁹", { maxAttempts: 1_000_000_000 }, "InvalidSubmission"],
    ["a relative cwd", { cwd: "work/dir" }, "InvalidSubmission"],
    ["a 2 MB argument", { command: ["train", "x".repeat(2_000_000)] }, "TooLarge"],
    ["a 1 MB name", { name: "n".repeat(1_000_000) }, "TooLarge"]
  ])("refuses %s with %s, storing nothing", (_, change, tag) => {
    const h = new Harness({ gpus: 1 })
    const before = stats(h.engine)
    expect(errorTag(h.engine.submit(sub(change)))).toBe(tag)
    expect(stats(h.engine)).toEqual(before)
  })
})

describe("Engine API: the local worker's statechart (WorkerMachine)", () => {
  it("idle, busy while it runs anything, draining while every GPU is drained", () => {
    const h = new Harness({ gpus: 2 })
    expect(stats(h.engine).worker).toBe("idle")
    h.submit({ user: "ana" }, { durationMs: MIN })
    h.run(1)
    expect(stats(h.engine).worker).toBe("busy")
    h.run()
    expect(stats(h.engine).worker).toBe("idle")
    Effect.runSync(h.engine.drainGpu(0, true))
    expect(stats(h.engine).worker).toBe("idle")
    Effect.runSync(h.engine.drainGpu(1, true))
    expect(stats(h.engine).worker).toBe("draining")
    Effect.runSync(h.engine.drainGpu(1, false))
    expect(stats(h.engine).worker).toBe("idle")
  })
})

describe("Engine API: live actors can be inspected", () => {
  it("XState's inspect sees the run actors' events when the engine runs live actors", () => {
    const seen: Array<string> = []
    const h = new Harness({ gpus: 1, actors: "live", inspect: (e) => void (e.type === "@xstate.event" && seen.push((e.event as { type: string }).type)) })
    h.submit({ user: "ana" }, { durationMs: MIN })
    h.run()
    expect(seen).toEqual(expect.arrayContaining(["START", "EXIT", "WAKE", "CYCLE_DONE"]))
  })
})

describe("Engine API: submitMany (issue 11)", () => {
  it("stores every submission in one commit, in order, with consecutive ids", () => {
    const h = new Harness({ gpus: 1 })
    const runs = Effect.runSync(h.engine.submitMany([sub({ name: "a", hold: true }), sub({ name: "b", hold: true }), sub({ name: "c", hold: true })]))
    expect(runs.map((r) => [r.id, r.name, r.status])).toEqual([
      ["1", "a", "held"],
      ["2", "b", "held"],
      ["3", "c", "held"]
    ])
    expect(new Set(runs.map((r) => r.submittedAt)).size).toBe(1)
    expect(stats(h.engine).held).toBe(3)
  })

  it.each<[string, ReadonlyArray<Partial<Submission>>, number, string]>([
    ["an unknown queue on the last", [{}, {}, { queue: q("nope") }], 2, "QueueNotFound"],
    ["a queue's depth reached within the bulk", [{ queue: q("small") }, { queue: q("small") }, { queue: q("small") }], 2, "QueueFull"],
    ["a dry run", [{}, { dryRun: true }], 1, "InvalidSubmission"],
    ["an idempotency key", [{ idempotencyKey: "k" }], 0, "InvalidSubmission"],
    ["a priority override from a researcher", [{}, { priority: 5 }], 1, "PermissionDenied"]
  ])("refuses them all for %s, naming the submission (BulkRefused), and stores nothing", (_, subs, index, tag) => {
    const h = new Harness({ gpus: 1, queues: [makeQueue("small", { depth: 2 })] })
    const before = stats(h.engine)
    const result = attempt(h.engine.submitMany(subs.map((o) => sub({ hold: true, ...o }))))
    expect(result._tag).toBe("Left")
    if (result._tag === "Left") {
      expect(result.left._tag).toBe("BulkRefused")
      if (result.left._tag === "BulkRefused") {
        expect(result.left.index).toBe(index)
        expect(result.left.error._tag).toBe(tag)
        expect(result.left.message).toMatch(new RegExp(`^submission ${index + 1}: `))
      }
    }
    expect(stats(h.engine)).toEqual(before)
    expect(Effect.runSync(h.engine.getRun(RunId.make("1")).pipe(Effect.either))._tag).toBe("Left")
  })
})

describe("Engine API: process", () => {
  /** The answer of a `process` started now, once the simulated clock has run its cycle. */
  const processed = (h: Harness) => {
    const fiber = Effect.runFork(h.engine.process)
    h.run(h.now)
    return Effect.runPromise(Fiber.join(fiber))
  }

  it("runs a cycle now and answers the runs it started; a cycle that starts nothing answers none", async () => {
    const h = new Harness({ gpus: 2, queues: [makeQueue("q", { paused: true })] })
    const a = h.submit({ user: "ana", queue: "q" })
    const b = h.submit({ user: "bob", queue: "q" })
    const c = h.submit({ user: "cy", queue: "q", gpus: 2 })
    h.run(h.now)
    expect(await processed(h)).toEqual([])
    Effect.runSync(h.engine.updateQueue(q("q"), { paused: false }))
    expect(await processed(h)).toEqual([a, b])
    expect([h.statusOf(a), h.statusOf(b), h.statusOf(c)]).toEqual(["running", "running", "pending"])
    expect(await processed(h)).toEqual([])
  })

  it("a stopped engine answers none at once", () => {
    const h = new Harness({ gpus: 1 })
    Effect.runSync(h.engine.shutdown)
    expect(Effect.runSync(h.engine.process)).toEqual([])
  })
})

describe("Engine API: positions", () => {
  it("gives every pending run the place position gives it, in SPEC §3 order", () => {
    const h = new Harness({ gpus: 1 })
    h.submit({ user: "ana" })
    h.run(h.now)
    const ids = [h.submit({ user: "bob" }), h.submit({ user: "cy", level: "lead" }), h.submit({ user: "dee" }), h.submit({ user: "eve", level: "admin" })]
    const all = Effect.runSync(h.engine.positions)
    expect(ids.map((id) => all.get(id))).toEqual([3, 2, 4, 1])
    for (const id of ids) expect(Effect.runSync(h.engine.position(id)).position).toBe(all.get(id))
  })
})
