/**
 * `gantry submit` (one run, or `--from FILE.jsonl`: many in one transaction) and `gantry run`
 * (submit, follow its output, exit with its code).
 */
import { Command } from "@effect/cli"
import { RunJson, type SubmitRequest, SubmitResult } from "@gantry/api"
import { Effect, Option, Schema } from "effect"
import * as os from "node:os"
import { outcome, print, printJson, withControl } from "./CliCommon.js"
import { type Control, fromTemplate } from "./Control.js"
import { follow } from "./Follow.js"
import * as F from "./Format.js"
import { buildBulk, buildSubmission, CliError, type SubmitArgs, submitOptions, usage } from "./Input.js"


/**
 * The submission of `submit`/`run`: from the flags (and `--file`) before reaching the runner,
 * or, with `--config NAME`, from that saved template (which the runner holds) and the flags on
 * top; a run submitted from a template carries its name (`metadata.config_name`).
 */
const early = (a: SubmitArgs) => (Option.isNone(a.config) ? Effect.map(buildSubmission(a), Option.some) : Effect.succeed(Option.none<SubmitRequest>()))
const submissionOf = (a: SubmitArgs, control: Control, built: Option.Option<SubmitRequest>) =>
  Option.match(built, {
    onSome: Effect.succeed,
    onNone: () =>
      Effect.flatMap(control.template(Option.getOrThrow(a.config)), (t) =>
        buildSubmission(a, process.env, fromTemplate(t.name, t.submission))
      )
  })

/** `submit --from FILE.jsonl`: one request, one transaction; a refusal names the file's line. */
const submitBulk = (a: SubmitArgs) =>
  Effect.gen(function* () {
    const bulk = yield* buildBulk(a)
    const file = Option.getOrThrow(a.from)
    yield* withControl(
      a,
      (control) =>
        Effect.gen(function* () {
          const runs = yield* Effect.mapError(control.submitMany(bulk.requests), (e) => {
            const n = /^submission (\d+): /.exec(e.message)
            const line = n === null ? undefined : bulk.lines[Number(n[1]) - 1]
            return line === undefined ? e : new CliError({ message: `${file}:${line}: ${e.message.slice(n![0].length)} (nothing was submitted)`, exit: e.exit })
          })
          if (a.format === "json") return yield* printJson(Schema.Array(RunJson), runs)
          yield* print(`${runs.length} runs submitted in one transaction: ${runs[0]!.id}${runs.length > 1 ? ` … ${runs.at(-1)!.id}` : ""}`)
        }),
      { create: true }
    )
  })

export const submitCommand = Command.make("submit", submitOptions, (a) =>
  Effect.gen(function* () {
    if (Option.isSome(a.from)) return yield* submitBulk(a)
    const built = yield* early(a)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const submission = yield* submissionOf(a, control, built)
        // with no daemon nothing starts now: "start now or refuse" and "would it start now"
        // have no honest answer offline
        if (control.mode === "offline" && (submission.noWait === true || submission.dryRun === true))
          return yield* new CliError({ message: `${submission.noWait === true ? "--no-wait" : "--dry-run"} needs a serving runner (start \`gantry serve\`)`, exit: 69 })
        const result = yield* control.submit(submission)
        if (result._tag === "Refused") outcome.exitCode = 75
        if (a.format === "json") return yield* printJson(SubmitResult, result)
        switch (result._tag) {
          case "Accepted":
            return yield* print(`${result.run.id} ${result.run.status}${result.duplicate ? " (already submitted with this idempotency key)" : ""}`)
          case "DryRun":
            return yield* print(result.wouldStart ? `would start now on GPUs [${result.gpus.join(",")}]` : `would wait: ${result.reason ?? result._tag}`)
          case "Refused":
            return yield* Effect.sync(() => process.stderr.write(`gantry: refused (--no-wait): it would not start now: ${result.reason}\n`))
        }
      }),
      { create: true }
    )
  })
).pipe(Command.withDescription("submit a run: gantry submit [options] -- COMMAND [ARGS...]"))

/** The process exit code that mirrors a finished run. */
export const exitCodeOf = (run: RunJson): number => {
  if (run.status === "completed") return 0
  if (run.status === "cancelled") return 130
  if (run.exitCode !== null) return run.exitCode === 0 ? 1 : run.exitCode
  if (run.signal !== null) {
    const number = os.constants.signals[run.signal as NodeJS.Signals]
    return number === undefined ? 1 : 128 + number
  }
  return 1
}

export const runCommand = Command.make("run", submitOptions, (a) =>
  Effect.gen(function* () {
    if (a.dryRun) return yield* usage("gantry run cannot --dry-run; use gantry submit --dry-run")
    const built = yield* early(a)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const submission = yield* submissionOf(a, control, built)
        if (submission.dryRun === true) return yield* usage("gantry run cannot --dry-run; use gantry submit --dry-run")
        if (control.mode === "offline")
          return yield* new CliError({ message: "gantry run needs a serving runner (start `gantry serve`); use gantry submit to queue a run for later", exit: 69 })
        const result = yield* control.submit(submission)
        if (result._tag === "Refused") {
          outcome.exitCode = 75
          return yield* Effect.sync(() => process.stderr.write(`gantry: refused (--no-wait): it would not start now: ${result.reason}\n`))
        }
        if (result._tag !== "Accepted") return
        process.stderr.write(`gantry: run ${result.run.id} ${result.run.status}\n`)
        const status = yield* control.status
        const ended = yield* follow(control, status.dataDir, result.run.id)
        process.stderr.write(`gantry: run ${ended.id} ${F.statusText(ended)}${ended.exitCode !== null ? ` (exit ${ended.exitCode})` : ""}\n`)
        outcome.exitCode = exitCodeOf(ended)
        if (a.format === "json") yield* printJson(RunJson, ended)
      }),
      { create: true }
    )
  })
).pipe(Command.withDescription("submit a run, stream its output, and exit with its exit code"))
