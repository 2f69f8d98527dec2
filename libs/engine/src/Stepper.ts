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
import { NEVER_MS, type TimerId, type Timers } from "./Timers.js"

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

/**
 * XState's `transition()` for one machine, memoised by (value, context, event).
 *
 * The lookup allocates nothing on the hot path (it was 12% of the simulator's allocations,
 * ~6 KB per run, when every step built one `value|context|event` string): the answers sit
 * in nested maps (value → context key → event key), a context that came out of this cache
 * (nearly every context a Stepper holds) has its key remembered by identity, and an event
 * with no field but `type` (WAKE, START, CANCEL, ...) uses a key built once per type.
 */
export class TransitionCache<C extends object, E extends EventObject> {
  private readonly cache = new Map<string, Map<string, Map<string, Step<C>>>>()
  private size = 0
  /** The keys of contexts this cache handed out (answers' next contexts). */
  private readonly contextKeys = new WeakMap<object, string>()
  /** `keyOf({ type })` per event type. */
  private readonly typeKeys = new Map<string, string>()

  constructor(private readonly machine: AnyStateMachine) {}

  /** The statechart's answer to `event` in `state`. */
  step(state: StepState<C>, event: E | EventObject): Step<C> {
    const contextKey = this.contextKeys.get(state.context) ?? keyOf(state.context)
    const eventKey = contextKey === null ? null : this.eventKeyOf(event)
    if (contextKey === null || eventKey === null) return this.compute(state, event)
    let byContext = this.cache.get(state.value)
    let byEvent = byContext?.get(contextKey)
    const hit = byEvent?.get(eventKey)
    if (hit !== undefined) return hit
    const answer = this.compute(state, event)
    if (this.size >= CACHE_LIMIT) {
      this.cache.clear()
      this.size = 0
      byContext = undefined
      byEvent = undefined
    }
    if (byContext === undefined) this.cache.set(state.value, (byContext = new Map()))
    if (byEvent === undefined) byContext.set(contextKey, (byEvent = new Map()))
    byEvent.set(eventKey, answer)
    this.size++
    if (answer.changed && !this.contextKeys.has(answer.next.context)) {
      const nextKey = keyOf(answer.next.context)
      if (nextKey !== null) this.contextKeys.set(answer.next.context, nextKey)
    }
    return answer
  }

  private eventKeyOf(event: EventObject): string | null {
    let only = true
    for (const field in event) if (field !== "type") only = false
    if (!only || typeof event.type !== "string") return keyOf(event)
    let key = this.typeKeys.get(event.type)
    if (key === undefined) this.typeKeys.set(event.type, (key = keyOf(event)!))
    return key
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
  /** Its pending delayed events by id; made at the first one (most runs have none). */
  private delayed: Map<string, TimerId> | null = null
  /** Events sent while one is handled; one array per Stepper, reused (not one per event). */
  private readonly mailbox: Array<EventObject> = []
  private busy = false
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
    if (this.busy) {
      this.mailbox.push(event)
      return true
    }
    this.busy = true
    try {
      let moved = this.process(event)
      for (let i = 0; i < this.mailbox.length && !this.stopped; i++) moved = this.process(this.mailbox[i]!) || moved
      return moved
    } finally {
      this.mailbox.length = 0
      this.busy = false
    }
  }

  /** Stops it: its delayed events are cancelled and later events ignored. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    if (this.delayed === null) return
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
      // a delay of NEVER_MS or more never fires (Timers), so there is nothing to schedule or,
      // later, to cancel: a run without a time limit or deadline (most runs) skips two
      // timers, their closures and its delayed-event map
      if (action.delay! >= NEVER_MS) return
      const id = action.id!
      const event = action.event!
      this.delayed ??= new Map()
      this.delayed.set(
        id,
        this.timers.schedule(() => {
          this.delayed?.delete(id)
          this.send(event)
        }, action.delay!)
      )
    } else if (action.type === "xstate.cancel") {
      const timer = this.delayed?.get(action.id!)
      if (timer === undefined) return
      this.delayed!.delete(action.id!)
      this.timers.cancel(timer)
    } else {
      const implementation = this.actions[action.type]
      if (implementation === undefined) throw new Error(`Stepper: action ${action.type} is not provided`)
      implementation()
    }
  }
}
