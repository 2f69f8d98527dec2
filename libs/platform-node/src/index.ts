/**
 * @gantry/platform-node — the runner's hardware edge: the process Executor (NodeExecutor)
 * and the nvidia-smi GpuInventory (NvidiaSmiGpus), plus /proc process identity (Proc).
 */
export * as NodeExecutor from "./NodeExecutor.js"
export * as NvidiaSmiGpus from "./NvidiaSmiGpus.js"
export * as Proc from "./Proc.js"
export { currentBootId, isProcessAlive, processStartTime, type ProcessIdentity } from "./Proc.js"
