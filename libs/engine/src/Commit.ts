/**
 * The one rule every change follows: **commit, then change memory**. A command validates
 * against memory, commits its change together with whatever the outbox holds (transitions
 * made since the last commit: exits, timeouts), and only when the store has acknowledged it
 * applies the change to memory and publishes the committed events. A refused commit puts the
 * outbox back for the next commit and leaves memory as it was, so memory and store never part
 * ways, whichever command failed. (The cycle follows the same rule with one difference: its
 * starts are assumed in memory before the commit and undone if it is refused — the starts
 * are what it commits — and nothing is spawned before the commit.)
 */
import type { Run, RunEvent } from "@gantry/core"
import { Effect, Exit, PubSub } from "effect"
import type { Kernel } from "./Kernel.js"
import { isEmpty, type OutboxContents } from "./Outbox.js"
import { emptyBatch, type StoreBatch, type StoreError, type StoreService } from "./Store.js"

/** What a command stores besides the outbox. */
export type Change = Partial<StoreBatch>

export interface Committer {
  /** Commits the outbox and `change`; once stored, `apply()` changes memory and the events are published. */
  readonly commitThen: <A>(change: Change, apply: () => A) => Effect.Effect<A, StoreError>
  /**
   * `commitThen` begun now (the outbox taken, and the commit done when the store commits
   * synchronously: then an Exit, Sync.ts). Only for a command whose code is running already
   * (inside its Effect.suspend), as `commitThen` composed later would not be.
   */
  readonly commitThenNow: <A>(change: Change, apply: () => A) => Effect.Effect<A, StoreError>
  /** Commits the outbox alone (the cycle): `Effect.void` (an Exit, nothing to run) when it is empty. */
  readonly commitOutbox: () => Effect.Effect<void, StoreError>
  /** The stream of committed events (Engine.events / subscribe). */
  readonly committed: PubSub.PubSub<RunEvent>
  /** How many subscribe to `committed` (nothing is published to nobody). */
  subscribers: number
}

/** One record per run, the last given (a command's planned record after the outbox's). */
const latest = (runs: ReadonlyArray<Run>): ReadonlyArray<Run> => {
  if (runs.length < 2) return runs
  const byId = new Map<Run["id"], Run>()
  for (const run of runs) {
    byId.delete(run.id)
    byId.set(run.id, run)
  }
  return byId.size === runs.length ? runs : [...byId.values()]
}

export const makeCommitter = (kernel: Kernel, store: StoreService): Committer => {
  const committed = Effect.runSync(PubSub.unbounded<RunEvent>())
  const { commitNow } = store
  /**
   * `batch` stored, then `onStored()`; a refusal puts `out` back. Done now, an Exit, when the
   * store commits synchronously (`commitNow`; Sync.ts), else the Effect that does it.
   */
  const commitAnd = <A>(batch: StoreBatch, out: OutboxContents, onStored: () => A): Effect.Effect<A, StoreError> => {
    if (commitNow !== undefined) {
      const exit = commitNow(batch)
      if (Exit.isFailure(exit)) {
        kernel.returnOutbox(out)
        return Exit.failCause(exit.cause)
      }
      return Exit.succeed(onStored())
    }
    return store.commit(batch).pipe(
      Effect.tapError(() => Effect.sync(() => kernel.returnOutbox(out))),
      Effect.map(onStored)
    )
  }
  const self: Committer = {
    committed,
    subscribers: 0,
    commitThen: (change, apply) => Effect.suspend(() => self.commitThenNow(change, apply)),
    commitThenNow: (change, apply) => {
      const out = kernel.takeOutbox()
      // most commands find the outbox empty (the cycle's commit took it): their change alone
      const batch: StoreBatch = isEmpty(out)
        ? { ...emptyBatch, ...change }
        : {
            ...emptyBatch,
            ...change,
            runs: latest([...out.runs, ...(change.runs ?? [])]),
            events: [...out.events, ...(change.events ?? [])],
            deletedQueues: [...out.deletedQueues, ...(change.deletedQueues ?? [])]
          }
      return commitAnd(batch, out, () => {
        const result = apply()
        publish(batch.events)
        return result
      })
    },
    commitOutbox: () => {
      const out = kernel.takeOutbox()
      if (isEmpty(out)) return Effect.void
      return commitAnd({ ...emptyBatch, runs: out.runs, events: out.events, deletedQueues: out.deletedQueues }, out, () => publish(out.events))
    }
  }
  const publish = (events: ReadonlyArray<RunEvent>): void => {
    if (self.subscribers > 0 && events.length > 0) Effect.runSync(PubSub.publishAll(committed, events))
  }
  return self
}
