/**
 * A statechart instance as a live XState actor, behind the same `MachineActor` interface as
 * a `Stepper`: the engine's reference implementation (a property test runs the same workload
 * through both and compares the event logs byte for byte), and the mode for embedders who
 * want XState's own actors, e.g. to attach `inspect` (EngineOptions.actors).
 *
 * The actor runs on the engine's timers (XState's `clock` option bridged by `xstateClock`),
 * so its `after:` delays run in the engine's time, simulated or real. The engine's effect
 * actions are provided with `machine.provide`, typed from the machine's `setup()` like a
 * Stepper's.
 */
import { type AnyStateMachine, createActor, type EventObject, type InspectionEvent, type Observer } from "xstate"
import type { ActionName, ContextOf, EventOf, MachineActor, StepActions, StepState, TransitionCache } from "./Stepper.js"
import { type Timers, xstateClock } from "./Timers.js"

type AnyActor = ReturnType<typeof createActor<AnyStateMachine>>

export class LiveActor<M extends AnyStateMachine, K extends ActionName<M> = never, C extends object = ContextOf<M>, E extends EventObject = EventOf<M>>
  implements MachineActor<C, E>
{
  private readonly actor: AnyActor
  private current: StepState<C>
  private busy = false

  constructor(
    machine: M,
    /** Pure answers for `peek` (the same cache a Stepper of this machine uses). */
    private readonly cache: TransitionCache<M, C, E>,
    initial: StepState<C>,
    timers: Timers,
    actions: StepActions<M, K>,
    observe: ((state: StepState<C>) => void) | null = null,
    inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  ) {
    const provided = machine.provide({ actions: actions as never }) as AnyStateMachine
    this.current = initial
    this.actor = createActor(provided, {
      snapshot: provided.resolveState({ value: initial.value, context: initial.context }),
      clock: xstateClock(timers),
      ...(inspect === undefined ? {} : { inspect })
    })
    this.actor.subscribe({
      next: (snapshot) => {
        const next: StepState<C> = { value: snapshot.value as string, context: snapshot.context as C, done: snapshot.status === "done" }
        if (next.value === this.current.value && next.context === this.current.context) return
        this.current = next
        observe?.(next)
      },
      // an action that throws stops an XState actor with an error: the engine treats it as a defect
      error: (error) => {
        throw error
      }
    })
    this.actor.start()
  }

  get state(): StepState<C> {
    return this.current
  }

  send(event: E): boolean {
    if (this.actor.getSnapshot().status !== "active") return false
    // sent while it handles one (from an action or an observer): XState queues it, as a
    // Stepper's mailbox does, and it is handled before the outer send returns
    if (this.busy) {
      this.actor.send(event)
      return true
    }
    const before = this.current
    this.busy = true
    try {
      this.actor.send(event)
    } finally {
      this.busy = false
    }
    return this.current !== before
  }

  peek(event: E): StepState<C> | null {
    if (this.current.done || this.actor.getSnapshot().status !== "active") return null
    const step = this.cache.step(this.current, event)
    return step.changed ? step.next : null
  }

  stop(): void {
    this.actor.stop()
  }
}
