/**
 * Every failure of the SQL layer becomes the engine's StoreError, with the driver's own
 * message (e.g. "UNIQUE constraint failed: runs.seq") in the text and the original as cause.
 */
import { StoreError } from "@gantry/engine"
import { Effect } from "effect"

/** The messages along an error's cause chain: SqlError's text alone says little. */
export const describe = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error || (typeof current === "object" && "message" in current)) {
      const message = String((current as { message: unknown }).message)
      if (message !== "" && !parts.includes(message)) parts.push(message)
      current = (current as { cause?: unknown }).cause
    } else {
      parts.push(String(current))
      break
    }
  }
  return parts.length === 0 ? "unknown error" : parts.join(": ")
}

export const storeError = (what: string, cause: unknown): StoreError =>
  cause instanceof StoreError ? cause : new StoreError({ message: `${what}: ${describe(cause)}`, cause })

/**
 * Maps the error channel to StoreError, and also a failing COMMIT: @effect/sql turns that into
 * a defect (`orDie`), which must not escape the port either.
 */
export const orStoreError =
  (what: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, StoreError, R> =>
    effect.pipe(
      Effect.mapError((cause) => storeError(what, cause)),
      Effect.catchAllDefect((defect) => Effect.fail(storeError(what, defect)))
    )

/** JSON.parse of a stored column, as an Effect. */
export const parseJson = <A>(what: string, text: string): Effect.Effect<A, StoreError> =>
  Effect.try({ try: () => JSON.parse(text) as A, catch: (cause) => storeError(`${what}: stored JSON is corrupt`, cause) })
