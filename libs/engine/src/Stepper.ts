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
import { ChurnMap } from "@gantry/core"
import { type AnyStateMachine, type ContextFrom, type EventFromLogic, type EventObject, type StateMachine, transition } from "xstate"
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
  /** A named action's params (`{ type, params }` in the machine). */
  readonly params?: unknown
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
 * The hit path is a few small lookups and no allocation: every distinct value, context and
 * event gets a small number, and the answers sit in one Map under the three numbers combined.
 * A context is numbered by identity once it has been seen (every context this cache hands
 * out, and the shared contexts the engine starts most runs with: RunMachine.runContextOf), an
 * event with no field but its type by its type (WAKE, START, CANCEL, ...), a frozen event by
 * identity (RunMachine.exitEventOf); anything else is spelled out as a key once. (Nested maps keyed by spelled-out strings, as before, and a
 * context spelled out for every run, cost ~10% of a replay.)
 */
/** A machine's context and event types, as its `setup()` declares them. */
export type ContextOf<M extends AnyStateMachine> = ContextFrom<M> & object
export type EventOf<M extends AnyStateMachine> = EventFromLogic<M>

/** Distinct values (states of the machine) and events a cache numbers; past them, a step is not cached until the next reset. */
const VALUE_SLOTS = 64
const EVENT_SLOTS = 1_024

export class TransitionCache<M extends AnyStateMachine, C extends object = ContextOf<M>, E extends EventObject = EventOf<M>> {
  /** Answers by `(value × CACHE_LIMIT + context) × EVENT_SLOTS + event` (their numbers). */
  private answers = new Map<number, Step<C>>()
  private readonly valueNumbers = new Map<string, number>()
  /** Contexts' numbers by their spelled-out key, and by identity once seen. */
  private contextNumbers = new Map<string, number>()
  private numberOfContext = new WeakMap<object, number>()
  /** Events' numbers by their spelled-out key, and by type for those with no other field. */
  private eventNumbers = new Map<string, number>()
  private typeNumbers = new Map<string, number>()
  private numberOfEvent = new WeakMap<object, number>()
  /** A table is full: numbered afresh at the next step. */
  private full = false

  constructor(private readonly machine: M) {}

  /** The statechart's answer to `event` in `state`. */
  step(state: StepState<C>, event: E): Step<C> {
    // numbered afresh once a long run of distinct contexts or events (deadlines, exit codes,
    // rejection reasons) has filled a table: here only, so no number changes within a step
    if (this.full) this.reset()
    const context = this.numberOfContext.get(state.context) ?? this.numberContext(state.context)
    const value = this.valueNumberOf(state.value)
    const eventNumber = context === null || value === null ? null : this.eventNumberOf(event)
    if (context === null || value === null || eventNumber === null) return this.compute(state, event)
    const slot = (value * CACHE_LIMIT + context) * EVENT_SLOTS + eventNumber
    const hit = this.answers.get(slot)
    if (hit !== undefined) return hit
    const answer = this.compute(state, event)
    this.answers.set(slot, answer)
    if (this.answers.size >= CACHE_LIMIT) this.full = true
    if (answer.changed && !this.numberOfContext.has(answer.next.context)) this.numberContext(answer.next.context)
    return answer
  }

  private valueNumberOf(value: string): number | null {
    let n = this.valueNumbers.get(value)
    if (n === undefined) {
      if (this.valueNumbers.size >= VALUE_SLOTS) return null
      this.valueNumbers.set(value, (n = this.valueNumbers.size))
    }
    return n
  }

  /** Numbers a context (remembered by identity); null when it is not a flat record of primitives. */
  private numberContext(context: object): number | null {
    const key = keyOf(context)
    if (key === null) return null
    let n = this.contextNumbers.get(key)
    if (n === undefined) {
      this.contextNumbers.set(key, (n = this.contextNumbers.size))
      if (this.contextNumbers.size >= CACHE_LIMIT) this.full = true
    }
    // past the table's size (numbered within a step, after the check): not cached until the reset
    if (n >= CACHE_LIMIT) return null
    this.numberOfContext.set(context, n)
    return n
  }

  /** An event's number: by its type when it has no other field, else by its spelled-out key; null past EVENT_SLOTS (until the next reset). */
  private eventNumberOf(event: EventObject): number | null {
    let n = this.numberOfEvent.get(event)
    if (n !== undefined) return n
    for (const field in event)
      if (field !== "type") {
        const key = keyOf(event)
        if (key === null) return null
        n = this.eventNumbers.get(key)
        if (n === undefined) this.eventNumbers.set(key, (n = this.newEventNumber()))
        if (n >= EVENT_SLOTS) return null
        // a frozen event cannot change: known by identity from now on
        if (Object.isFrozen(event)) this.numberOfEvent.set(event, n)
        return n
      }
    n = this.typeNumbers.get(event.type)
    if (n === undefined) this.typeNumbers.set(event.type, (n = this.newEventNumber()))
    if (n >= EVENT_SLOTS) return null
    if (Object.isFrozen(event)) this.numberOfEvent.set(event, n)
    return n
  }

  private newEventNumber(): number {
    const n = this.eventNumbers.size + this.typeNumbers.size
    if (n + 1 >= EVENT_SLOTS) this.full = true
    return n
  }

  /** Forgets every answer and number (but the values': a machine has a few, numbered for good). */
  private reset(): void {
    this.answers = new Map()
    this.contextNumbers = new Map()
    this.numberOfContext = new WeakMap()
    this.eventNumbers = new Map()
    this.typeNumbers = new Map()
    this.numberOfEvent = new WeakMap()
    this.full = false
  }

  private compute(state: StepState<C>, event: EventObject): Step<C> {
    const machine: AnyStateMachine = this.machine
    const snapshot = machine.resolveState({ value: state.value, context: state.context })
    const [next, executable] = transition(machine, snapshot, event as never)
    const actions: Array<StepAction> = (executable as ReadonlyArray<{ readonly type: string; readonly params?: unknown }>).map((action) => {
      const params = action.params as { id?: string; delay?: number; event?: EventObject; sendId?: string } | undefined
      if (action.type === "xstate.raise") {
        if (params?.delay === undefined) throw new Error(`Stepper: an immediate raise (${params?.event?.type}) is not supported`)
        return { type: action.type, id: params.id!, delay: params.delay, event: params.event! }
      }
      if (action.type === "xstate.cancel") return { type: action.type, id: params!.sendId! }
      if (action.type.startsWith("xstate."))
        throw new Error(`Stepper: ${action.type} is not supported (a stepped machine's only effects are named actions and delayed events)`)
      return action.params === undefined ? { type: action.type } : { type: action.type, params: action.params }
    })
    const changed = next !== snapshot
    return {
      next: changed ? { value: next.value as string, context: next.context as C, done: next.status === "done" } : state,
      actions,
      changed
    }
  }
}

/** The named actions a machine's `setup()` declares, with their params (`{ type, params }`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- every other type parameter of StateMachine is irrelevant here
export type ActionOf<M> = M extends StateMachine<any, any, any, any, infer A, any, any, any, any, any, any, any, any, any, any> ? A : never
/** The names of a machine's actions. */
export type ActionName<M> = ActionOf<M> extends { readonly type: infer T } ? T & string : never

/**
 * The engine's implementations of a machine's effect actions (those XState leaves to the
 * actor: `terminate`, `kill`, `runCycle`; its `assign`s it applies itself), typed from the
 * machine's `setup()`: a name the machine does not declare is a type error, and so is a
 * missing implementation of one it does.
 */
export type StepActions<M, K extends ActionName<M>> = {
  readonly [A in ActionOf<M> as A extends { readonly type: K } ? A["type"] : never]: (params: A extends { readonly params: infer P } ? P : undefined) => void
}

/**
 * What the engine needs of a statechart instance, whether a `Stepper` or a live XState actor
 * (LiveActor.ts): its state, events in (queued while one is handled), stop.
 */
export interface MachineActor<C, E extends EventObject> {
  readonly state: StepState<C>
  /** Handles `event` (or queues it while one is handled); returns whether the statechart moved. */
  send(event: E): boolean
  /** The state `event` would lead to now, without taking it or running any action; null when it changes nothing. */
  peek(event: E): StepState<C> | null
  /** Stops it: its delayed events are cancelled and later events ignored. */
  stop(): void
}

/**
 * One statechart instance stepped through a `TransitionCache`: what an XState actor does,
 * for machines whose only effects are named actions and delayed events.
 */
export class Stepper<M extends AnyStateMachine, K extends ActionName<M> = never, C extends object = ContextOf<M>, E extends EventObject = EventOf<M>>
  implements MachineActor<C, E>
{
  private current: StepState<C>
  /** Its pending delayed events by id; made at the first one (most runs have none). */
  private delayed: ChurnMap<string, TimerId> | null = null
  /** Events sent while one is handled; one array per Stepper, reused (not one per event). */
  private readonly mailbox: Array<E> = []
  private busy = false
  private stopped = false

  constructor(
    private readonly cache: TransitionCache<M, C, E>,
    initial: StepState<C>,
    private readonly timers: Timers,
    private readonly actions: StepActions<M, K>,
    /** Called after each event that moved the statechart (XState's subscription). */
    private readonly observe: ((state: StepState<C>) => void) | null = null
  ) {
    this.current = initial
  }

  get state(): StepState<C> {
    return this.current
  }

  peek(event: E): StepState<C> | null {
    if (this.stopped || this.current.done) return null
    const step = this.cache.step(this.current, event)
    return step.changed ? step.next : null
  }

  /** Handles `event`, or queues it when an event is being handled; returns whether the statechart moved. */
  send(event: E): boolean {
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
      // (setting the length of an empty array still costs a runtime call: most events queue nothing)
      if (this.mailbox.length !== 0) this.mailbox.length = 0
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

  private process(event: E): boolean {
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
      this.delayed ??= new ChurnMap()
      this.delayed.set(
        id,
        this.timers.schedule(() => {
          this.delayed?.delete(id)
          this.send(event as E)
        }, action.delay!)
      )
    } else if (action.type === "xstate.cancel") {
      const timer = this.delayed?.get(action.id!)
      if (timer === undefined) return
      this.delayed!.delete(action.id!)
      this.timers.cancel(timer)
    } else {
      const implementation = (this.actions as Readonly<Record<string, ((params: unknown) => void) | undefined>>)[action.type]
      if (implementation === undefined) throw new Error(`Stepper: action ${action.type} is not provided`)
      implementation(action.params)
    }
  }
}
