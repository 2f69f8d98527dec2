/**
 * The `gantry` process: runs the command line and turns its outcome into an exit code
 * (see Cli.ts for the table). Errors print as `gantry: message` on stderr.
 *
 * It exits only once stdout and stderr have drained: a pipe takes 64 KiB at a time, and
 * `process.exit` drops whatever is still queued for it. A reader that goes away (`| head`)
 * ends the process quietly with 141, as SIGPIPE ends other Unix tools.
 */
import { NodeContext } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Option } from "effect"
import { isMainThread, workerData } from "node:worker_threads"
import { checkArgv, cli, commandSpecs, normalizeArgv, outcome } from "./Cli.js"
import { serveSimWorker, SIM_WORKER } from "./SimWorkers.js"

/** 128 + SIGPIPE: what a shell reports for a tool whose reader closed the pipe. */
const BROKEN_PIPE = 141

for (const stream of [process.stdout, process.stderr])
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(BROKEN_PIPE)
    throw error
  })

/** Resolves once everything written to `stream` so far has been handed to the OS. */
const drained = (stream: NodeJS.WriteStream) =>
  new Promise<void>((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve()
    // writes complete in order: the empty one's callback runs after every earlier one's
    stream.write("", () => resolve())
  })

const exitWith = (code: number) => {
  void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => process.exit(code))
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g
const noColour = (stream: NodeJS.WriteStream) => !stream.isTTY || (process.env.NO_COLOR ?? "") !== ""
const plain = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? a.replace(ANSI, "") : a))

/**
 * @effect/cli's help and usage errors (printed through Effect's Console) without colour codes
 * when they go to a pipe or a file, or when NO_COLOR is set (no-color.org); a terminal keeps
 * them. A run's own output (`logs`, `run`) is written as it is, never through here.
 */
const withoutColourInPipes = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Console.consoleWith((console) =>
    Console.withConsole(effect, {
      ...console,
      log: (...args) => console.log(...(noColour(process.stdout) ? plain(args) : args)),
      info: (...args) => console.info(...(noColour(process.stdout) ? plain(args) : args)),
      error: (...args) => console.error(...(noColour(process.stderr) ? plain(args) : args)),
      warn: (...args) => console.warn(...(noColour(process.stderr) ? plain(args) : args))
    })
  )

const program = Effect.suspend(() => {
  const refused = checkArgv(process.argv, commandSpecs)
  return refused !== undefined ? Effect.fail(refused) : cli(normalizeArgv(process.argv))
}).pipe(withoutColourInPipes, Effect.provide(NodeContext.layer))

/** The CLI, unless this is one of `gantry sim`'s replay threads (SimWorkers.ts), started from this bundle. */
const main = () => Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isSuccess(exit)) return exitWith(outcome.exitCode)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value as { readonly _tag?: string; readonly message?: string; readonly exit?: number }
    if (typeof error.exit === "number") {
      process.stderr.write(`gantry: ${error.message ?? error._tag}\n`)
      return exitWith(error.exit)
    }
    // @effect/cli has already printed what was wrong with the command line
    return exitWith(64)
  }
  if (Cause.isInterruptedOnly(exit.cause)) return exitWith(130)
  process.stderr.write(`gantry: internal error\n${Cause.pretty(exit.cause)}\n`)
  return exitWith(70)
})

if (!isMainThread && typeof workerData === "object" && workerData !== null && SIM_WORKER in workerData) serveSimWorker()
else void main()
