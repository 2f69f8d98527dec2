import { aRun } from "@gantry/core/testing"
import type { RunStatus } from "@gantry/core"
import { describe, expect, it } from "vitest"
import { transition } from "xstate"
import { runContextOf, runMachine, type RunMachineEvent } from "../src/RunMachine.js"
import { Stepper, TransitionCache } from "../src/Stepper.js"
import { NEVER_MS, type Timers } from "../src/Timers.js"

const STATUSES: ReadonlyArray<RunStatus> = ["held", "blocked", "pending", "running", "stopping", "completed", "failed", "cancelled", "rejected"]
const EVENTS: ReadonlyArray<RunMachineEvent> = [
  { type: "RELEASE" },
  { type: "APPROVE" },
  { type: "REJECT", reason: "no" },
  { type: "START" },
  { type: "CANCEL" },
  { type: "QUEUE_TIMEOUT" },
  { type: "DEADLINE" },
  { type: "TIME_LIMIT" },
  { type: "EXIT", exitCode: 0, signal: null },
  { type: "EXIT", exitCode: 2, signal: null },
  { type: "EXIT", exitCode: null, signal: "SIGTERM" },
  { type: "LOST" },
  { type: "SPAWN_FAILED", message: "nope" }
]

/** Timers by hand, as the Timers contract says: `fire()` runs the earliest. */
const manualTimers = () => {
  const due: Array<{ id: number; at: number; callback: () => void }> = []
  let now = 0
  let next = 0
  const timers: Timers = {
    schedule: (callback, delayMs) => {
      const id = ++next
      if (delayMs >= NEVER_MS) return id // the Timers contract: "no limit" schedules nothing
      due.push({ id, at: now + delayMs, callback })
      return id
    },
    cancel: (id) => {
      const at = due.findIndex((t) => t.id === id)
      if (at >= 0) due.splice(at, 1)
    }
  }
  const fire = () => {
    due.sort((a, b) => a.at - b.at || a.id - b.id)
    const timer = due.shift()!
    now = timer.at
    timer.callback()
  }
  return { timers, fire, due }
}

describe("TransitionCache", () => {
  it("answers every (status, event) of the run statechart as XState's transition() does, cached or not", () => {
    const cache = new TransitionCache(runMachine)
    for (const maxAttempts of [1, 3])
      for (const value of STATUSES)
        for (const event of EVENTS) {
          const context = { ...runContextOf(aRun({ maxAttempts }), 0, 10_000), stopCause: value === "stopping" ? ("cancel" as const) : null }
          const state = { value, context, done: false }
          const [expected] = transition(runMachine, runMachine.resolveState({ value, context }), event)
          for (let round = 0; round < 2; round++) {
            const step = cache.step(state, event)
            expect(step.next.value).toBe(expected.value)
            expect(step.next.context).toEqual(expected.context)
          }
        }
  })

  it("answers as XState does across the resets that thousands of distinct events and contexts cause, and stays bounded", () => {
    const cache = new TransitionCache(runMachine)
    const base = runContextOf(aRun({ maxAttempts: 2 }), 0, 10_000)
    let cached = 0
    for (let i = 0; i < 12_000; i++) {
      // a distinct rejection reason per run (events) and a distinct attempt count now and then (contexts)
      const blocked = { value: "blocked", context: { ...base, attempt: 1 + (i % 5_000) }, done: false }
      const event: RunMachineEvent = i % 2 === 0 ? { type: "REJECT", reason: `reason ${i}` } : { type: "APPROVE" }
      const [expected] = transition(runMachine, runMachine.resolveState({ value: blocked.value, context: blocked.context }), event)
      const step = cache.step(blocked, event)
      expect(step.next.value).toBe(expected.value)
      expect(step.next.context).toEqual(expected.context)
      // the same question again: the cached answer (unless a reset fell between the two)
      const again = cache.step(blocked, event)
      expect(again.next).toEqual(step.next)
      if (again === step) cached++
    }
    expect(cached).toBeGreaterThan(11_990)
    const tables = cache as unknown as { answers: Map<number, unknown>; contextNumbers: Map<string, number>; eventNumbers: Map<string, number> }
    expect(tables.answers.size).toBeLessThanOrEqual(8_192)
    expect(tables.contextNumbers.size).toBeLessThanOrEqual(8_193)
    expect(tables.eventNumbers.size).toBeLessThanOrEqual(1_024)
  })
})

describe("Stepper", () => {
  it("runs a time limit, the stop it causes and the kill grace on the given timers, like a live actor", () => {
    const { timers, fire, due } = manualTimers()
    const signals: Array<string> = []
    const seen: Array<string> = []
    const context = { ...runContextOf(aRun({ timeLimitMs: 5_000 }), 0, 10_000) }
    const stepper = new Stepper<typeof runMachine, "terminate" | "kill">(
      new TransitionCache(runMachine),
      { value: "pending", context, done: false },
      timers,
      { terminate: () => signals.push("TERM"), kill: () => signals.push("KILL") },
      (state) => seen.push(state.value)
    )
    expect(stepper.send({ type: "START" })).toBe(true)
    expect(due).toHaveLength(1) // the time limit; no deadline, so no timer for it
    fire()
    expect(stepper.state.value).toBe("stopping")
    expect(stepper.state.context.stopCause).toBe("time-limit")
    expect(signals).toEqual(["TERM"])
    fire()
    expect(signals).toEqual(["TERM", "KILL"])
    expect(stepper.send({ type: "EXIT", exitCode: null, signal: "SIGKILL" })).toBe(true)
    expect(stepper.state).toMatchObject({ value: "failed", done: true })
    expect(seen).toEqual(["running", "stopping", "failed"])
    expect(due).toHaveLength(0)
    expect(stepper.send({ type: "EXIT", exitCode: 0, signal: null })).toBe(false)
  })

  it("queues an event sent while it handles one, as XState's mailbox does", () => {
    const { timers } = manualTimers()
    const order: Array<string> = []
    const stepper: Stepper<typeof runMachine, "terminate" | "kill"> = new Stepper<typeof runMachine, "terminate" | "kill">(
      new TransitionCache(runMachine),
      { value: "running", context: { ...runContextOf(aRun({}), 0, 10_000) }, done: false },
      timers,
      {
        terminate: () => {
          order.push("terminate")
          stepper.send({ type: "EXIT", exitCode: null, signal: "SIGTERM" })
          order.push("terminate returned")
        },
        kill: () => {}
      },
      (state) => order.push(state.value)
    )
    stepper.send({ type: "CANCEL" })
    expect(order).toEqual(["terminate", "terminate returned", "stopping", "cancelled"])
  })
})
