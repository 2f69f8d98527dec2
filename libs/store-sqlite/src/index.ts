/**
 * @gantry/store-sqlite — the Store, Journal and scheduling lease on SQLite.
 */
export * as Lease from "./Lease.js"
export { LeaseHeld, LeaseHolder, LeaseNotHeld } from "./Lease.js"
export * as SqliteStore from "./SqliteStore.js"
export type { SqliteStoreOptions } from "./SqliteStore.js"
