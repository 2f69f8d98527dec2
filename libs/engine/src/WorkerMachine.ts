/**
 * A worker: a machine that runs runs (SPEC §9). Today the engine has one, the local worker
 * (this machine's GPUs); remote workers will add more of the same statechart.
 *
 * - `idle` / `busy`: whether it runs anything. The kernel sends LOAD only when that flips
 *   (the first run starts, the last one ends), not at every start and end.
 * - `draining`: an operator took it out of service; its runs go on, nothing new lands on it.
 *   For the local worker: while every one of its GPUs is drained (a machine with GPUs).
 * - `lost`: it stopped answering (a remote worker's heartbeat); it comes back with RECONNECT.
 *   The local worker runs in the engine's own process and is never lost.
 */
import { assign, setup } from "xstate"

export interface WorkerContext {
  readonly id: string
  /** It runs at least one run. */
  readonly busy: boolean
}

export type WorkerEvent =
  | { readonly type: "LOAD"; readonly busy: boolean }
  | { readonly type: "DRAIN" }
  | { readonly type: "UNDRAIN" }
  | { readonly type: "LOST" }
  | { readonly type: "RECONNECT" }

export type WorkerState = "idle" | "busy" | "draining" | "lost"

export const workerMachine = setup({
  types: { context: {} as WorkerContext, events: {} as WorkerEvent, input: {} as { readonly id: string } },
  actions: {
    load: assign((_, params: { readonly busy: boolean }) => ({ busy: params.busy }))
  },
  guards: {
    busy: ({ context }) => context.busy
  }
}).createMachine({
  id: "worker",
  context: ({ input }) => ({ id: input.id, busy: false }),
  initial: "ready",
  on: {
    LOAD: { actions: { type: "load", params: ({ event }) => ({ busy: event.busy }) }, target: ".ready" }
  },
  states: {
    /** Transient: idle or busy by its load. */
    ready: { always: [{ guard: "busy", target: "busy" }, { target: "idle" }] },
    idle: { on: { DRAIN: "draining", LOST: "lost" } },
    busy: { on: { DRAIN: "draining", LOST: "lost" } },
    draining: {
      on: {
        LOAD: { actions: { type: "load", params: ({ event }) => ({ busy: event.busy }) } },
        UNDRAIN: "ready",
        LOST: "lost"
      }
    },
    lost: {
      on: {
        LOAD: { actions: { type: "load", params: ({ event }) => ({ busy: event.busy }) } },
        RECONNECT: "ready"
      }
    }
  }
})
