/**
 * A statechart run without a live XState actor: the engine's hot-path actors (active runs,
 * the scheduler) are `Stepper`s.
 *
 * Why. A live XState actor costs ~27 µs to create and ~3–4 µs per event, and XState's pure
 * `transition()` ~40 µs per call; the engine handles several transitions per run, which
 * capped the full simulator at ~3k runs/s. But our machines are pure (guards, `assign`s and
 * delays read only the context and the event; effects are named actions the engine provides),
 * and their contexts are a few primitives. So the result of `transition(machine, state,
 * event)` depends only on (state value, context, event), and the same few combinations recur
 * for every run. `TransitionCache` asks XState once per distinct combination and replays
 * the answer — the next value, the next context and the actions to execute — afterwards.
 * The statechart stays the one authority: every transition applied is one XState computed
 * for that exact state, context and event.
 *
 * A `Stepper` then does what an XState actor does with those actions: it runs the engine's
 * named actions in order, schedules delayed events (`after:`) on the engine's `Timers` and
 * cancels them when their state is left, and queues events sent while it is processing one
 * (XState's mailbox), so the order of effects is the order a live actor gives.
 */
import { type AnyStateMachine, type EventObject, transition } from "xstate"
import type { TimerId, Timers } from "./Timers.js"

/** A state as the engine keeps it: the statechart's value and context, nothing else. */
export interface StepState<C> {
  readonly value: string
  readonly context: C
  /** The state is final (the machine is done). */
  readonly done: boolean
}

/** An action XState asked for: `xstate.raise` (delayed), `xstate.cancel`, or one of the machine's named actions. */
export interface StepAction {
  readonly type: string
  readonly id?: string
  readonly delay?: number
  readonly event?: EventObject
}

export interface Step<C> {
  readonly next: StepState<C>
  readonly actions: ReadonlyArray<StepAction>
  /** The statechart moved (a new value or context); false when the event changed nothing. */
  readonly changed: boolean
}

/** How many distinct (state, context, event) answers a cache keeps before it starts afresh. */
const CACHE_LIMIT = 8_192

/**
 * A unique key for a flat record of primitives (strings carry their length, so no string can
 * imitate another field); null when a field is not a primitive (such a step is not cached).
 */
const keyOf = (record: object): string | null => {
  let key = ""
  for (const field in record) {
    const v = (record as Record<string, unknown>)[field]
    if (typeof v === "string") key += `${field}:s${v.length}:${v};`
    else if (v === null || typeof v === "number" || typeof v === "boolean" || v === undefined) key += `${field}:${String(v)};`
    else return null
  }
  return key
}

/** XState's `transition()` for one machine, memoised by (value, context, event). */
export class TransitionCache<C extends object, E extends EventObject> {
  private readonly cache = new Map<string, Step<C>>()

  constructor(private readonly machine: AnyStateMachine) {}

  /** The statechart's answer to `event` in `state`. */
  step(state: StepState<C>, event: E | EventObject): Step<C> {
    const contextKey = keyOf(state.context)
    const eventKey = contextKey === null ? null : keyOf(event)
    const key = eventKey === null ? null : `${state.value}|${contextKey}|${eventKey}`
    if (key !== null) {
      const hit = this.cache.get(key)
      if (hit !== undefined) return hit
    }
    const answer = this.compute(state, event)
    if (key !== null) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear()
      this.cache.set(key, answer)
    }
    return answer
  }

  private compute(state: StepState<C>, event: EventObject): Step<C> {
    const snapshot = this.machine.resolveState({ value: state.value, context: state.context })
    const [next, executable] = transition(this.machine, snapshot, event as never)
    const actions: Array<StepAction> = (executable as ReadonlyArray<{ readonly type: string; readonly params?: unknown }>).map((action) => {
      const params = action.params as { id?: string; delay?: number; event?: EventObject; sendId?: string } | undefined
      if (action.type === "xstate.raise") {
        if (params?.delay === undefined) throw new Error(`Stepper: an immediate raise (${params?.event?.type}) is not supported`)
        return { type: action.type, id: params.id!, delay: params.delay, event: params.event! }
      }
      if (action.type === "xstate.cancel") return { type: action.type, id: params!.sendId! }
      return { type: action.type }
    })
    const changed = next !== snapshot
    return {
      next: changed ? { value: next.value as string, context: next.context as C, done: next.status === "done" } : state,
      actions,
      changed
    }
  }
}

/** The engine's implementations of a machine's named actions. */
export type StepActions = Readonly<Record<string, () => void>>

/**
 * One statechart instance stepped through a `TransitionCache`: what an XState actor does,
 * for machines whose only effects are named actions and delayed events.
 */
export class Stepper<C extends object, E extends EventObject> {
  private current: StepState<C>
  private readonly delayed = new Map<string, TimerId>()
  private mailbox: Array<EventObject> | null = null
  private stopped = false

  constructor(
    private readonly cache: TransitionCache<C, E>,
    initial: StepState<C>,
    private readonly timers: Timers,
    private readonly actions: StepActions,
    /** Called after each event that moved the statechart (XState's subscription). */
    private readonly observe: ((state: StepState<C>) => void) | null = null
  ) {
    this.current = initial
  }

  get state(): StepState<C> {
    return this.current
  }

  /** Handles `event`, or queues it when an event is being handled; returns whether the statechart moved. */
  send(event: E | EventObject): boolean {
    if (this.stopped) return false
    if (this.mailbox !== null) {
      this.mailbox.push(event)
      return true
    }
    this.mailbox = []
    try {
      let moved = this.process(event)
      for (let i = 0; i < this.mailbox.length && !this.stopped; i++) moved = this.process(this.mailbox[i]!) || moved
      return moved
    } finally {
      this.mailbox = null
    }
  }

  /** Stops it: its delayed events are cancelled and later events ignored. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const id of this.delayed.values()) this.timers.cancel(id)
    this.delayed.clear()
  }

  private process(event: EventObject): boolean {
    if (this.current.done) return false
    const step = this.cache.step(this.current, event)
    for (const action of step.actions) this.execute(action)
    if (!step.changed) return false
    this.current = step.next
    this.observe?.(step.next)
    if (step.next.done) this.stop()
    return true
  }

  private execute(action: StepAction): void {
    if (action.type === "xstate.raise") {
      const id = action.id!
      const event = action.event!
      this.delayed.set(
        id,
        this.timers.schedule(() => {
          this.delayed.delete(id)
          this.send(event)
        }, action.delay!)
      )
    } else if (action.type === "xstate.cancel") {
      const timer = this.delayed.get(action.id!)
      if (timer === undefined) return
      this.delayed.delete(action.id!)
      this.timers.cancel(timer)
    } else {
      const implementation = this.actions[action.type]
      if (implementation === undefined) throw new Error(`Stepper: action ${action.type} is not provided`)
      implementation()
    }
  }
}
