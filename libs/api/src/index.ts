/**
 * @gantry/api — the runner's HTTP API definition (HttpApi), shared by the daemon and the CLI.
 */
export * from "./Api.js"
