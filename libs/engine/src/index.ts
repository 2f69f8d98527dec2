/**
 * @gantry/engine — the gantry engine: XState actors on an Effect runtime, and its ports.
 */
export * as Engine from "./Engine.js"
export {
  Engine as EngineTag,
  type EngineOptions,
  type EngineService,
  type EngineStats,
  type Phase,
  PHASES,
  type PhaseTimings,
  type Position,
  type QueueInfo,
  type SubmitOutcome
} from "./Engine.js"
export * from "./Errors.js"
export * from "./Executor.js"
export * from "./GpuInventory.js"
export * from "./Journal.js"
export * as MemoryStore from "./MemoryStore.js"
export * from "./Store.js"
export * from "./Timers.js"
export type { ActorMode } from "./Kernel.js"
export { runMachine, type RunMachineEvent, type RunContext } from "./RunMachine.js"
export { workerMachine, type WorkerState, type WorkerEvent } from "./WorkerMachine.js"
export { gpuMachine } from "./GpuMachine.js"
export { queueMachine, type QueueCounts } from "./QueueMachine.js"
export { schedulerMachine } from "./SchedulerMachine.js"
