/**
 * Frozen values: what the engine hands out, and the nested parts of what it keeps, are frozen,
 * so nothing outside the engine can change its state through a reference it was given.
 */
import type { Run } from "@gantry/core"

/** Shared, frozen empty values: most runs have no env, no metadata and (while waiting) no GPUs. */
export const NO_ENV: Run["env"] = Object.freeze({})
export const NO_METADATA: Run["metadata"] = Object.freeze({})
export const NO_GPUS: Run["assignedGpus"] = Object.freeze([])

/** Freezes a plain value and everything in it; returns it. */
export const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const field of Object.values(value)) deepFreeze(field)
  }
  return value
}

/**
 * A copy of a run record for the outside world: whatever its holder does to it stays in the
 * copy (its nested values are frozen already, shared with the engine's record). Not frozen
 * itself: `Object.freeze` on a 40-field record cost ~1 µs a submission, and a copy is already
 * the caller's alone.
 */
export const copyOf = (run: Run): Run => ({ ...run })
