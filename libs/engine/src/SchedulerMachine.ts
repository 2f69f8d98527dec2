/**
 * The scheduler: one cycle at a time, run after every event that can change a decision,
 * never on a polling interval (SPEC §5).
 *
 * A wake-up moves it from idle to `scheduled`; it cycles once everything already due
 * at this instant has happened (an `after: 0` on the engine's clock), so a burst of
 * events coalesces into one cycle. Wake-ups during a cycle mark it dirty: one more
 * cycle follows.
 */
import { assign, setup } from "xstate"

export type SchedulerEvent = { readonly type: "WAKE" } | { readonly type: "CYCLE_DONE" }

export const schedulerMachine = setup({
  types: { context: {} as { readonly dirty: boolean }, events: {} as SchedulerEvent },
  actions: {
    /** Runs one cycle; the engine sends CYCLE_DONE when it has finished (provided by the engine). */
    runCycle: () => {}
  }
}).createMachine({
  id: "scheduler",
  context: { dirty: false },
  initial: "idle",
  states: {
    idle: { on: { WAKE: "scheduled" } },
    scheduled: { after: { 0: "cycling" } },
    cycling: {
      entry: [assign({ dirty: false }), "runCycle"],
      on: {
        WAKE: { actions: assign({ dirty: true }) },
        CYCLE_DONE: [{ guard: ({ context }) => context.dirty, target: "scheduled" }, { target: "idle" }]
      }
    }
  }
})
