/**
 * What changed since the last commit: the runs changed, their transitions in order, and the
 * queues deleted. A commit takes it whole; a refused commit puts it back ahead of whatever
 * changed meanwhile, so the next commit carries both (Commit.ts).
 */
import type { QueueName, Run, RunEvent, RunId } from "@gantry/core"

export interface OutboxContents {
  readonly runs: ReadonlyArray<Run>
  readonly events: ReadonlyArray<RunEvent>
  readonly deletedQueues: ReadonlyArray<QueueName>
}

/** What `take` hands out when nothing changed (most commands' case): nothing allocated. */
const EMPTY: OutboxContents = Object.freeze({ runs: Object.freeze([]), events: Object.freeze([]), deletedQueues: Object.freeze([]) })

export const isEmpty = (out: OutboxContents): boolean => out.runs.length === 0 && out.events.length === 0 && out.deletedQueues.length === 0

export class Outbox {
  private runs = new Map<RunId, Run>()
  private events: Array<RunEvent> = []
  private deletedQueues: Array<QueueName> = []

  /** A transition of `run` (the run record is written with the next commit, as it is then). */
  transition(run: Run, event: RunEvent): void {
    this.runs.set(run.id, run)
    this.events.push(event)
  }

  queueDeleted(name: QueueName): void {
    this.deletedQueues.push(name)
  }

  /** Takes what changed since the last commit. */
  take(): OutboxContents {
    if (this.runs.size === 0 && this.events.length === 0 && this.deletedQueues.length === 0) return EMPTY
    const out = { runs: [...this.runs.values()], events: this.events, deletedQueues: this.deletedQueues }
    this.runs = new Map()
    this.events = []
    this.deletedQueues = []
    return out
  }

  /** Puts back what a refused commit took, ahead of anything changed since. */
  putBack(out: OutboxContents): void {
    this.runs = new Map([...out.runs.map((r) => [r.id, r] as const), ...this.runs])
    this.events = [...out.events, ...this.events]
    this.deletedQueues = [...out.deletedQueues, ...this.deletedQueues]
  }

  /** A run changed and not committed yet (a finished run stays reachable here until it is stored). */
  run(id: RunId): Run | undefined {
    return this.runs.get(id)
  }

  /** A run's transitions not committed yet. */
  eventsOf(id: RunId): ReadonlyArray<RunEvent> {
    return this.events.filter((e) => e.runId === id)
  }
}
