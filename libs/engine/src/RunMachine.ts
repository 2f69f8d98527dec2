/**
 * The run statechart: every status and transition of SPEC §2.
 *
 * A run's record moves through it in two ways, both checked by this one machine:
 * - while held, blocked or pending (possibly millions of runs) the record is an indexed
 *   row, and its rare transitions are computed with XState's pure `transition()`;
 * - from START to its end it is a `Stepper` (Stepper.ts): the same statechart, stepped through
 *   a cache of XState's answers, with the time limit, the deadline and the kill grace as
 *   `after:` timers on the engine's clock.
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
}

export type RunMachineEvent =
  | { readonly type: "RELEASE" }
  | { readonly type: "APPROVE" }
  | { readonly type: "REJECT"; readonly reason: string }
  | { readonly type: "START" }
  | { readonly type: "CANCEL" }
  | { readonly type: "QUEUE_TIMEOUT" }
  | { readonly type: "DEADLINE" }
  /** The time limit passed while no timer watched it (a runner adopting the run after a restart). */
  | { readonly type: "TIME_LIMIT" }
  | { readonly type: "EXIT"; readonly exitCode: number | null; readonly signal: string | null }
  | { readonly type: "LOST" }
  | { readonly type: "SPAWN_FAILED"; readonly message: string }

export const runContextOf = (run: Run, now: number, killGraceMs: number): RunContext => ({
  attempt: run.attempt,
  maxAttempts: run.maxAttempts,
  timeLimitMs: run.timeLimitMs,
  deadlineInMs: run.deadlineAt === null ? null : run.deadlineAt - now,
  killGraceMs,
  stopCause: run.stopCause,
  reason: "",
  failReason: run.failReason,
  exitCode: run.exitCode,
  signal: run.signal
})

const canRetry = ({ context }: { context: RunContext }) => context.attempt < context.maxAttempts

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
    exited: assign(({ event }) => (event.type === "EXIT" ? { exitCode: event.exitCode, signal: event.signal } : {}))
  },
  guards: {
    succeeded: ({ event }) => event.type === "EXIT" && event.exitCode === 0 && event.signal === null,
    canRetry
  },
  delays: {
    timeLimit: ({ context }) => (context.timeLimitMs === null ? NEVER_MS : context.timeLimitMs),
    deadline: ({ context }) => (context.deadlineInMs === null ? NEVER_MS : Math.max(0, context.deadlineInMs)),
    killGrace: ({ context }) => context.killGraceMs
  }
}).createMachine({
  id: "run",
  context: ({ input }) => input,
  initial: "pending",
  states: {
    held: {
      on: {
        RELEASE: { target: "pending", actions: assign({ reason: "released" }) },
        CANCEL: { target: "cancelled", actions: assign({ reason: "cancelled" }) },
        DEADLINE: { target: "failed", actions: assign({ reason: "deadline", failReason: "deadline" }) }
      }
    },
    blocked: {
      on: {
        APPROVE: { target: "pending", actions: assign({ reason: "approved" }) },
        REJECT: { target: "rejected", actions: assign({ reason: ({ event }) => `rejected: ${event.reason}` }) },
        CANCEL: { target: "cancelled", actions: assign({ reason: "cancelled" }) },
        DEADLINE: { target: "failed", actions: assign({ reason: "deadline", failReason: "deadline" }) }
      }
    },
    pending: {
      on: {
        START: { target: "running", actions: assign({ reason: "started" }) },
        CANCEL: { target: "cancelled", actions: assign({ reason: "cancelled" }) },
        QUEUE_TIMEOUT: { target: "failed", actions: assign({ reason: "queue-timeout", failReason: "queue-timeout" }) },
        DEADLINE: { target: "failed", actions: assign({ reason: "deadline", failReason: "deadline" }) }
      }
    },
    running: {
      after: {
        timeLimit: { target: "stopping", actions: assign({ stopCause: "time-limit", reason: "time-limit" }) },
        deadline: { target: "stopping", actions: assign({ stopCause: "deadline", reason: "deadline" }) }
      },
      on: {
        EXIT: [
          { guard: "succeeded", target: "completed", actions: ["exited", assign({ reason: "exit 0" })] },
          {
            guard: "canRetry",
            target: "pending",
            actions: ["exited", assign({ reason: "retry", attempt: ({ context }) => context.attempt + 1 })]
          },
          {
            target: "failed",
            actions: [
              "exited",
              assign(({ event }) => {
                const signalled = event.type === "EXIT" && event.signal !== null
                return { failReason: signalled ? "signal" : "exit-code", reason: signalled ? "signal" : "exit-code" } as const
              })
            ]
          }
        ],
        LOST: [
          { guard: "canRetry", target: "pending", actions: assign({ reason: "retry after lost", attempt: ({ context }) => context.attempt + 1 }) },
          { target: "failed", actions: assign({ reason: "lost", failReason: "lost" }) }
        ],
        SPAWN_FAILED: [
          {
            guard: "canRetry",
            target: "pending",
            actions: assign({ reason: "retry after spawn-error", attempt: ({ context }) => context.attempt + 1 })
          },
          { target: "failed", actions: assign({ reason: ({ event }) => `spawn-error: ${event.message}`, failReason: "spawn-error" }) }
        ],
        CANCEL: { target: "stopping", actions: assign({ stopCause: "cancel", reason: "cancel requested" }) },
        DEADLINE: { target: "stopping", actions: assign({ stopCause: "deadline", reason: "deadline" }) },
        TIME_LIMIT: { target: "stopping", actions: assign({ stopCause: "time-limit", reason: "time-limit" }) }
      }
    },
    stopping: {
      entry: "terminate",
      after: { killGrace: { actions: "kill" } },
      on: {
        EXIT: [
          { guard: ({ context }) => context.stopCause === "cancel", target: "cancelled", actions: ["exited", assign({ reason: "cancelled" })] },
          {
            target: "failed",
            actions: [
              "exited",
              assign(({ context }) => ({ reason: context.stopCause ?? "deadline", failReason: (context.stopCause ?? "deadline") as FailReason }))
            ]
          }
        ],
        LOST: [
          { guard: ({ context }) => context.stopCause === "cancel", target: "cancelled", actions: assign({ reason: "cancelled (lost)" }) },
          { target: "failed", actions: assign(({ context }) => ({ reason: context.stopCause ?? "deadline", failReason: (context.stopCause ?? "deadline") as FailReason })) }
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
