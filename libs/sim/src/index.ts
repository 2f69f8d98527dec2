/**
 * @gantry/sim — the deterministic simulator: the same engine on simulated time.
 */
export * from "./ErlangC.js"
export * from "./GantryCsv.js"
export * from "./HtmlReport.js"
export * from "./Metrics.js"
export * from "./Philly.js"
export * from "./Policies.js"
export * from "./Prng.js"
export * from "./Series.js"
export { SimClock } from "./SimClock.js"
export * as SimExecutor from "./SimExecutor.js"
export * as SimGpus from "./SimGpus.js"
export * from "./Simulate.js"
export * from "./WhatIf.js"
export * from "./Workload.js"
export { wrongWordBeforeCommand } from "./CliArgs.js"
