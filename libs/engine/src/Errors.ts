/**
 * Typed errors of the engine's API. Each maps to one HTTP status and CLI exit code
 * (see `errorStatus`), so adapters never invent their own.
 */
import { Data } from "effect"
import type { RunStatus } from "@gantry/core"

export class InvalidSubmission extends Data.TaggedError("InvalidSubmission")<{ readonly message: string }> {}
export class RunNotFound extends Data.TaggedError("RunNotFound")<{ readonly runId: string }> {
  override get message() {
    return `no run ${this.runId}`
  }
}
export class QueueNotFound extends Data.TaggedError("QueueNotFound")<{ readonly queue: string }> {
  override get message() {
    return `no queue ${this.queue}`
  }
}
export class QueueExists extends Data.TaggedError("QueueExists")<{ readonly queue: string }> {
  override get message() {
    return `queue ${this.queue} already exists`
  }
}
export class QueueNotEmpty extends Data.TaggedError("QueueNotEmpty")<{ readonly queue: string; readonly runs: number }> {
  override get message() {
    return `queue ${this.queue} still has ${this.runs} unfinished runs`
  }
}
/** Queue depth reached: HTTP 429 RESOURCE_EXHAUSTED, CLI exit 75 (SPEC §4). */
export class QueueFull extends Data.TaggedError("QueueFull")<{ readonly queue: string; readonly depth: number }> {
  override get message() {
    return `queue ${this.queue} is full (depth ${this.depth})`
  }
}
export class IllegalTransition extends Data.TaggedError("IllegalTransition")<{
  readonly runId: string
  readonly status: RunStatus
  readonly event: string
}> {
  override get message() {
    return `run ${this.runId} is ${this.status}: cannot ${this.event}`
  }
}
export class PermissionDenied extends Data.TaggedError("PermissionDenied")<{ readonly message: string }> {}
export class GpuNotFound extends Data.TaggedError("GpuNotFound")<{ readonly index: number }> {
  override get message() {
    return `no GPU ${this.index}`
  }
}
/** An offline engine (no runner serving the database) was asked to stop a live process. */
export class RunnerRequired extends Data.TaggedError("RunnerRequired")<{ readonly runId: string; readonly action: string }> {
  override get message() {
    return `run ${this.runId} is running: only a serving runner can ${this.action} it (start \`gantry serve\`)`
  }
}
export class InvalidPolicy extends Data.TaggedError("InvalidPolicy")<{ readonly message: string }> {}
/** A submission (or a request) over a size limit (`SubmissionLimits` of @gantry/core): HTTP 413, CLI exit 65. */
export class TooLarge extends Data.TaggedError("TooLarge")<{ readonly field: string; readonly message: string }> {}

/**
 * One submission of a bulk submission was refused, so none was stored: which one (0-based) and
 * why. Its status and codes are those of the refusal.
 */
export class BulkRefused extends Data.TaggedError("BulkRefused")<{ readonly index: number; readonly error: Exclude<EngineError, BulkRefused> }> {
  override get message() {
    return `submission ${this.index + 1}: ${this.error.message}`
  }
}

export type EngineError =
  | InvalidSubmission
  | RunNotFound
  | QueueNotFound
  | QueueExists
  | QueueNotEmpty
  | QueueFull
  | IllegalTransition
  | PermissionDenied
  | GpuNotFound
  | InvalidPolicy
  | RunnerRequired
  | TooLarge
  | BulkRefused

/** HTTP status, API code and CLI exit code of each error. */
export const errorStatus = (error: EngineError): { readonly http: number; readonly code: string; readonly exit: number } => {
  switch (error._tag) {
    case "InvalidSubmission":
    case "InvalidPolicy":
      return { http: 422, code: "INVALID_ARGUMENT", exit: 64 }
    case "RunNotFound":
    case "QueueNotFound":
    case "GpuNotFound":
      return { http: 404, code: "NOT_FOUND", exit: 66 }
    case "QueueExists":
    case "QueueNotEmpty":
    case "IllegalTransition":
      return { http: 409, code: "FAILED_PRECONDITION", exit: 65 }
    case "QueueFull":
      return { http: 429, code: "RESOURCE_EXHAUSTED", exit: 75 }
    case "RunnerRequired":
      return { http: 409, code: "FAILED_PRECONDITION", exit: 69 }
    case "PermissionDenied":
      return { http: 403, code: "PERMISSION_DENIED", exit: 77 }
    case "TooLarge":
      return { http: 413, code: "PAYLOAD_TOO_LARGE", exit: 65 }
    case "BulkRefused":
      return errorStatus(error.error)
  }
}
