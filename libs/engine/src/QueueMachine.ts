/**
 * A queue: its configuration and its lifecycle. Open queues accept and start runs; paused
 * ones accept but start nothing; a draining queue (being deleted) accepts nothing and ends
 * when its last run has left.
 *
 * The count of its runs in each live status (for O(1) depth, SPEC §4) is a plain record the
 * kernel keeps beside the actor (`QueueCounts`), not actor context: it changes on every
 * submit, start and exit, and an actor event each time cost more than the rest of the run's
 * bookkeeping. The statechart only needs the total while draining, so the kernel sends it
 * then (`LIVE`).
 */
import type { QueueConfig, RunStatus } from "@gantry/core"
import { assign, setup } from "xstate"

export interface QueueCounts {
  readonly held: number
  readonly blocked: number
  readonly pending: number
  /** running + stopping */
  readonly active: number
}

/** The kernel's counts of one queue, changed in place as runs move. */
export type MutableQueueCounts = { -readonly [K in keyof QueueCounts]: QueueCounts[K] }

export type QueueEvent =
  | { readonly type: "CONFIGURE"; readonly config: QueueConfig }
  /** Start deleting; `live` is the number of its unfinished runs. */
  | { readonly type: "DRAIN"; readonly live: number }
  /** While draining: the number of its unfinished runs changed. */
  | { readonly type: "LIVE"; readonly live: number }

/** The count a run in this status belongs to; null for terminal statuses (and none). */
export const slotOf = (status: RunStatus | null): keyof QueueCounts | null => {
  switch (status) {
    case "held":
    case "blocked":
    case "pending":
      return status
    case "running":
    case "stopping":
      return "active"
    default:
      return null
  }
}

export const queueDepthUsed = (counts: QueueCounts): number => counts.held + counts.blocked + counts.pending + counts.active

export const queueMachine = setup({
  types: {
    context: {} as { readonly config: QueueConfig; readonly live: number },
    events: {} as QueueEvent,
    input: {} as { readonly config: QueueConfig }
  },
  actions: {
    configure: assign({ config: ({ context, event }) => (event.type === "CONFIGURE" ? event.config : context.config) }),
    count: assign({ live: ({ context, event }) => (event.type === "DRAIN" || event.type === "LIVE" ? event.live : context.live) })
  },
  guards: {
    paused: ({ context }) => context.config.paused,
    empty: ({ context }) => context.live === 0
  }
}).createMachine({
  id: "queue",
  context: ({ input }) => ({ config: input.config, live: 0 }),
  initial: "configured",
  states: {
    configured: { always: [{ guard: "paused", target: "paused" }, { target: "open" }] },
    open: {
      on: {
        CONFIGURE: { target: "configured", actions: "configure" },
        DRAIN: { target: "draining", actions: "count" }
      }
    },
    paused: {
      on: {
        CONFIGURE: { target: "configured", actions: "configure" },
        DRAIN: { target: "draining", actions: "count" }
      }
    },
    draining: {
      always: { guard: "empty", target: "deleted" },
      on: { LIVE: { actions: "count" } }
    },
    deleted: { type: "final" }
  }
})
