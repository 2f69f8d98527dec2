/**
 * @gantry/api — the runner's HTTP API definition (HttpApi), shared by the daemon and the CLI:
 * gantry's own routes (Api.ts), the common GPU-server queue API's (QueueApi.ts) and what both
 * share (Common.ts: errors, authorization, values).
 */
export * from "./Api.js"
export * from "./Common.js"
export * from "./QueueApi.js"
