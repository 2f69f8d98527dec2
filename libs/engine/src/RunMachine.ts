/**
 * The run statechart: every status and transition of SPEC §2, and the only authority on
 * them. The engine never sets a run's status itself: it sends the machine an event and
 * applies the state the machine answers (Kernel.ts), so every status change is one of the
 * transitions below, with a named, typed action saying why.
 *
 * A run's record moves through it in two ways, both checked by this one machine:
 * - from submission until it starts, and after recovery, the record is an indexed row
 *   (possibly millions of them), and its rare transitions are computed with XState's pure
 *   `transition()` through a cache of its answers (Stepper.ts);
 * - from START to its end it is an actor (a `Stepper`, or a live XState actor when the
 *   engine is asked for them): the same statechart, with the time limit, the deadline and the
 *   kill grace as `after:` timers on the engine's clock.
 *
 * `submitted` is where a new run enters: SUBMIT chooses its first status (held, blocked or
 * pending). It is never stored: a run's record is made in the status SUBMIT leads to.
 */
import type { FailReason, Run, StopCause } from "@gantry/core"
import { assign, type SnapshotFrom, setup } from "xstate"
import { NEVER_MS } from "./Timers.js"

export type { StopCause } from "@gantry/core"

export interface RunContext {
  readonly attempt: number
  readonly maxAttempts: number
  readonly timeLimitMs: number | null
  /**
   * Time left until the run's deadline when the context was made (null: none); the running
   * state's timer fires then. Relative, not absolute, so that the context of most runs is the
   * same few values and the engine's transition cache (`Stepper.ts`) answers them all.
   */
  readonly deadlineInMs: number | null
  readonly killGraceMs: number
  readonly stopCause: StopCause | null
  /** Why the last transition happened: recorded in the run's timeline. */
  readonly reason: string
  readonly failReason: FailReason | null
  readonly exitCode: number | null
  readonly signal: string | null
  /**
   * The last transition put the run back in its place among pending runs (a start undone,
   * or never made): it keeps its eligible time (SPEC §3) instead of queueing anew.
   */
  readonly keepsPlace: boolean
}

export type RunMachineEvent =
  /** A new run: its first status is held (hold), blocked (needs approval) or pending. */
  | { readonly type: "SUBMIT"; readonly hold: boolean; readonly needsApproval: boolean }
  | { readonly type: "RELEASE" }
  | { readonly type: "APPROVE" }
  | { readonly type: "REJECT"; readonly reason: string }
  | { readonly type: "START" }
  /** The store refused the cycle that started the run: nothing was spawned, it goes back in its place. */
  | { readonly type: "UNDO_START" }
  /** Recovery: the run was stored as started but provably never spawned (no attempt folder). */
  | { readonly type: "NEVER_STARTED" }
  | { readonly type: "CANCEL" }
  | { readonly type: "QUEUE_TIMEOUT" }
  | { readonly type: "DEADLINE" }
  /** The time limit passed while no timer watched it (a runner adopting the run after a restart). */
  | { readonly type: "TIME_LIMIT" }
  | { readonly type: "EXIT"; readonly exitCode: number | null; readonly signal: string | null }
  | { readonly type: "LOST" }
  | { readonly type: "SPAWN_FAILED"; readonly message: string }

/** The EXIT events of plain exit codes (0–255, no signal): made once, frozen, known by identity to the transition cache. */
const plainExits: Array<RunMachineEvent> = Array.from({ length: 256 }, (_, exitCode) => Object.freeze({ type: "EXIT" as const, exitCode, signal: null }))

/** A process's end as the run statechart's event. */
export const exitEventOf = (exitCode: number | null, signal: string | null): RunMachineEvent =>
  signal === null && exitCode !== null && Number.isInteger(exitCode) && exitCode >= 0 && exitCode < 256 ? plainExits[exitCode]! : { type: "EXIT", exitCode, signal }

/**
 * Contexts of runs with nothing particular about them (no deadline, never stopped or exited):
 * a handful of distinct ones, made once and shared, so that the transition cache knows them
 * by identity (Stepper.ts) instead of spelling each run's out. Frozen: contexts are values
 * (XState's `assign` makes new ones).
 */
const plainContexts = new Map<string, RunContext>()
const PLAIN_CONTEXTS = 1_024

export const runContextOf = (run: Run, now: number, killGraceMs: number): RunContext => {
  const plain = run.deadlineAt === null && run.stopCause === null && run.failReason === null && run.exitCode === null && run.signal === null
  const key = plain ? `${run.attempt}|${run.maxAttempts}|${run.timeLimitMs}|${killGraceMs}` : null
  const shared = key === null ? undefined : plainContexts.get(key)
  if (shared !== undefined) return shared
  const context: RunContext = Object.freeze({
    attempt: run.attempt,
    maxAttempts: run.maxAttempts,
    timeLimitMs: run.timeLimitMs,
    deadlineInMs: run.deadlineAt === null ? null : run.deadlineAt - now,
    killGraceMs,
    stopCause: run.stopCause,
    reason: "",
    failReason: run.failReason,
    exitCode: run.exitCode,
    signal: run.signal,
    keepsPlace: false
  })
  if (key !== null && plainContexts.size < PLAIN_CONTEXTS) plainContexts.set(key, context)
  return context
}

/** The stop cause as the failure it becomes (a deadline when none was recorded). */
const failureOf = (context: RunContext): FailReason => (context.stopCause === null || context.stopCause === "cancel" ? "deadline" : context.stopCause)

export const runMachine = setup({
  types: {
    context: {} as RunContext,
    events: {} as RunMachineEvent,
    input: {} as RunContext
  },
  actions: {
    /** SIGTERM to the run's process group (provided by the engine). */
    terminate: () => {},
    /** SIGKILL to the run's process group (provided by the engine). */
    kill: () => {},
    /** Records why the run moved. */
    note: assign((_, params: { readonly reason: string }) => ({ reason: params.reason, keepsPlace: false })),
    /** Back among pending runs in its old place, attempt unchanged. */
    requeue: assign((_, params: { readonly reason: string }) => ({ reason: params.reason, keepsPlace: true })),
    /** A new attempt: back among pending runs, queued anew. */
    retry: assign(({ context }, params: { readonly reason: string }) => ({ reason: params.reason, attempt: context.attempt + 1, keepsPlace: false })),
    /** A failure the run did not cause by exiting (SPEC §2's fail reasons). */
    fail: assign((_, params: { readonly failReason: FailReason }) => ({ reason: params.failReason, failReason: params.failReason, keepsPlace: false })),
    /** Starts stopping the run for a cancel, its deadline or its time limit. */
    stopFor: assign((_, params: { readonly cause: StopCause; readonly reason: string }) => ({ stopCause: params.cause, reason: params.reason })),
    /** The stop cause, now that the process is gone, as the run's failure. */
    failForStopCause: assign(({ context }) => ({ reason: failureOf(context), failReason: failureOf(context) })),
    /** The exit code and signal of the process. */
    exited: assign(({ event }) => (event.type === "EXIT" ? { exitCode: event.exitCode, signal: event.signal } : {})),
    /** An exit that failed the run: by a signal or by a non-zero code. */
    failByExit: assign(({ event }) => {
      const failReason: FailReason = event.type === "EXIT" && event.signal !== null ? "signal" : "exit-code"
      return { failReason, reason: failReason, keepsPlace: false }
    }),
    spawnFailed: assign(({ event }) => ({
      reason: `spawn-error: ${event.type === "SPAWN_FAILED" ? event.message : ""}`,
      failReason: "spawn-error" as const,
      keepsPlace: false
    })),
    rejected: assign(({ event }) => ({ reason: `rejected: ${event.type === "REJECT" ? event.reason : ""}`, keepsPlace: false }))
  },
  guards: {
    hold: ({ event }) => event.type === "SUBMIT" && event.hold,
    needsApproval: ({ event }) => event.type === "SUBMIT" && event.needsApproval,
    succeeded: ({ event }) => event.type === "EXIT" && event.exitCode === 0 && event.signal === null,
    canRetry: ({ context }) => context.attempt < context.maxAttempts,
    stoppedByCancel: ({ context }) => context.stopCause === "cancel"
  },
  delays: {
    timeLimit: ({ context }) => (context.timeLimitMs === null ? NEVER_MS : context.timeLimitMs),
    deadline: ({ context }) => (context.deadlineInMs === null ? NEVER_MS : Math.max(0, context.deadlineInMs)),
    killGrace: ({ context }) => context.killGraceMs
  }
}).createMachine({
  id: "run",
  context: ({ input }) => input,
  initial: "submitted",
  states: {
    submitted: {
      on: {
        SUBMIT: [
          { guard: "hold", target: "held", actions: { type: "note", params: { reason: "submitted" } } },
          { guard: "needsApproval", target: "blocked", actions: { type: "note", params: { reason: "submitted" } } },
          { target: "pending", actions: { type: "note", params: { reason: "submitted" } } }
        ]
      }
    },
    held: {
      on: {
        RELEASE: { target: "pending", actions: { type: "note", params: { reason: "released" } } },
        CANCEL: { target: "cancelled", actions: { type: "note", params: { reason: "cancelled" } } },
        DEADLINE: { target: "failed", actions: { type: "fail", params: { failReason: "deadline" } } }
      }
    },
    blocked: {
      on: {
        APPROVE: { target: "pending", actions: { type: "note", params: { reason: "approved" } } },
        REJECT: { target: "rejected", actions: "rejected" },
        CANCEL: { target: "cancelled", actions: { type: "note", params: { reason: "cancelled" } } },
        DEADLINE: { target: "failed", actions: { type: "fail", params: { failReason: "deadline" } } }
      }
    },
    pending: {
      on: {
        START: { target: "running", actions: { type: "note", params: { reason: "started" } } },
        CANCEL: { target: "cancelled", actions: { type: "note", params: { reason: "cancelled" } } },
        QUEUE_TIMEOUT: { target: "failed", actions: { type: "fail", params: { failReason: "queue-timeout" } } },
        DEADLINE: { target: "failed", actions: { type: "fail", params: { failReason: "deadline" } } }
      }
    },
    running: {
      after: {
        timeLimit: { target: "stopping", actions: { type: "stopFor", params: { cause: "time-limit", reason: "time-limit" } } },
        deadline: { target: "stopping", actions: { type: "stopFor", params: { cause: "deadline", reason: "deadline" } } }
      },
      on: {
        EXIT: [
          { guard: "succeeded", target: "completed", actions: ["exited", { type: "note", params: { reason: "exit 0" } }] },
          { guard: "canRetry", target: "pending", actions: ["exited", { type: "retry", params: { reason: "retry" } }] },
          { target: "failed", actions: ["exited", "failByExit"] }
        ],
        LOST: [
          { guard: "canRetry", target: "pending", actions: { type: "retry", params: { reason: "retry after lost" } } },
          { target: "failed", actions: { type: "fail", params: { failReason: "lost" } } }
        ],
        SPAWN_FAILED: [
          { guard: "canRetry", target: "pending", actions: { type: "retry", params: { reason: "retry after spawn-error" } } },
          { target: "failed", actions: "spawnFailed" }
        ],
        UNDO_START: { target: "pending", actions: { type: "requeue", params: { reason: "requeued: store failed" } } },
        NEVER_STARTED: { target: "pending", actions: { type: "requeue", params: { reason: "requeued: never started" } } },
        CANCEL: { target: "stopping", actions: { type: "stopFor", params: { cause: "cancel", reason: "cancel requested" } } },
        DEADLINE: { target: "stopping", actions: { type: "stopFor", params: { cause: "deadline", reason: "deadline" } } },
        TIME_LIMIT: { target: "stopping", actions: { type: "stopFor", params: { cause: "time-limit", reason: "time-limit" } } }
      }
    },
    stopping: {
      entry: "terminate",
      after: { killGrace: { actions: "kill" } },
      on: {
        EXIT: [
          { guard: "stoppedByCancel", target: "cancelled", actions: ["exited", { type: "note", params: { reason: "cancelled" } }] },
          { target: "failed", actions: ["exited", "failForStopCause"] }
        ],
        LOST: [
          { guard: "stoppedByCancel", target: "cancelled", actions: { type: "note", params: { reason: "cancelled (lost)" } } },
          { target: "failed", actions: "failForStopCause" }
        ]
      }
    },
    completed: { type: "final" },
    failed: { type: "final" },
    cancelled: { type: "final" },
    rejected: { type: "final" }
  }
})

export type RunMachine = typeof runMachine
export type RunSnapshot = SnapshotFrom<RunMachine>
