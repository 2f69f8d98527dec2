/**
 * The runner's side of the scheduler lease (SPEC §7): who may use a database, and how
 * long to wait for whom.
 * - `serve` holds it for its life: a second `serve` is refused, naming the holder.
 * - A CLI command with no daemon holds it (kind `command`) for the few milliseconds of its
 *   offline engine, so a daemon starting meanwhile waits for it instead of loading a stale
 *   state, and two commands never allocate the same sequence number.
 * A holder is alive when its pid runs on this host with the same process start time, so
 * a recycled pid never keeps a dead runner's lease.
 */
import type { SqlClient } from "@effect/sql"
import type { StoreError } from "@gantry/engine"
import { Proc } from "@gantry/platform-node"
import { Lease } from "@gantry/store-sqlite"
import { Data, Duration, Effect } from "effect"
import * as os from "node:os"

type Holder = Lease.LeaseHolder

export class ServeRefused extends Data.TaggedError("ServeRefused")<{ readonly holder: Holder; readonly db: string }> {
  override get message() {
    const h = this.holder
    return `another gantry serve already schedules ${this.db} (pid ${h.pid} on ${h.host}${h.url === null ? "" : `, ${h.url}`}); refusing to start a second one`
  }
}

export class LeaseBusy extends Data.TaggedError("LeaseBusy")<{ readonly holder: Holder; readonly db: string }> {
  override get message() {
    return `${this.db} stayed busy (pid ${this.holder.pid}, ${this.holder.kind}); try again`
  }
}

export const holderOf = (kind: Holder["kind"], token: string | null): Holder => ({
  kind,
  pid: process.pid,
  processStart: Proc.processStartTime(process.pid) ?? "unknown",
  host: os.hostname(),
  url: null,
  token,
  acquiredAt: Date.now()
})

/** Alive: on this host, the same pid with the same start time. Another host's holder counts as alive. */
export const isHolderAlive = (holder: Holder): boolean =>
  holder.host !== os.hostname() || Proc.isProcessAlive({ pid: holder.pid, processStart: holder.processStart })

const WAIT = Duration.seconds(15)
const STEP = Duration.millis(25)

/**
 * `serve`: takes the lease or fails with ServeRefused. A command holding it is waited for.
 */
export const takeLease = (me: Holder, db: string): Effect.Effect<void, ServeRefused | LeaseBusy | StoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const until = Date.now() + Duration.toMillis(WAIT)
    for (;;) {
      const taken = yield* Effect.either(Lease.acquire(me, isHolderAlive))
      if (taken._tag === "Right") return
      const error = taken.left
      if (error._tag !== "LeaseHeld") return yield* error
      if (error.holder.kind === "serve") return yield* new ServeRefused({ holder: error.holder, db })
      if (Date.now() > until) return yield* new LeaseBusy({ holder: error.holder, db })
      yield* Effect.sleep(STEP)
    }
  })

/**
 * A command: finds the serving daemon (its URL and token), or takes the lease to work
 * offline. Waits while a daemon is starting (no URL yet) or another command holds it.
 */
export const reachOrTake = (
  me: Holder,
  db: string
): Effect.Effect<{ readonly _tag: "Daemon"; readonly url: string; readonly token: string } | { readonly _tag: "Offline" }, LeaseBusy | StoreError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const until = Date.now() + Duration.toMillis(WAIT)
    for (;;) {
      const holder = yield* Lease.current
      if (holder !== null && isHolderAlive(holder)) {
        if (holder.kind === "serve" && holder.url !== null) return { _tag: "Daemon", url: holder.url, token: holder.token ?? "" } as const
      } else {
        const taken = yield* Effect.either(Lease.acquire(me, isHolderAlive))
        if (taken._tag === "Right") return { _tag: "Offline" } as const
        if (taken.left._tag !== "LeaseHeld") return yield* taken.left
      }
      if (Date.now() > until) return yield* new LeaseBusy({ holder: holder ?? me, db })
      yield* Effect.sleep(STEP)
    }
  })
