/**
 * A GPU: free, allocated to one run, drained (not allocatable), or draining (allocated,
 * becomes drained when its run releases it).
 */
import type { RunId } from "@gantry/core"
import { assign, setup } from "xstate"

export type GpuEvent =
  | { readonly type: "ALLOCATE"; readonly runId: RunId }
  | { readonly type: "RELEASE" }
  | { readonly type: "DRAIN" }
  | { readonly type: "UNDRAIN" }

export const gpuMachine = setup({
  types: {
    context: {} as { readonly index: number; readonly runId: RunId | null; readonly drainedAtStart: boolean },
    events: {} as GpuEvent,
    input: {} as { readonly index: number; readonly drained: boolean }
  },
  actions: {
    hold: assign({ runId: ({ event }) => (event.type === "ALLOCATE" ? event.runId : null) }),
    clear: assign({ runId: null })
  }
}).createMachine({
  id: "gpu",
  context: ({ input }) => ({ index: input.index, runId: null, drainedAtStart: input.drained }),
  initial: "starting",
  states: {
    starting: { always: [{ guard: ({ context }) => context.drainedAtStart, target: "drained" }, { target: "free" }] },
    free: { on: { ALLOCATE: { target: "allocated", actions: "hold" }, DRAIN: "drained" } },
    allocated: { on: { RELEASE: { target: "free", actions: "clear" }, DRAIN: "draining" } },
    draining: { on: { RELEASE: { target: "drained", actions: "clear" }, UNDRAIN: "allocated" } },
    drained: { on: { UNDRAIN: "free" } }
  }
})
