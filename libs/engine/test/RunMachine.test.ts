import { aRun } from "@gantry/core/testing"
import type { RunStatus } from "@gantry/core"
import { describe, expect, it } from "vitest"
import { transition } from "xstate"
import { runContextOf, runMachine, type RunMachineEvent } from "../src/RunMachine.js"

const stateOf = (status: RunStatus | "submitted", attempt = 1, maxAttempts = 1) =>
  runMachine.resolveState({ value: status, context: { ...runContextOf(aRun({ maxAttempts }), 0, 10_000), attempt } })

const next = (status: RunStatus | "submitted", event: RunMachineEvent, attempt = 1, maxAttempts = 1) => {
  const [snapshot] = transition(runMachine, stateOf(status, attempt, maxAttempts), event)
  return { status: snapshot.value as RunStatus, context: snapshot.context }
}

const exit = (exitCode: number | null, signal: string | null = null): RunMachineEvent => ({ type: "EXIT", exitCode, signal })

describe("run statechart (SPEC §2)", () => {
  it.each<[RunStatus | "submitted", RunMachineEvent, RunStatus, string]>([
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
    ["running", { type: "DEADLINE" }, "stopping", "deadline"],
    ["running", { type: "UNDO_START" }, "pending", "requeued: store failed"],
    ["running", { type: "NEVER_STARTED" }, "pending", "requeued: never started"],
    ["submitted", { type: "SUBMIT", hold: true, needsApproval: true }, "held", "submitted"],
    ["submitted", { type: "SUBMIT", hold: false, needsApproval: true }, "blocked", "submitted"],
    ["submitted", { type: "SUBMIT", hold: false, needsApproval: false }, "pending", "submitted"]
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

describe("a start undone keeps the run's place; a retry queues it anew", () => {
  it("UNDO_START and NEVER_STARTED set keepsPlace and keep the attempt; a retry does neither", () => {
    expect(next("running", { type: "UNDO_START" }, 2, 3).context).toMatchObject({ keepsPlace: true, attempt: 2 })
    expect(next("running", { type: "NEVER_STARTED" }, 1, 1).context).toMatchObject({ keepsPlace: true, attempt: 1 })
    expect(next("running", exit(1), 1, 2).context).toMatchObject({ keepsPlace: false, attempt: 2 })
  })

  it("nothing but running takes UNDO_START or NEVER_STARTED", () => {
    for (const status of ["held", "blocked", "pending", "stopping", "completed"] as const) {
      expect(next(status, { type: "UNDO_START" }).status).toBe(status)
      expect(next(status, { type: "NEVER_STARTED" }).status).toBe(status)
    }
  })
})
