/**
 * A run's lifecycle fields and the statechart answers every run shares: the record type only
 * the kernel may write, the one function that writes a transition's outcome into it (lint
 * rule 4 forbids assigning `status` anywhere else), and the first status of a submission.
 */
import { isTerminal, type Run, type RunStatus } from "@gantry/core"
import { NO_GPUS } from "./Frozen.js"
import { type RunContext, runMachine, type RunMachineEvent } from "./RunMachine.js"
import { TransitionCache } from "./Stepper.js"

/** A run record as the kernel keeps it: the one place its lifecycle fields are writable. */
export type RunRecord = { -readonly [K in keyof Run]: Run[K] }

/** XState's answers for the run statechart, shared by every run (Stepper.ts). */
export const runTransitions = new TransitionCache(runMachine)

/** The statechart's answers to SUBMIT, by (hold, needsApproval). */
const FIRST_STATUS: Array<RunStatus | undefined> = [undefined, undefined, undefined, undefined]

/** The context SUBMIT is asked in: a fresh run's (the choice reads only the event). */
const SUBMITTED: RunContext = {
  attempt: 1,
  maxAttempts: 1,
  timeLimitMs: null,
  deadlineInMs: null,
  killGraceMs: 0,
  stopCause: null,
  reason: "",
  failReason: null,
  exitCode: null,
  signal: null,
  keepsPlace: false
}

/**
 * A record's lifecycle fields after a transition to `to` with the statechart's context: the
 * only code that writes them (on the kernel's record, or on a command's planned copy).
 */
export const lifecycle = (run: RunRecord, to: RunStatus, outcome: RunContext, now: number): void => {
  // eslint-disable-next-line no-restricted-syntax -- the one place: `to` is the state the run statechart answered (moved, plan)
  run.status = to
  run.attempt = outcome.attempt
  run.exitCode = outcome.exitCode
  run.signal = outcome.signal
  run.failReason = outcome.failReason
  run.stopCause = outcome.stopCause
  if (to === "pending") {
    if (!outcome.keepsPlace) run.eligibleAt = now
    run.startedAt = null
    run.assignedGpus = NO_GPUS
  }
  if (isTerminal(to)) run.endedAt = now
}

export const stopEventOf = (cause: Run["stopCause"]): RunMachineEvent =>
  cause === "cancel" ? { type: "CANCEL" } : cause === "time-limit" ? { type: "TIME_LIMIT" } : { type: "DEADLINE" }


/** The first status of a new run, as the statechart answers SUBMIT (four answers, asked once each: a key per submission cost ~1 µs). */
export const firstStatusOf = (hold: boolean, needsApproval: boolean): RunStatus => {
  const i = (hold ? 2 : 0) + (needsApproval ? 1 : 0)
  return (FIRST_STATUS[i] ??= runTransitions.step({ value: "submitted", context: SUBMITTED, done: false }, { type: "SUBMIT", hold, needsApproval }).next.value as RunStatus)
}
