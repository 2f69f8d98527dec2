/**
 * How a CLI command reaches a runner:
 * - a URL (`--url`, `$GANTRY_URL` or the last `gantry login`; its token from `--token`,
 *   `$GANTRY_TOKEN` or `gantry login`; Cli.ts `targetOf`): that daemon, over HTTP;
 * - else the database (`--db`, or the data dir's): if a daemon serves it, over HTTP with the
 *   URL and token it published in the lease row; if none does, an **offline engine** in this
 *   process under the lease: it validates and stores exactly as the daemon would (so a
 *   submission made while no daemon runs is stored and starts when one comes up) but never
 *   starts, adopts or signals a run.
 */
import { SqlClient } from "@effect/sql"
import { type ApiError, Internal, NotFound } from "@gantry/api"
import {
  Engine,
  EngineTag,
  Executor,
  GpuInventory,
  noJournal,
  Store,
  type GpuInfo
} from "@gantry/engine"
import { NvidiaSmiGpus } from "@gantry/platform-node"
import { Lease, SqliteStore } from "@gantry/store-sqlite"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as Client from "./Client.js"
import { type Control, engineControls } from "./Control.js"
import { Directory, ownerName, queueExistsIn } from "./Directory.js"
import { holderOf, reachOrTake } from "./Leases.js"
import { runAs } from "./RunAs.js"
import { ensureDataDir, type Paths } from "./Paths.js"
import { WallClock } from "./WallClock.js"

export interface Target {
  readonly paths: Paths
  readonly url: string | undefined
  readonly token: string | undefined
  readonly version: string
}

const unavailable = (message: string): ApiError => new Internal({ code: "UNAVAILABLE", error: "Unavailable", message, exit: 69 })

/**
 * The offline engine's executor: it is never asked to start, adopt or signal anything
 * (the engine's offline mode guarantees it); if it were, that is a bug, reported loudly.
 */
const refusingExecutor = Layer.succeed(Executor, {
  start: ({ run }) => Effect.dieMessage(`offline engine asked to start ${run.id}`),
  signal: (run) => Effect.dieMessage(`offline engine asked to signal ${run.id}`),
  adopt: (run) => Effect.dieMessage(`offline engine asked to adopt ${run.id}`)
})

/**
 * Runs `use` with a Control for the target; the lease (offline) is held only meanwhile.
 * Only a command that writes (`create`) may create the database (and its folder); any other
 * finding none fails with "no database at PATH" (exit 66) and leaves nothing behind.
 */
export const withControl = <A>(target: Target, use: (control: Control) => Effect.Effect<A, ApiError>, options: { readonly create?: boolean } = {}): Effect.Effect<A, ApiError> => {
  if (target.url !== undefined) {
    return Effect.flatMap(Client.httpControl(target.url, target.token ?? ""), use)
  }
  if (options.create !== true && !fs.existsSync(target.paths.db))
    return Effect.fail(new NotFound({ code: "NOT_FOUND", error: "NoDatabase", message: `no database at ${target.paths.db} (gantry serve or gantry submit creates it; --db PATH to use another)`, exit: 66 }))
  return Effect.scoped(
    Effect.gen(function* () {
      ensureDataDir(target.paths)
      const storeContext = yield* Layer.build(SqliteStore.layer({ filename: target.paths.db }))
      const sql = Context.get(storeContext, SqlClient.SqlClient)
      const me = holderOf("command", null)
      const reached = yield* reachOrTake(me, target.paths.db).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      if (reached._tag === "Daemon") return yield* Effect.flatMap(Client.httpControl(reached.url, reached.token), use)
      yield* Effect.addFinalizer(() => Lease.release(me.pid, me.processStart).pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.ignore))
      // the GPUs the last daemon served (its --gpus selection), else what this machine has
      const stored = yield* SqliteStore.inventory.pipe(Effect.provideService(SqlClient.SqlClient, sql))
      const inventory: ReadonlyArray<GpuInfo> =
        stored.length > 0 ? stored : yield* Effect.flatMap(GpuInventory, (g) => g.list).pipe(Effect.provide(NvidiaSmiGpus.layer({})))
      const engineContext = yield* Layer.build(
        Engine.layer({ offline: true }).pipe(
          Layer.provide(refusingExecutor),
          Layer.provide(noJournal),
          Layer.provide(Layer.succeed(GpuInventory, { list: Effect.succeed(inventory) })),
          Layer.provide(Layer.succeedContext(storeContext))
        )
      ).pipe(Effect.withClock(new WallClock()))
      const engine = Context.get(engineContext, EngineTag)
      const directory = yield* Directory.load({ owner: ownerName(), ownerUnixUser: os.userInfo().username, queueExists: queueExistsIn(engine), now: () => Date.now() }).pipe(
        Effect.provideService(SqlClient.SqlClient, sql)
      )
      // whoever can open the database is its owner: offline, a command acts as the owner (an admin)
      const control = engineControls({
        mode: "offline",
        engine,
        store: Context.get(storeContext, Store),
        directory,
        accountProblem: runAs().problem,
        inventory,
        dataDir: target.paths.dataDir,
        version: target.version,
        now: () => Date.now()
      }).forCaller(directory.owner)
      return yield* use(control)
    })
  ).pipe(
    Effect.catchTags({
      StoreError: (e) => Effect.fail<ApiError>(new Internal({ code: "INTERNAL", error: "StoreError", message: `database ${target.paths.db}: ${e.message}`, exit: 74 })),
      LeaseBusy: (e) => Effect.fail(unavailable(e.message)),
      GpuInventoryError: (e) => Effect.fail(unavailable(e.message))
    })
  )
}
