/**
 * What comes into the runner, judged once wherever it comes from (the daemon's API, the CLI
 * offline or through a daemon): an engine or store error as the API's tagged error with its
 * code and exit code; a submission or a template as received, refused over a size limit
 * (413, exit 65) or malformed (422, exit 64) naming the field, never echoing a whole value;
 * and what only the runner's machine can judge of it (its working directory).
 */
import {
  type ApiError,
  Conflict,
  Exhausted,
  Forbidden,
  Internal,
  Invalid,
  NotFound,
  SubmitRequest,
  TemplateSubmission,
  TooLarge,
  Unauthorized,
  type ValidationIssue
} from "@gantry/api"
import { type Submission, submissionOverLimit } from "@gantry/core"
import { type EngineError, errorStatus, type StoreError } from "@gantry/engine"
import { Effect, type Either, ParseResult, Schema } from "effect"
import * as fs from "node:fs"

type ErrorFields = { readonly code: string; readonly error: string; readonly message: string; readonly exit: number; readonly detail?: ApiError["detail"] }

/** Each API error's class, by its tag. */
const API_ERRORS: { readonly [K in ApiError["_tag"]]: new (fields: ErrorFields) => Extract<ApiError, { readonly _tag: K }> } = {
  Invalid,
  Unauthorized,
  Forbidden,
  NotFound,
  Conflict,
  TooLarge,
  Exhausted,
  Internal
}

/** The API error of a kind (its tag) with these fields. */
const apiErrorOf = (tag: ApiError["_tag"], fields: ErrorFields): ApiError => new API_ERRORS[tag](fields)

const TAG_OF_STATUS: Readonly<Record<number, ApiError["_tag"]>> = { 403: "Forbidden", 404: "NotFound", 413: "TooLarge", 422: "Invalid", 429: "Exhausted" }

/** The API error for an engine or store error: the status, code and exit code of `errorStatus`. */
export const toApiError = (error: EngineError | StoreError): ApiError => {
  if (error._tag === "StoreError") return new Internal({ code: "INTERNAL", error: "StoreError", message: error.message, exit: 74 })
  const { code, exit, http } = errorStatus(error)
  return apiErrorOf(TAG_OF_STATUS[http] ?? "Conflict", { code, error: error._tag, message: error.message, exit })
}

/** The same error, its message (and a text detail) prefixed: which of many it is about. */
export const prefixed = (e: ApiError, prefix: string): ApiError =>
  apiErrorOf(e._tag, { code: e.code, error: e.error, message: `${prefix}${e.message}`, exit: e.exit, detail: typeof e.detail === "string" ? `${prefix}${e.detail}` : e.detail })

export const invalidArgument = (message: string): ApiError => new Invalid({ code: "INVALID_ARGUMENT", error: "InvalidArgument", message, exit: 64 })

/** A submission over `SubmissionLimits` (413, exit 65). */
export const tooLarge = (message: string): ApiError => new TooLarge({ code: "PAYLOAD_TOO_LARGE", error: "TooLarge", message, exit: 65 })

/** A ParseError as one line per problem: the field's path and what is wrong, never the whole value. */
export const issuesText = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const at = (path: ReadonlyArray<PropertyKey>) => path.map((p) => `[${JSON.stringify(typeof p === "symbol" ? String(p) : p)}]`).join("")
  // an optional field's failure also says "Expected undefined, actual <the whole value>"
  const explained = new Set(issues.filter((i) => !i.message.startsWith("Expected undefined")).map((i) => at(i.path)))
  return issues
    .filter((i) => !(i.message.startsWith("Expected undefined") && explained.has(at(i.path))))
    .map((i) => `${at(i.path)} ${i.message.length > 300 ? `${i.message.slice(0, 300)}…` : i.message}`.trim())
    .join("; ")
}

/** A ParseError as the common queue API's validation details: each problem with its location (`body`, then the field's path). */
export const validationIssues = (where: string, error: ParseResult.ParseError): ReadonlyArray<ValidationIssue> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => ({
    loc: [where, ...i.path.map((p) => (typeof p === "number" ? p : String(p)))],
    msg: i.message.length > 300 ? `${i.message.slice(0, 300)}…` : i.message,
    type: i._tag === "Missing" ? "missing" : i._tag === "Unexpected" ? "extra_forbidden" : "value_error"
  }))

const decodeStrict = Schema.decodeUnknownEither(SubmitRequest, { onExcessProperty: "error", errors: "all" })
const decodeTemplateStrict = Schema.decodeUnknownEither(TemplateSubmission, { onExcessProperty: "error", errors: "all" })

/**
 * A submission (or a template's: `what`) as received (JSON, or the CLI's flags and --file):
 * over a size limit it is refused with 413 / exit 65 naming the field and the limit, malformed
 * with 422 / exit 64 naming the field (never echoing a whole value); it is never stored.
 */
const decodeChecked =
  <A>(decode: (input: unknown) => Either.Either<A, ParseResult.ParseError>, what: string) =>
  (input: unknown): Effect.Effect<A, ApiError> => {
    const over = submissionOverLimit(input)
    if (over !== undefined) return Effect.fail(tooLarge(over.message))
    const decoded = decode(input)
    return decoded._tag === "Right"
      ? Effect.succeed(decoded.right)
      : Effect.fail(
          new Invalid({ code: "INVALID_ARGUMENT", error: "InvalidArgument", message: `${what}: ${issuesText(decoded.left)}`, exit: 64, detail: validationIssues("body", decoded.left) })
        )
  }

export const decodeSubmission: (input: unknown) => Effect.Effect<SubmitRequest, ApiError> = decodeChecked(decodeStrict, "submission")
export const decodeTemplate: (input: unknown) => Effect.Effect<TemplateSubmission, ApiError> = decodeChecked(decodeTemplateStrict, "template")

/**
 * What only the runner's machine can judge of a submission, checked wherever one arrives
 * (the daemon's API and the offline CLI both submit here): that its working directory is a
 * directory here, so a typo fails now, not when the run starts. (Its sizes and fields the
 * engine checks itself, for every caller: `TooLarge`, `InvalidSubmission`.)
 */
export const checkSubmission = (submission: Submission): Effect.Effect<void, ApiError> =>
  Effect.suspend(() => {
    const cwd = submission.cwd
    if (cwd === undefined) return Effect.void
    let stat: fs.Stats | undefined
    try {
      stat = fs.statSync(cwd)
    } catch {
      stat = undefined
    }
    const refuse = (msg: string) =>
      Effect.fail(new Invalid({ code: "INVALID_ARGUMENT", error: "InvalidArgument", message: `cwd: ${msg}`, exit: 64, detail: [{ loc: ["body", "cwd"], msg, type: "value_error" }] }))
    if (stat === undefined) return refuse(`no directory ${cwd} on the runner's machine`)
    if (!stat.isDirectory()) return refuse(`${cwd} is not a directory`)
    return Effect.void
  })
