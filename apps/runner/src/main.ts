/**
 * The `gantry` process: runs the command line and turns its outcome into an exit code
 * (see Cli.ts for the table). Errors print as `gantry: message` on stderr.
 */
import { NodeContext } from "@effect/platform-node"
import { Cause, Effect, Exit, Option } from "effect"
import { checkArgv, cli, commandSpecs, normalizeArgv, outcome } from "./Cli.js"

const exitWith = (code: number) => process.exit(code)

const program = Effect.suspend(() => {
  const refused = checkArgv(process.argv, commandSpecs)
  return refused !== undefined ? Effect.fail(refused) : cli(normalizeArgv(process.argv))
}).pipe(Effect.provide(NodeContext.layer))

Effect.runPromiseExit(program).then((exit) => {
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
