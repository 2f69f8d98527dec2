/**
 * @gantry/platform-node — the runner's hardware edge: the process Executor (NodeExecutor)
 * and the nvidia-smi GpuInventory (NvidiaSmiGpus), plus /proc process identity (Proc) and the
 * Unix accounts runs start under (Accounts).
 */
export * as Accounts from "./Accounts.js"
export { AccountLookupError, canSwitchUser, lookupAccount, lookupAccountByUid, type RunAccount, untraversable } from "./Accounts.js"
export * as NodeExecutor from "./NodeExecutor.js"
export * as NvidiaSmiGpus from "./NvidiaSmiGpus.js"
export type { GpuLoad } from "./NvidiaSmiGpus.js"
export * as Proc from "./Proc.js"
export { currentBootId, isProcessAlive, processStartTime, processUid, type ProcessIdentity } from "./Proc.js"
