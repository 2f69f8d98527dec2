/**
 * The real engine on the real SQLite store and the real Node executor, for the engine tests of
 * issue 9 (concurrency, refused commits): a fresh data dir, `gpus` fake GPUs at the hardware
 * edge (the inventory), nothing else faked.
 */
import { SqlClient } from "@effect/sql"
import { Engine, GpuInventory, type GpuInfo, Store, type StoreService } from "@gantry/engine"
import { NodeExecutor } from "@gantry/platform-node"
import { SqliteStore } from "@gantry/store-sqlite"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const fakeGpus = (n: number): ReadonlyArray<GpuInfo> =>
  Array.from({ length: n }, (_, index) => ({ index, uuid: `GPU-fake-${index}`, name: "Fake GPU", memoryMiB: 81_920 }))

/**
 * The SQLite store with a yield before each look-up and commit. better-sqlite3 answers
 * synchronously, so under Effect a call yields only when the fiber scheduler happens to
 * switch (every 2,048 steps) or a transaction waits for the connection's lock; this makes the
 * switch happen every time, as a store across a network would.
 */
const yielding = (store: StoreService): StoreService => ({
  ...store,
  findByIdempotencyKey: (user, key) => Effect.zipRight(Effect.yieldNow(), store.findByIdempotencyKey(user, key)),
  getRun: (id) => Effect.zipRight(Effect.yieldNow(), store.getRun(id)),
  commit: (batch) => Effect.zipRight(Effect.yieldNow(), store.commit(batch))
})

export const sqliteEngine = (o: { readonly gpus: number; readonly prefix: string; readonly yielding?: boolean }) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), o.prefix))
  const sqlite = SqliteStore.layer({ filename: path.join(dataDir, "gantry.db") })
  const storeLayer = o.yielding === true ? Layer.merge(sqlite, Layer.effect(Store, Effect.map(Store, yielding)).pipe(Layer.provide(sqlite))) : sqlite
  const layer = Engine.layer({ actors: "live" }).pipe(
    Layer.provide(NodeExecutor.layer({ dataDir })),
    Layer.provide(Layer.succeed(GpuInventory, { list: Effect.succeed(fakeGpus(o.gpus)) })),
    Layer.provideMerge(storeLayer)
  )
  return { dataDir, layer, cleanup: () => fs.rmSync(dataDir, { recursive: true, force: true }) }
}

/** SQLite triggers that refuse every write to the engine's tables: a disk that fails each commit. */
export const TABLES = ["runs", "run_events", "queues", "policy", "policy_versions", "gpus", "meta"] as const

export const refuseWrites = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.forEach(
    TABLES.flatMap((table) => (["INSERT", "UPDATE", "DELETE"] as const).map((op) => [table, op] as const)),
    ([table, op]) =>
      sql.unsafe(`CREATE TRIGGER refuse_${op.toLowerCase()}_${table} BEFORE ${op} ON ${table} BEGIN SELECT RAISE(ABORT, 'injected: the disk refuses'); END`),
    { discard: true }
  )
)

export const acceptWrites = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.forEach(
    TABLES.flatMap((table) => (["INSERT", "UPDATE", "DELETE"] as const).map((op) => [table, op] as const)),
    ([table, op]) => sql.unsafe(`DROP TRIGGER refuse_${op.toLowerCase()}_${table}`),
    { discard: true }
  )
)
