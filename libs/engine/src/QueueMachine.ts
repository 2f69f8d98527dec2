/**
 * A queue: its configuration and the count of its runs in each live status, so depth
 * (SPEC §4) is checked in O(1). Open queues accept and start runs; paused ones accept
 * but start nothing; a draining queue (being deleted) accepts nothing and ends when empty.
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

export type QueueEvent =
  | { readonly type: "MOVED"; readonly from: RunStatus | null; readonly to: RunStatus | null }
  | { readonly type: "CONFIGURE"; readonly config: QueueConfig }
  | { readonly type: "DRAIN" }

const slotOf = (status: RunStatus | null): keyof QueueCounts | null => {
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
    context: {} as { readonly config: QueueConfig; readonly counts: QueueCounts },
    events: {} as QueueEvent,
    input: {} as { readonly config: QueueConfig }
  },
  actions: {
    count: assign({
      counts: ({ context, event }) => {
        if (event.type !== "MOVED") return context.counts
        const from = slotOf(event.from)
        const to = slotOf(event.to)
        if (from === to) return context.counts
        const next = { ...context.counts }
        if (from !== null) next[from]--
        if (to !== null) next[to]++
        return next
      }
    }),
    configure: assign({ config: ({ context, event }) => (event.type === "CONFIGURE" ? event.config : context.config) })
  },
  guards: {
    paused: ({ context }) => context.config.paused,
    empty: ({ context }) => queueDepthUsed(context.counts) === 0
  }
}).createMachine({
  id: "queue",
  context: ({ input }) => ({ config: input.config, counts: { held: 0, blocked: 0, pending: 0, active: 0 } }),
  initial: "configured",
  states: {
    configured: { always: [{ guard: "paused", target: "paused" }, { target: "open" }] },
    open: {
      on: {
        MOVED: { actions: "count" },
        CONFIGURE: { target: "configured", actions: "configure" },
        DRAIN: "draining"
      }
    },
    paused: {
      on: {
        MOVED: { actions: "count" },
        CONFIGURE: { target: "configured", actions: "configure" },
        DRAIN: "draining"
      }
    },
    draining: {
      always: { guard: "empty", target: "deleted" },
      on: { MOVED: { actions: "count" } }
    },
    deleted: { type: "final" }
  }
})
