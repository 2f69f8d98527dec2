/**
 * What the CLI can ask of a runner, as one interface with two implementations:
 * - `engineControl`: in-process, over an Engine and its Store (the daemon's HTTP handlers
 *   use it, and so does the CLI when no daemon serves the database: an offline engine);
 * - `Client.httpControl`: over HTTP to a serving daemon.
 * Both speak the API's types and fail only with the API's tagged errors, so every command
 * behaves the same whichever way it reaches the runner.
 */
import {
  BadRequest,
  Conflict,
  Exhausted,
  Forbidden,
  type GpuJson,
  Internal,
  type ListParams,
  NotFound,
  type PositionJson,
  type QueueChange,
  type QueueInfoJson,
  type RunDetail,
  type RunJson,
  type StatsJson,
  type SubmitResult,
  type SystemStatus,
  TooLarge,
  type ApiError
} from "@gantry/api"
import { isTerminal, type Policy, type QueueConfig, type QueueName, RunStatus, type RunId, Submission, submissionOverLimit } from "@gantry/core"
import { type EngineError, type EngineService, errorStatus, type GpuInfo, type StoreError, type StoreService } from "@gantry/engine"
import { NodeExecutor } from "@gantry/platform-node"
import { Effect, Fiber, ParseResult, Schema, Stream } from "effect"
import * as fs from "node:fs"

export interface Control {
  /** "daemon" when a serving runner answers; "offline" when the CLI runs its own engine. */
  readonly mode: "daemon" | "offline"
  readonly submit: (submission: Submission) => Effect.Effect<SubmitResult, ApiError>
  readonly list: (params: ListParams) => Effect.Effect<ReadonlyArray<RunJson>, ApiError>
  readonly show: (id: RunId) => Effect.Effect<RunDetail, ApiError>
  readonly position: (id: RunId) => Effect.Effect<PositionJson, ApiError>
  readonly cancel: (ids: ReadonlyArray<RunId>, all: boolean) => Effect.Effect<ReadonlyArray<RunId>, ApiError>
  readonly release: (id: RunId) => Effect.Effect<RunJson, ApiError>
  readonly approve: (id: RunId) => Effect.Effect<RunJson, ApiError>
  readonly reject: (id: RunId, reason: string) => Effect.Effect<RunJson, ApiError>
  readonly priority: (id: RunId, priority: number | null) => Effect.Effect<RunJson, ApiError>
  readonly limits: Effect.Effect<Policy, ApiError>
  readonly setLimits: (policy: Policy) => Effect.Effect<Policy, ApiError>
  readonly trigger: Effect.Effect<void, ApiError>
  readonly cleanup: (days: number) => Effect.Effect<number, ApiError>
  readonly stats: Effect.Effect<StatsJson, ApiError>
  readonly queues: Effect.Effect<ReadonlyArray<QueueInfoJson>, ApiError>
  readonly createQueue: (config: QueueConfig) => Effect.Effect<QueueConfig, ApiError>
  readonly updateQueue: (name: QueueName, change: QueueChange) => Effect.Effect<QueueConfig, ApiError>
  readonly deleteQueue: (name: QueueName, drain: boolean) => Effect.Effect<void, ApiError>
  readonly status: Effect.Effect<SystemStatus, ApiError>
  readonly drain: (index: number, drained: boolean) => Effect.Effect<void, ApiError>
  /** Resolves with the change counter once it passes `since`, or after `timeoutMs`. */
  readonly changes: (since: number, timeoutMs: number) => Effect.Effect<number, ApiError>
}

const DAY_MS = 86_400_000

/** The API error for an engine or store error: the status, code and exit code of `errorStatus`. */
export const toApiError = (error: EngineError | StoreError): ApiError => {
  if (error._tag === "StoreError") return new Internal({ code: "INTERNAL", error: "StoreError", message: error.message, exit: 74 })
  const { code, exit, http } = errorStatus(error)
  const fields = { code, error: error._tag, message: error.message, exit }
  switch (http) {
    case 400:
      return new BadRequest(fields)
    case 403:
      return new Forbidden(fields)
    case 404:
      return new NotFound(fields)
    case 413:
      return new TooLarge(fields)
    case 429:
      return new Exhausted(fields)
    default:
      return new Conflict(fields)
  }
}

export const badRequest = (message: string): ApiError => new BadRequest({ code: "INVALID_ARGUMENT", error: "InvalidArgument", message, exit: 64 })

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

const decodeStrict = Schema.decodeUnknownEither(Submission, { onExcessProperty: "error", errors: "all" })

/**
 * A submission as received (JSON, or the CLI's flags and --file): over a size limit it is
 * refused with 413 / exit 65 naming the field and the limit, malformed with 400 / exit 64
 * naming the field; it is never stored.
 */
export const decodeSubmission = (input: unknown): Effect.Effect<Submission, ApiError> => {
  const over = submissionOverLimit(input)
  if (over !== undefined) return Effect.fail(tooLarge(over.message))
  const decoded = decodeStrict(input)
  return decoded._tag === "Right" ? Effect.succeed(decoded.right) : Effect.fail(badRequest(`submission: ${issuesText(decoded.left)}`))
}

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
    if (stat === undefined) return Effect.fail(badRequest(`cwd: no directory ${cwd} on the runner's machine`))
    if (!stat.isDirectory()) return Effect.fail(badRequest(`cwd: ${cwd} is not a directory`))
    return Effect.void
  })

const api = <A>(effect: Effect.Effect<A, EngineError | StoreError>): Effect.Effect<A, ApiError> => Effect.mapError(effect, toApiError)

const statusList = Schema.decodeUnknownEither(Schema.Array(RunStatus))

/** What a long-poll gets once the daemon stops: its followers end instead of asking again. */
const stopping: ApiError = new Internal({ code: "UNAVAILABLE", error: "Stopping", message: "the runner is stopping", exit: 69 })

/** Change notifications for long-polling clients (`run`, `runs --watch`). */
export class ChangeCounter {
  version = 0
  private closed = false
  private readonly waiters = new Set<() => void>()
  bump(): void {
    this.version++
    for (const wake of [...this.waiters]) wake()
  }
  /** Answers every waiting long-poll now, and every later one at once (the daemon is stopping). */
  close(): void {
    this.closed = true
    for (const wake of [...this.waiters]) wake()
  }
  wait(since: number, timeoutMs: number): Effect.Effect<number, ApiError> {
    return Effect.suspend(() => {
      if (this.closed) return Effect.fail(stopping)
      if (this.version > since) return Effect.succeed(this.version)
      return this.register(timeoutMs)
    })
  }
  private register(timeoutMs: number): Effect.Effect<number, ApiError> {
    return Effect.async<number, ApiError>((resume) => {
      const wake = () => {
        this.waiters.delete(wake)
        resume(this.closed ? Effect.fail(stopping) : Effect.succeed(this.version))
      }
      this.waiters.add(wake)
      return Effect.sync(() => this.waiters.delete(wake))
    }).pipe(Effect.timeoutTo({ duration: timeoutMs, onTimeout: () => this.version, onSuccess: (v) => v }))
  }
}

export interface EngineControlOptions {
  readonly mode: "daemon" | "offline"
  readonly engine: EngineService
  readonly store: StoreService
  readonly inventory: ReadonlyArray<GpuInfo>
  readonly dataDir: string
  readonly version: string
  readonly now: () => number
}

/** A Control over an engine, and `close` to release its long-polls when the daemon stops. */
export const engineControl = (o: EngineControlOptions): Control & { readonly close: () => void } => {
  const { engine, store } = o
  const counter = new ChangeCounter()
  // committed events, not transitions: a client woken by the bump lists from the store, which
  // has the change by then (the subscription is taken now, before this returns)
  const watcher = Effect.runFork(Stream.runForEach(engine.events, () => Effect.sync(() => counter.bump())))
  const position = (id: RunId) => api(engine.position(id)) as Effect.Effect<PositionJson, ApiError>
  const stats = engine.stats as Effect.Effect<StatsJson>
  const gpus = Effect.map(engine.gpus, (views): ReadonlyArray<GpuJson> =>
    views.map((view) => {
      const info = o.inventory.find((g) => g.index === view.index)
      return { index: view.index, uuid: info?.uuid ?? "", name: info?.name ?? "", memoryMiB: info?.memoryMiB ?? 0, drained: view.drained, heldBy: view.heldBy }
    })
  )
  return {
    mode: o.mode,
    submit: (submission) => Effect.zipRight(checkSubmission(submission), api(engine.submit(submission)) as Effect.Effect<SubmitResult, ApiError>),
    list: (params) =>
      Effect.gen(function* () {
        const statuses = params.status === undefined ? undefined : statusList(params.status.split(",").map((s) => s.trim()).filter((s) => s !== ""))
        if (statuses !== undefined && statuses._tag === "Left")
          return yield* Effect.fail(badRequest(`unknown status in "${params.status}" (one of ${RunStatus.literals.join(", ")})`))
        const status = statuses?._tag === "Right" ? statuses.right : params.include_completed === false ? RunStatus.literals.filter((s) => !isTerminal(s)) : undefined
        return yield* api(
          store.listRuns({
            ...(status !== undefined ? { status } : {}),
            ...(params.queue !== undefined ? { queue: params.queue } : {}),
            ...(params.user !== undefined ? { user: params.user } : {}),
            ...(params.limit !== undefined ? { limit: params.limit } : {})
          })
        )
      }),
    show: (id) =>
      Effect.gen(function* () {
        const run = yield* api(engine.getRun(id))
        const timeline = yield* api(engine.timeline(id))
        const where = run.status === "pending" ? yield* position(id) : null
        return { run, timeline, position: where }
      }),
    position,
    cancel: (ids, all) =>
      Effect.gen(function* () {
        let targets = ids
        if (all) {
          const live = yield* api(store.listRuns({ status: ["held", "blocked", "pending", "running"] }))
          targets = live.map((r) => r.id)
        }
        return yield* api(engine.cancel(targets))
      }),
    release: (id) => api(engine.release(id)),
    approve: (id) => api(engine.approve(id)),
    reject: (id, reason) => api(engine.reject(id, reason)),
    priority: (id, priority) => api(engine.setPriority(id, priority)),
    limits: engine.policy,
    setLimits: (policy) => api(engine.updatePolicy(policy)),
    trigger: engine.trigger,
    cleanup: (days) =>
      Effect.gen(function* () {
        if (days < 1 || days > 365 || !Number.isInteger(days)) return yield* Effect.fail(badRequest(`--days must be a whole number from 1 to 365, not ${days}`))
        const before = o.now() - days * DAY_MS
        // the runs' files (logs, exit files) go with their rows, after the rows are gone
        const doomed = (yield* api(store.listRuns({ status: RunStatus.literals.filter(isTerminal) }))).filter((r) => r.endedAt !== null && r.endedAt < before)
        const removed = yield* api(store.cleanup(before))
        for (const run of doomed) NodeExecutor.removeRunFiles(o.dataDir, run.id, run.attempt)
        return removed
      }),
    stats,
    queues: engine.queues,
    createQueue: (config) => api(engine.createQueue(config)),
    updateQueue: (name, change) => api(engine.updateQueue(name, change)),
    deleteQueue: (name, drain) => api(engine.deleteQueue(name, { drain })),
    status: Effect.gen(function* () {
      return { version: o.version, pid: process.pid, dataDir: o.dataDir, gpus: yield* gpus, stats: yield* stats }
    }),
    drain: (index, drained) => api(engine.drainGpu(index, drained)),
    changes: (since, timeoutMs) => counter.wait(since, timeoutMs),
    close: () => {
      counter.close()
      Effect.runFork(Fiber.interrupt(watcher))
    }
  }
}
