/**
 * The Journal port: every scheduling decision with its inputs and reasons, so an
 * operator can ask "why is my run waiting" and a replay can be compared decision by decision.
 */
import { Context, Effect, Layer } from "effect"
import type { Reservation, RunId, Start, WaitReason } from "@gantry/core"

export interface JournalEntry {
  readonly cycle: number
  readonly at: number
  /** What woke the cycle (submit, exit, cancel, ...), coalesced. */
  readonly wakeups: ReadonlyArray<string>
  readonly inputs: {
    readonly pending: number
    readonly running: number
    readonly freeGpus: number
    readonly policyVersion: number
  }
  readonly starts: ReadonlyArray<Start>
  readonly reservation: Reservation | null
  /** Lanes examined and left waiting: their first run and why. */
  readonly waits: ReadonlyArray<{ readonly runId: RunId; readonly reason: WaitReason; readonly runs: number }>
  readonly otherwise: WaitReason
  readonly examined: number
}

export interface JournalService {
  readonly record: (entry: JournalEntry) => Effect.Effect<void>
}

export class Journal extends Context.Tag("@gantry/engine/Journal")<Journal, JournalService>() {}

/** A journal that keeps nothing. */
export const noJournal: Layer.Layer<Journal> = Layer.succeed(Journal, { record: () => Effect.void })
