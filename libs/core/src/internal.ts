/**
 * Every module of @gantry/core, for the library's own tests (they test the parts one by one).
 * Not a package export: embedders use the public API of `index.ts`.
 */
export * from "./Admission.js"
export * from "./CycleAdmission.js"
export * from "./CycleGpus.js"
export * from "./Decide.js"
export * from "./DecideByScan.js"
export * from "./GpuFit.js"
export * from "./GpuLists.js"
export * from "./Heap.js"
export * from "./Identity.js"
export * from "./Order.js"
export * from "./PendingIndex.js"
export * from "./Policy.js"
export * from "./Run.js"
export * from "./Snapshot.js"
