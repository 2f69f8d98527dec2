/**
 * maxQueuedTime and deadline of runs that are not running: one heap of due times and a
 * single timer for the earliest, never a timer per run.
 */
import { ChurnMap, type HeapSlot, IndexedHeap, type Run, type RunId } from "@gantry/core"
import type { TimerId, Timers } from "./Timers.js"

interface Due extends HeapSlot {
  readonly run: Run
  readonly at: number
  readonly kind: "queue-timeout" | "deadline"
}

/** The earliest of the run's maxQueuedTime (only while pending) and its deadline. */
const dueOf = (run: Run): Omit<Due, "heapIndex"> | null => {
  const queued = run.status === "pending" && run.maxQueuedTimeMs !== null ? run.eligibleAt + run.maxQueuedTimeMs : null
  const deadline = run.deadlineAt
  if (queued === null && deadline === null) return null
  if (deadline !== null && (queued === null || deadline <= queued)) return { run, at: deadline, kind: "deadline" }
  return { run, at: queued!, kind: "queue-timeout" }
}

export class PendingTimeouts {
  private readonly heap = new IndexedHeap<Due>((a, b) => a.at < b.at || (a.at === b.at && a.run.seq < b.run.seq))
  private readonly byRun = new ChurnMap<RunId, Due>()
  private timer: { readonly id: TimerId; readonly at: number } | null = null

  constructor(
    private readonly timers: Timers,
    private readonly expire: (run: Run, kind: "queue-timeout" | "deadline") => void,
    private readonly now: () => number
  ) {}

  get size(): number {
    return this.heap.size
  }

  add(run: Run): void {
    this.remove(run)
    const due = dueOf(run)
    if (due === null) return
    const entry: Due = { ...due, heapIndex: -1 }
    this.heap.push(entry)
    this.byRun.set(run.id, entry)
    this.arm()
  }

  remove(run: Run): void {
    const entry = this.byRun.get(run.id)
    if (entry === undefined) return
    this.byRun.delete(run.id)
    this.heap.remove(entry)
  }

  /** Cancels the timer (the engine is shutting down). */
  stop(): void {
    if (this.timer !== null) this.timers.cancel(this.timer.id)
    this.timer = null
  }

  private arm(): void {
    const first = this.heap.peek()
    if (first === undefined) return
    if (this.timer !== null && this.timer.at <= first.at) return
    if (this.timer !== null) this.timers.cancel(this.timer.id)
    const at = first.at
    this.timer = { id: this.timers.schedule(() => this.fire(), Math.max(0, at - this.now())), at }
  }

  private fire(): void {
    this.timer = null
    const now = this.now()
    for (let first = this.heap.peek(); first !== undefined && first.at <= now; first = this.heap.peek()) {
      this.heap.remove(first)
      this.byRun.delete(first.run.id)
      this.expire(first.run, first.kind)
    }
    this.arm()
  }
}
