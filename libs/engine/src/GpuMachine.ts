/**
 * A GPU's service state: in service or drained (not allocatable). Which run holds it is
 * plain data in the GPU views (`GpuBoard.ts`), written at each start and end:
 * an actor event per GPU per start and per end cost more than the rest of a run's
 * bookkeeping. A GPU drained while held is "draining": drained for the scheduler (nothing
 * new lands on it), still held until its run ends — the view says both.
 */
import { setup } from "xstate"

export type GpuEvent = { readonly type: "DRAIN" } | { readonly type: "UNDRAIN" }

export const gpuMachine = setup({
  types: {
    context: {} as { readonly index: number; readonly drainedAtStart: boolean },
    events: {} as GpuEvent,
    input: {} as { readonly index: number; readonly drained: boolean }
  }
}).createMachine({
  id: "gpu",
  context: ({ input }) => ({ index: input.index, drainedAtStart: input.drained }),
  initial: "starting",
  states: {
    starting: { always: [{ guard: ({ context }) => context.drainedAtStart, target: "drained" }, { target: "inService" }] },
    inService: { on: { DRAIN: "drained" } },
    drained: { on: { UNDRAIN: "inService" } }
  }
})
