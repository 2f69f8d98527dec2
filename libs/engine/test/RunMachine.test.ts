import { aRun } from "@gantry/core/testing"
import type { RunStatus } from "@gantry/core"
import { describe, expect, it } from "vitest"
import { transition } from "xstate"
import { runContextOf, runMachine, type RunMachineEvent } from "../src/RunMachine.js"

const stateOf = (status: RunStatus, attempt = 1, maxAttempts = 1) =>
  runMachine.resolveState({ value: status, context: { ...runContextOf(aRun({ maxAttempts }), 0, 10_000), attempt } })

const next = (status: RunStatus, event: RunMachineEvent, attempt = 1, maxAttempts = 1) => {
  const [snapshot] = transition(runMachine, stateOf(status, attempt, maxAttempts), event)
  return { status: snapshot.value as RunStatus, context: snapshot.context }
}

const exit = (exitCode: number | null, signal: string | null = null): RunMachineEvent => ({ type: "EXIT", exitCode, signal })

describe("run statechart (SPEC §2)", () => {
  it.each<[RunStatus, RunMachineEvent, RunStatus, string]>([
    ["held", { type: "RELEASE" }, "pending", "released"],
    ["held", { type: "CANCEL" }, "cancelled", "cancelled"],
    ["blocked", { type: "APPROVE" }, "pending", "approved"],
    ["blocked", { type: "REJECT", reason: "too big" }, "rejected", "rejected: too big"],
    ["pending", { type: "START" }, "running", "started"],
    ["pending", { type: "CANCEL" }, "cancelled", "cancelled"],
    ["pending", { type: "QUEUE_TIMEOUT" }, "failed", "queue-timeout"],
    ["pending", { type: "DEADLINE" }, "failed", "deadline"],
    ["running", exit(0), "completed", "exit 0"],
    ["running", exit(3), "failed", "exit-code"],
    ["running", exit(null, "SIGSEGV"), "failed", "signal"],
    ["running", { type: "LOST" }, "failed", "lost"],
    ["running", { type: "CANCEL" }, "stopping", "cancel requested"],
    ["running", { type: "DEADLINE" }, "stopping", "deadline"]
  ])("%s --%o--> %s (%s)", (from, event, to, reason) => {
    const result = next(from, event)
    expect(result.status).toBe(to)
    expect(result.context.reason).toBe(reason)
  })

  it.each<[RunStatus, RunMachineEvent]>([
    ["held", { type: "START" }],
    ["blocked", { type: "START" }],
    ["pending", exit(0)],
    ["pending", { type: "APPROVE" }],
    ["running", { type: "START" }],
    ["running", { type: "RELEASE" }],
    ["completed", { type: "CANCEL" }],
    ["failed", { type: "START" }],
    ["cancelled", { type: "RELEASE" }],
    ["rejected", { type: "APPROVE" }]
  ])("refuses %s --%o-->: the status does not change", (from, event) => {
    expect(next(from, event).status).toBe(from)
  })

  it("retries a failed attempt while attempt < maxAttempts, then fails", () => {
    const retry = next("running", exit(1), 1, 2)
    expect(retry.status).toBe("pending")
    expect(retry.context.attempt).toBe(2)
    expect(next("running", exit(1), 2, 2).status).toBe("failed")
    expect(next("running", { type: "LOST" }, 1, 3).status).toBe("pending")
  })

  it("a stop ends as the cause says and never retries", () => {
    for (const [cause, to, failReason] of [
      ["cancel", "cancelled", null],
      ["deadline", "failed", "deadline"],
      ["time-limit", "failed", "time-limit"]
    ] as const) {
      const state = runMachine.resolveState({
        value: "stopping",
        context: { ...runContextOf(aRun({ maxAttempts: 5 }), 0, 10_000), stopCause: cause }
      })
      const [after] = transition(runMachine, state, exit(null, "SIGTERM"))
      expect(after.value).toBe(to)
      expect(after.context.failReason).toBe(failReason)
    }
  })
})
