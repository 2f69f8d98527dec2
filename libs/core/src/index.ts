/**
 * @gantry/core — the pure scheduling domain: runs, queues, policy, the pending index
 * and `decide(snapshot)`. No I/O, no timers, no actors.
 */
export * from "./Admission.js"
export * from "./Decide.js"
export * from "./DecideByScan.js"
export * from "./GpuFit.js"
export * from "./GpuLists.js"
export * from "./Heap.js"
export * from "./Order.js"
export * from "./PendingIndex.js"
export * from "./Policy.js"
export * from "./Run.js"
export * from "./Snapshot.js"
