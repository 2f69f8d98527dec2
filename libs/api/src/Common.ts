/**
 * What every group of the API shares: the error classes (each carries the API code, the CLI
 * exit code and the `detail` the common queue API's clients read), the caller's identity
 * from a bearer token or an `X-API-Key`, and the path and query values.
 */
import { HttpApiMiddleware, HttpApiSchema, HttpApiSecurity } from "@effect/platform"
import { Identity, IdentityName, ProjectName, QueueName, RunId } from "@gantry/core"
import { Context, Schema } from "effect"

const Int = Schema.Int

// ------------------------------------------------------------------ errors

/** One problem of a request the schemas refuse, as FastAPI's validation errors have it. */
export const ValidationIssue = Schema.Struct({
  /** Where: "body", "path" or "query", then the field's path. */
  loc: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
  msg: Schema.String,
  type: Schema.String
})
export type ValidationIssue = typeof ValidationIssue.Type

const errorFields = {
  /** Stable API code (INVALID_ARGUMENT, NOT_FOUND, ...). */
  code: Schema.String,
  /** The engine error's tag (QueueFull, RunNotFound, ...). */
  error: Schema.String,
  message: Schema.String,
  /** The CLI's exit code for this error. */
  exit: Int,
  /**
   * What clients of the common queue API read: the message, or for a request the schemas
   * refuse (422) every problem with the field's location.
   */
  detail: Schema.Union(Schema.String, Schema.Array(ValidationIssue))
}

/** An error's fields as made: `detail` is the message unless given (a validation error's issues). */
interface ErrorProps {
  readonly code: string
  readonly error: string
  readonly message: string
  readonly exit: number
  readonly detail?: string | ReadonlyArray<ValidationIssue>
}
const withDetail = (props: ErrorProps) => ({ ...props, detail: props.detail ?? props.message })

/** A request the schemas or the engine refuse as malformed: 422 INVALID_ARGUMENT, exit 64. */
export class Invalid extends Schema.TaggedError<Invalid>()("Invalid", errorFields, HttpApiSchema.annotations({ status: 422 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", errorFields, HttpApiSchema.annotations({ status: 401 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", errorFields, HttpApiSchema.annotations({ status: 403 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", errorFields, HttpApiSchema.annotations({ status: 404 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", errorFields, HttpApiSchema.annotations({ status: 409 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
/** A request body or a submission over a size limit (`SubmissionLimits`): 413 PAYLOAD_TOO_LARGE, exit 65. */
export class TooLarge extends Schema.TaggedError<TooLarge>()("TooLarge", errorFields, HttpApiSchema.annotations({ status: 413 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
export class Exhausted extends Schema.TaggedError<Exhausted>()("Exhausted", errorFields, HttpApiSchema.annotations({ status: 429 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
export class Internal extends Schema.TaggedError<Internal>()("Internal", errorFields, HttpApiSchema.annotations({ status: 500 })) {
  constructor(props: ErrorProps, options?: Schema.MakeOptions) {
    super(withDetail(props), options)
  }
}
export type ApiError = Invalid | Unauthorized | Forbidden | NotFound | Conflict | TooLarge | Exhausted | Internal

// ------------------------------------------------------------------ security

/** Who is calling: the identity the daemon maps the bearer token to. */
export class Caller extends Context.Tag("@gantry/api/Caller")<Caller, Identity>() {}

/**
 * A token as `Authorization: Bearer TOKEN`, or as `X-API-Key: TOKEN` (what the common queue
 * API's own clients send).
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("@gantry/api/Authorization", {
  failure: Unauthorized,
  provides: Caller,
  security: { bearer: HttpApiSecurity.bearer, apiKey: HttpApiSecurity.apiKey({ key: "X-API-Key", in: "header" }) }
}) {}

// ------------------------------------------------------------------ values

/** Request bodies refuse unknown fields (a typo must not be silently dropped). */
export const strict = <S extends Schema.Schema.Any>(schema: S): S => schema.annotations({ parseOptions: { onExcessProperty: "error" } }) as S

export const id = HttpApiSchema.param("id", RunId)
export const queueName = HttpApiSchema.param("name", QueueName)
export const userName = HttpApiSchema.param("name", IdentityName)
export const projectName = HttpApiSchema.param("name", ProjectName)
export const tokenId = HttpApiSchema.param("id", Schema.String.pipe(Schema.pattern(/^[0-9a-f]{12}$/)))
/**
 * A whole number in a path or query: decimal digits only (NumberFromString alone would take
 * "0x1", "1e3" or " 1" for numbers).
 */
export const IntFromString = Schema.String.pipe(
  Schema.pattern(/^-?\d{1,15}$/, { message: () => "a whole number in decimal digits" }),
  Schema.compose(Schema.NumberFromString),
  Schema.int()
)
export const gpuIndex = HttpApiSchema.param("index", IntFromString.pipe(Schema.nonNegative()))


export const BooleanFromString = Schema.Literal("true", "false").pipe(Schema.transform(Schema.Boolean, { decode: (s) => s === "true", encode: (b) => (b ? "true" : "false") }))

