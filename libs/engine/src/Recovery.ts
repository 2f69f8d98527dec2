/**
 * Recovery (SPEC §7), when an engine starts on a store: stored held, blocked and pending runs
 * go back in memory as they were; every run stored as running or stopping is offered to the
 * Executor to `adopt`. An adopted run gets its actor back; one that ended while no runner
 * watched has its exit recorded (at the time it ended); one the Executor cannot adopt is
 * `lost` (LOST: its retry rules apply), except one provably never spawned, which goes back in
 * its place (NEVER_STARTED). An offline engine (a CLI command while no daemon serves the
 * database) keeps stored active runs as they are: it owns no process.
 */
import type { Run } from "@gantry/core"
import { Effect } from "effect"
import type { ExecutorService, RunExit } from "./Executor.js"
import { deepFreeze } from "./Frozen.js"
import type { Kernel } from "./Kernel.js"
import type { StoredState } from "./Store.js"

export const recover = (kernel: Kernel, executor: ExecutorService, stored: StoredState, offline: boolean): Effect.Effect<void> =>
  Effect.gen(function* () {
    kernel.setLastSeq(stored.lastSeq)
    const active: Array<Run> = []
    for (const storedRun of stored.runs) {
      const run = ownRecord(storedRun)
      if (run.status === "pending" || run.status === "held" || run.status === "blocked") kernel.restore(run)
      else if (run.status === "running" || run.status === "stopping") active.push(run)
    }
    for (const run of active) {
      if (offline) {
        kernel.reinstate(run)
        continue
      }
      // an exit may be reported while `adopt` runs, before the run's actor exists: kept until then
      const early: Array<RunExit> = []
      let adopted = false
      const outcome = yield* executor.adopt(run, (exit) => (adopted ? kernel.exited(run.id, exit) : early.push(exit)))
      if (outcome === "never-started" && run.status === "running") {
        kernel.recoverUnstarted(run)
        continue
      }
      if (outcome !== "adopted") {
        // a stopping run that never started ends as its stop cause says, like a lost one
        kernel.recoverLost(run)
        continue
      }
      kernel.adopt(run)
      adopted = true
      for (const exit of early) kernel.exited(run.id, exit)
    }
  })

/**
 * A stored run as the engine's own record: the store hands out a fresh object (a copy, or
 * parsed JSON), so its nested values are frozen where they are, not copied again (a million
 * pending runs load at start).
 */
const ownRecord = (run: Run): Run => {
  deepFreeze(run.command)
  deepFreeze(run.env)
  deepFreeze(run.metadata)
  deepFreeze(run.deviceIds)
  deepFreeze(run.assignedGpus)
  return run
}
