/**
 * @gantry/store-sqlite — the Store, Journal and scheduling lease on SQLite, and the runner's
 * directory (users, hashed tokens, projects).
 */
export * as Directory from "./Directory.js"
export { type History, HistoryError, readHistory } from "./History.js"
export type { StoredTemplate, StoredToken, StoredUser } from "./Directory.js"
export * as Lease from "./Lease.js"
export { LeaseHeld, LeaseHolder, LeaseNotHeld } from "./Lease.js"
export * as SqliteStore from "./SqliteStore.js"
export type { SqliteStoreOptions } from "./SqliteStore.js"
