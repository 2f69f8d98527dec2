/**
 * `gantry serve`: the daemon. In order:
 * 1. open the SQLite store (migrations run) and take the scheduler lease — a second `serve`
 *    on the same database is refused; a CLI command holding the lease for a moment is waited for;
 * 2. find the GPUs and start the engine, which loads the stored runs, adopts the processes
 *    that outlived the last runner, records exits that happened meanwhile and marks the rest
 *    lost (SPEC §7), then runs a first cycle: submissions stored while no daemon ran start now;
 * 3. serve the HTTP API on 127.0.0.1 and publish its URL and token in the lease row;
 * 4. run until SIGTERM or SIGINT, then stop serving and give the lease back, leaving every
 *    run running: the next `serve` adopts them.
 * Nothing polls: cycles follow events (submit, exit files seen by fs.watch, timers).
 */
import { SqlClient } from "@effect/sql"
import { Engine, type EngineService, EngineTag, GpuInventory, Store } from "@gantry/engine"
import { NodeExecutor, NvidiaSmiGpus, untraversable } from "@gantry/platform-node"
import { Lease, SqliteStore } from "@gantry/store-sqlite"
import { Context, Deferred, Effect, Exit, Layer } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { createServer } from "node:http"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { engineControls } from "./Control.js"
import { Directory, ownerName, queueExistsIn } from "./Directory.js"
import { holderOf, takeLease } from "./Leases.js"
import { ensureDataDir, type Paths } from "./Paths.js"
import * as RunAs from "./RunAs.js"
import * as Server from "./Server.js"
import { WallClock } from "./WallClock.js"

/** What a serving daemon tells its user once it answers. */
export interface Ready {
  readonly url: string
  /** How many GPUs it schedules. */
  readonly gpus: number
  /** The database's owner (an admin). */
  readonly owner: string
  /** The account every run starts under, or null when each starts under its owner's. */
  readonly runsAs: string | null
}

export interface ServeOptions {
  readonly paths: Paths
  readonly host: string
  readonly port: number
  /** `none`, a count, or indices `0,2,3`; default all GPUs. */
  readonly gpus: string | undefined
  readonly version: string
  /** Called once the API answers. */
  readonly onReady?: (ready: Ready) => void
}

/**
 * Listens for SIGTERM and SIGINT from now until the scope closes; the Effect it returns
 * resolves on the first. Taken before anything starts, so a signal that arrives while the
 * daemon starts (or right after its ready line) stops it cleanly instead of killing it.
 */
const shutdownSignal = Effect.gen(function* () {
  const received = yield* Deferred.make<string>()
  const on = (signal: NodeJS.Signals) => () => Deferred.unsafeDone(received, Exit.succeed(signal))
  const term = on("SIGTERM")
  const int = on("SIGINT")
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      process.once("SIGTERM", term)
      process.once("SIGINT", int)
    }),
    () =>
      Effect.sync(() => {
        process.off("SIGTERM", term)
        process.off("SIGINT", int)
      })
  )
  return Deferred.await(received)
})

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export const isLoopback = (host: string): boolean => {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1")
  return h === "localhost" || h === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(h)
}

export const serve = (o: ServeOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const stopRequested = yield* shutdownSignal
      if (!isLoopback(o.host))
        process.stderr.write(
          `gantry: warning: --host ${o.host} serves plain HTTP to the network: the API, and the bearer token with every request, travel unencrypted. ` +
            `Keep the default 127.0.0.1 and reach it through an SSH tunnel or a TLS proxy.\n`
        )
      ensureDataDir(o.paths)
      const storeContext = yield* Layer.build(SqliteStore.layer({ filename: o.paths.db }))
      const sql = Context.get(storeContext, SqlClient.SqlClient)
      const token = randomBytes(24).toString("hex")
      const me = holderOf("serve", token)
      yield* takeLease(me, o.paths.db).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      yield* Effect.addFinalizer(() => Lease.release(me.pid, me.processStart).pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.ignore))

      const gpuLayer = NvidiaSmiGpus.layer(o.gpus === undefined ? {} : { gpus: o.gpus })
      const inventoryContext = yield* Layer.build(gpuLayer)
      const inventory = yield* Context.get(inventoryContext, GpuInventory).list
      yield* SqliteStore.saveInventory(inventory).pipe(Effect.provideService(SqlClient.SqlClient, sql))

      // the directory before the engine: the first cycle may start runs, under their owners' accounts
      const started: { engine?: EngineService } = {}
      const directory = yield* Directory.load({
        owner: ownerName(),
        ownerUnixUser: os.userInfo().username,
        queueExists: (name) => started.engine !== undefined && queueExistsIn(started.engine)(name),
        now: () => Date.now()
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      const runAs = RunAs.runAs()
      if (runAs.switching) {
        // the accounts reach their runs' folders through the data dir: searchable by others
        // (a private one, 0700, becomes 0711: still not listable); any other mode stays
        const mode = fs.statSync(o.paths.dataDir).mode & 0o777
        if ((mode & 0o001) === 0) fs.chmodSync(o.paths.dataDir, mode | 0o011)
        const blocked = untraversable(o.paths.dataDir)
        if (blocked !== null)
          process.stderr.write(
            `gantry: warning: runs start under their owners' accounts, which cannot reach ${o.paths.dataDir}: ${blocked} is not searchable by others. ` +
              `Serve from a data dir they can reach (GANTRY_HOME=/var/lib/gantry) or chmod o+x ${blocked}.\n`
          )
      }

      const engineContext = yield* Layer.build(
        // live XState actors: a real machine runs a few runs a second, where an actor's ~30 µs
        // do not show (`npm run bench -- latency` measured no difference), and they are the
        // statecharts' reference implementation (the simulator steps them for speed)
        Engine.layer({ stopwatch: () => performance.now(), actors: "live" }).pipe(
          Layer.provide(NodeExecutor.layer({ dataDir: o.paths.dataDir, accountOf: (run) => runAs.accountOf(directory.user(run.user)?.identity, run.user) })),
          Layer.provide(Layer.succeedContext(Context.merge(storeContext, inventoryContext)))
        )
      ).pipe(Effect.withClock(new WallClock()))
      const engine = Context.get(engineContext, EngineTag)
      started.engine = engine
      const controls = engineControls({
        mode: "daemon",
        engine,
        store: Context.get(storeContext, Store),
        directory,
        accountProblem: runAs.problem,
        inventory,
        dataDir: o.paths.dataDir,
        version: o.version,
        now: () => Date.now()
      })
      const httpServer = createServer()
      const httpContext = yield* Layer.build(
        Server.layer(controls, {
          server: httpServer,
          host: o.host,
          port: o.port,
          token,
          directory,
          common: { engine, store: Context.get(storeContext, Store), inventory, load: yield* NvidiaSmiGpus.loadSampler(), now: () => Date.now() }
        })
      )
      const url = yield* Effect.provide(Server.boundUrl, httpContext)
      yield* Lease.update({ ...me, url }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      o.onReady?.({ url, gpus: inventory.length, owner: directory.ownerName, runsAs: runAs.switching ? null : os.userInfo().username })
      const signal = yield* stopRequested
      // long-polls (gantry run, logs -f, runs --watch) answer now; whatever is still open a
      // moment later is cut, so a client looping on a kept-alive connection cannot hold the
      // server open
      controls.close()
      yield* Effect.sleep("100 millis")
      httpServer.closeAllConnections()
      yield* Effect.logInfo(`gantry: ${signal}: stopping; runs keep running and the next serve adopts them`)
    })
  )

