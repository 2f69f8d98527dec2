/**
 * The engine's queues: one statechart per queue (QueueMachine: open / paused / draining →
 * deleted) and, beside each, the count of its runs per live status (O(1) depth, SPEC §4;
 * QueueMachine.ts says why they are not actor context), with the configurations as decide()
 * reads them. Like GpuBoard for GPUs: changed only through its methods.
 */
import type { QueueConfig, QueueName, RunStatus } from "@gantry/core"
import { type Actor, createActor, type InspectionEvent, type Observer } from "xstate"
import { type MutableQueueCounts, type QueueCounts, queueDepthUsed, queueMachine, slotOf } from "./QueueMachine.js"

export type QueueState = "open" | "paused" | "draining"

export class QueueBoard {
  private readonly actors = new Map<QueueName, Actor<typeof queueMachine>>()
  private readonly counts = new Map<QueueName, MutableQueueCounts>()
  private configCache: ReadonlyMap<QueueName, QueueConfig> | null = null

  constructor(
    /** A queue's statechart reached `deleted` (its last run ended while it drained, or it was empty). */
    private readonly onDeleted: (name: QueueName) => void,
    private readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  ) {}

  has(name: QueueName): boolean {
    return this.actors.has(name)
  }

  names(): ReadonlyArray<QueueName> {
    return [...this.actors.keys()]
  }

  state(name: QueueName): QueueState | undefined {
    return this.actors.get(name)?.getSnapshot().value as QueueState | undefined
  }

  config(name: QueueName): QueueConfig | undefined {
    return this.actors.get(name)?.getSnapshot().context.config
  }

  /** A copy of a queue's counts (they change in place as runs move). */
  countsOf(name: QueueName): QueueCounts | undefined {
    const counts = this.counts.get(name)
    return counts === undefined ? undefined : { ...counts }
  }

  /** Held and blocked runs across queues. */
  waiting(): { readonly held: number; readonly blocked: number } {
    let held = 0
    let blocked = 0
    for (const counts of this.counts.values()) {
      held += counts.held
      blocked += counts.blocked
    }
    return { held, blocked }
  }

  add(config: QueueConfig): void {
    const actor = createActor(queueMachine, { input: { config }, ...(this.inspect === undefined ? {} : { inspect: this.inspect }) })
    actor.subscribe((snapshot) => {
      if (snapshot.status !== "done") return
      this.actors.delete(config.name)
      this.counts.delete(config.name)
      this.configCache = null
      this.onDeleted(config.name)
    })
    actor.start()
    this.actors.set(config.name, actor)
    this.counts.set(config.name, { held: 0, blocked: 0, pending: 0, active: 0 })
    this.configCache = null
  }

  configure(config: QueueConfig): void {
    this.actors.get(config.name)?.send({ type: "CONFIGURE", config })
    this.configCache = null
  }

  /** Starts deleting a queue: it takes no new runs and goes when its last run ends (at once if empty). */
  drain(name: QueueName): void {
    const counts = this.counts.get(name)
    if (counts !== undefined) this.actors.get(name)?.send({ type: "DRAIN", live: queueDepthUsed(counts) })
  }

  /** Moves one run between a queue's counts; a draining queue's statechart hears the new total. */
  move(queue: QueueName, from: RunStatus | null, to: RunStatus | null): void {
    const fromSlot = slotOf(from)
    const toSlot = slotOf(to)
    if (fromSlot === toSlot) return
    const counts = this.counts.get(queue)
    if (counts === undefined) return
    if (fromSlot !== null) counts[fromSlot]--
    if (toSlot !== null) counts[toSlot]++
    const actor = this.actors.get(queue)!
    if (actor.getSnapshot().value === "draining") actor.send({ type: "LIVE", live: queueDepthUsed(counts) })
  }

  /** The queue configurations, as decide() reads them; rebuilt only when one changes. */
  configs(): ReadonlyMap<QueueName, QueueConfig> {
    if (this.configCache === null) {
      const map = new Map<QueueName, QueueConfig>()
      for (const [name, actor] of this.actors) map.set(name, actor.getSnapshot().context.config)
      this.configCache = map
    }
    return this.configCache
  }

  stop(): void {
    for (const actor of this.actors.values()) actor.stop()
  }
}
