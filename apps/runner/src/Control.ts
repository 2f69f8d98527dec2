/**
 * What the CLI can ask of a runner, as one interface with two implementations:
 * - `engineControl`: in-process, over an Engine and its Store (the daemon's HTTP handlers
 *   use it, and so does the CLI when no daemon serves the database: an offline engine);
 * - `Client.httpControl`: over HTTP to a serving daemon.
 * Both speak the API's types and fail only with the API's tagged errors, so every command
 * behaves the same whichever way it reaches the runner.
 */
import {
  type GpuJson,
  Internal,
  type ListParams,
  type NewToken,
  type PolicySource,
  type PolicyVersionJson,
  type PositionJson,
  type ProjectChange,
  type QueueChange,
  type QueueInfoJson,
  type RunDetail,
  type RunJson,
  type StatsJson,
  type SubmitRequest,
  type TemplateJson,
  TemplateSubmission,
  type SubmitResult,
  type SystemStatus,
  type TokenJson,
  type TokenRequest,
  type UserChange,
  type UserJson,
  type ApiError
} from "@gantry/api"
import {
  atLeast,
  type Identity,
  isTerminal,
  type Policy,
  type Project,
  type QueueConfig,
  type QueueName,
  routeQueue,
  RunStatus,
  type RunId,
  type Submission
} from "@gantry/core"
import type { EngineError, EngineService, GpuInfo, PolicyVersion, StoreError, StoreService } from "@gantry/engine"
import { NodeExecutor } from "@gantry/platform-node"
import type { StoredTemplate, StoredToken, StoredUser } from "@gantry/store-sqlite"
import { Effect, Fiber, Schema, Stream } from "effect"
import { type Directory, forbidden, notFound } from "./Directory.js"
import { checkSubmission, decodeSubmission, invalidArgument, issuesText, prefixed, toApiError } from "./Judge.js"
import { samePolicy } from "./PolicyDiff.js"

export interface Control {
  /** "daemon" when a serving runner answers; "offline" when the CLI runs its own engine. */
  readonly mode: "daemon" | "offline"
  readonly submit: (request: SubmitRequest) => Effect.Effect<SubmitResult, ApiError>
  /** Many submissions in one transaction: all stored, or none and the refused one named ("submission N: ..."). */
  readonly submitMany: (requests: ReadonlyArray<SubmitRequest>) => Effect.Effect<ReadonlyArray<RunJson>, ApiError>
  readonly list: (params: ListParams) => Effect.Effect<ReadonlyArray<RunJson>, ApiError>
  readonly show: (id: RunId) => Effect.Effect<RunDetail, ApiError>
  readonly position: (id: RunId) => Effect.Effect<PositionJson, ApiError>
  readonly cancel: (ids: ReadonlyArray<RunId>, all: boolean) => Effect.Effect<ReadonlyArray<RunId>, ApiError>
  readonly release: (id: RunId) => Effect.Effect<RunJson, ApiError>
  readonly approve: (id: RunId) => Effect.Effect<RunJson, ApiError>
  readonly reject: (id: RunId, reason: string) => Effect.Effect<RunJson, ApiError>
  readonly priority: (id: RunId, priority: number | null) => Effect.Effect<RunJson, ApiError>
  readonly limits: Effect.Effect<Policy, ApiError>
  /**
   * Makes `policy` the live one, as a new version (the live one's + 1, whatever its own
   * `version` says), recorded with the caller, `how.source` (default `put`) and `how.note`.
   * One that changes nothing but the version is not applied: the live policy is the answer.
   */
  readonly setLimits: (policy: Policy, how?: PolicyHow) => Effect.Effect<Policy, ApiError>
  /** The policy's versions, newest first (at most `limit`). */
  readonly policyHistory: (limit?: number) => Effect.Effect<ReadonlyArray<PolicyVersionJson>, ApiError>
  /** One version of the policy, or NotFound. */
  readonly policyVersion: (version: number) => Effect.Effect<PolicyVersionJson, ApiError>
  /** Runs a cycle now; the runs it started. */
  readonly process: Effect.Effect<ReadonlyArray<RunId>, ApiError>
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
  /** The caller's own identity. */
  readonly me: Effect.Effect<Identity, ApiError>
  readonly users: Effect.Effect<ReadonlyArray<UserJson>, ApiError>
  readonly setUser: (name: string, change: UserChange) => Effect.Effect<UserJson, ApiError>
  readonly tokens: Effect.Effect<ReadonlyArray<TokenJson>, ApiError>
  readonly createToken: (request: TokenRequest) => Effect.Effect<NewToken, ApiError>
  readonly revokeToken: (id: string) => Effect.Effect<TokenJson, ApiError>
  readonly projects: Effect.Effect<ReadonlyArray<Project>, ApiError>
  readonly createProject: (project: Project) => Effect.Effect<Project, ApiError>
  readonly updateProject: (name: string, change: ProjectChange) => Effect.Effect<Project, ApiError>
  readonly deleteProject: (name: string) => Effect.Effect<void, ApiError>
  readonly templates: Effect.Effect<ReadonlyArray<TemplateJson>, ApiError>
  readonly template: (name: string) => Effect.Effect<TemplateJson, ApiError>
  /** Saves (or replaces: its creator or an admin) a run template. */
  readonly saveTemplate: (name: string, submission: TemplateSubmission) => Effect.Effect<TemplateJson, ApiError>
  readonly deleteTemplate: (name: string) => Effect.Effect<void, ApiError>
}

/** How a policy change came: what a client says over `PUT /api/policy`, or the common API's concurrency route; and why. */
export interface PolicyHow {
  readonly source?: PolicySource | "concurrency"
  readonly note?: string
}

const DAY_MS = 86_400_000

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
  readonly directory: Directory
  /**
   * Why the user's runs could not start on this machine (no Unix account to run them under),
   * or null when they can: asked at every submission, so such a run is refused now, not
   * failed when it starts.
   */
  readonly accountProblem: (identity: Identity) => string | null
  readonly inventory: ReadonlyArray<GpuInfo>
  readonly dataDir: string
  readonly version: string
  readonly now: () => number
}

/** The runner's Controls: one per caller, each allowed what its identity may do. */
export interface Controls {
  readonly forCaller: (caller: Identity) => Control
  /** Releases every long-poll (the daemon is stopping). */
  readonly close: () => void
}

/** A template's submission as submitted: the run's metadata names the template (`config_name`). */
export const fromTemplate = (name: string, submission: { readonly metadata?: unknown }): Record<string, unknown> => {
  const metadata = typeof submission.metadata === "object" && submission.metadata !== null ? submission.metadata : {}
  return { ...submission, metadata: { ...metadata, config_name: name } }
}

const policyVersionJson = (v: PolicyVersion): PolicyVersionJson => ({
  version: v.version,
  policy: v.policy,
  appliedBy: v.appliedBy,
  appliedAt: v.appliedAt,
  source: v.source,
  note: v.note
})
const userJson = (u: StoredUser): UserJson => ({ id: u.id, identity: u.identity, owner: u.owner, createdAt: u.createdAt })
const decodeStoredTemplate = Schema.decodeUnknownEither(TemplateSubmission)
/** A stored template as the API shows it (one that no longer decodes is the store's error). */
const templateJson = (t: StoredTemplate): Effect.Effect<TemplateJson, ApiError> => {
  const submission = decodeStoredTemplate(t.submission)
  return submission._tag === "Right"
    ? Effect.succeed({ name: t.name, submission: submission.right, createdBy: t.createdBy, createdAt: t.createdAt, updatedAt: t.updatedAt })
    : Effect.fail(new Internal({ code: "INTERNAL", error: "StoreError", message: `template ${t.name} is corrupt: ${issuesText(submission.left)}`, exit: 74 }))
}
const tokenJson = (t: StoredToken): TokenJson => ({
  id: t.id,
  user: t.user as TokenJson["user"],
  label: t.label,
  createdAt: t.createdAt,
  createdBy: t.createdBy,
  revokedAt: t.revokedAt,
  revokedBy: t.revokedBy
})

/**
 * Who may do what (SPEC §8), in one place: every Control method of `forCaller` asks here.
 * - a viewer only reads;
 * - a researcher submits, and cancels and releases their own runs;
 * - a lead also cancels and releases anyone's runs and sets priority overrides;
 * - an admin does everything, including approve/reject, process, cleanup, limits, queues,
 *   projects, GPU drain, users and tokens, and submitting on behalf of another user.
 */
export const Access = {
  submit: (caller: Identity) => atLeast(caller, "researcher"),
  actOnOthersRuns: (caller: Identity) => atLeast(caller, "lead"),
  setPriority: (caller: Identity) => atLeast(caller, "lead"),
  administer: (caller: Identity) => atLeast(caller, "admin")
} as const

/** Controls over an engine, its store and the directory: the daemon's HTTP handlers and the offline CLI use them. */
export const engineControls = (o: EngineControlOptions): Controls => {
  const { engine, store, directory } = o
  const counter = new ChangeCounter()
  /** One policy change at a time (every caller's): its version is the live one's + 1. */
  const policyLock = Effect.runSync(Effect.makeSemaphore(1))
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
  const directoryApi = <A>(effect: Effect.Effect<A, ApiError | StoreError, never>): Effect.Effect<A, ApiError> =>
    Effect.catchTag(effect, "StoreError", (e) => Effect.fail(toApiError(e)))

  const forCaller = (caller: Identity): Control => {
    const require = (allowed: boolean, what: string): Effect.Effect<void, ApiError> =>
      allowed ? Effect.void : Effect.fail(forbidden(`${caller.name} is ${caller.level === "admin" ? "an" : "a"} ${caller.level}: only ${what}`))
    const admin = (what: string) => require(Access.administer(caller), `an admin may ${what}`)

    /** The runs of `ids` the caller may act on; refused as a whole when one is someone else's (and the caller is not a lead or admin). */
    const ownRuns = (ids: ReadonlyArray<RunId>, what: string): Effect.Effect<void, ApiError> =>
      Effect.gen(function* () {
        yield* require(Access.submit(caller), `researchers, leads and admins may ${what} runs`)
        if (Access.actOnOthersRuns(caller)) return
        for (const id of ids) {
          const run = yield* Effect.either(api(engine.getRun(id)))
          // a missing run is the engine's to report (404), for every caller alike
          if (run._tag === "Right" && run.right.user !== caller.name)
            return yield* Effect.fail(forbidden(`run ${id} is ${run.right.user}'s: only its owner, a lead or an admin may ${what} it`))
        }
      })

    /** The submission the engine gets: its owner's identity, project and queue (SPEC §1 routing). */
    const submissionOf = (request: SubmitRequest): Effect.Effect<Submission, ApiError> =>
      Effect.gen(function* () {
        yield* require(Access.submit(caller), "researchers, leads and admins may submit runs")
        let owner = caller
        if (request.user !== undefined && request.user !== caller.name) {
          yield* admin(`submit on behalf of another user (--as ${request.user})`)
          const stored = directory.user(request.user)
          if (stored === undefined) return yield* Effect.fail(notFound("UserNotFound", `no user ${request.user} (gantry user set ${request.user} --level researcher)`))
          owner = stored.identity
        }
        if (request.level !== undefined && request.level !== owner.level)
          return yield* Effect.fail(forbidden(`a run's level comes from its owner's identity: ${owner.name} is ${owner.level}, not ${request.level}`))
        if (request.team !== undefined && request.team !== owner.team)
          return yield* Effect.fail(forbidden(`a run's team comes from its owner's identity: ${owner.name}'s team is ${owner.team ?? "none"}, not ${request.team}`))
        const projectName = request.project ?? owner.projects[0]
        const project = projectName === undefined ? null : (directory.project(projectName) ?? null)
        if (projectName !== undefined && project === null) return yield* Effect.fail(notFound("ProjectNotFound", `no project ${projectName} (gantry projects lists them)`))
        if (project !== null && !Access.administer(owner) && !owner.projects.includes(project.name))
          return yield* Effect.fail(forbidden(`${owner.name} is not a member of project ${project.name} (their projects: ${owner.projects.join(", ") || "none"})`))
        const routed = routeQueue(request.queue, project)
        if (routed._tag === "Left") return yield* Effect.fail(forbidden(routed.left.message))
        const problem = o.accountProblem(owner)
        if (problem !== null) return yield* Effect.fail(forbidden(problem))
        const { user: _user, level: _level, team: _team, project: _project, queue: _queue, ...rest } = request
        return {
          ...rest,
          user: owner.name,
          level: owner.level,
          ...(owner.team !== null ? { team: owner.team } : {}),
          ...(project !== null ? { project: project.name } : {}),
          queue: routed.right
        }
      })

    return {
      mode: o.mode,
      submit: (request) =>
        Effect.gen(function* () {
          const submission = yield* submissionOf(request)
          yield* checkSubmission(submission)
          return (yield* api(engine.submit(submission))) as SubmitResult
        }),
      submitMany: (requests) =>
        Effect.gen(function* () {
          const submissions: Array<Submission> = []
          for (let i = 0; i < requests.length; i++) {
            const named = (e: ApiError) => prefixed(e, `submission ${i + 1}: `)
            const submission = yield* Effect.mapError(submissionOf(requests[i]!), named)
            yield* Effect.mapError(checkSubmission(submission), named)
            submissions.push(submission)
          }
          return yield* api(engine.submitMany(submissions))
        }),
      list: (params) =>
        Effect.gen(function* () {
          // "queued" is the common queue API's word for pending
          const statuses =
            params.status === undefined
              ? undefined
              : statusList(
                  params.status
                    .split(",")
                    .map((s) => s.trim())
                    .filter((s) => s !== "")
                    .map((s) => (s === "queued" ? "pending" : s))
                )
          if (statuses !== undefined && statuses._tag === "Left")
            return yield* Effect.fail(invalidArgument(`unknown status in "${params.status}" (one of ${RunStatus.literals.join(", ")}; queued is pending)`))
          const status = statuses?._tag === "Right" ? statuses.right : params.include_completed === false ? RunStatus.literals.filter((s) => !isTerminal(s)) : undefined
          return yield* api(
            store.listRuns({
              ...(status !== undefined ? { status } : {}),
              ...(params.queue !== undefined ? { queue: params.queue } : {}),
              ...(params.user !== undefined ? { user: params.user } : {}),
              ...(params.limit !== undefined ? { limit: params.limit } : {}),
              ...(params.offset !== undefined ? { offset: params.offset } : {})
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
            yield* require(Access.submit(caller), "researchers, leads and admins may cancel runs")
            const live = yield* api(store.listRuns({ status: ["held", "blocked", "pending", "running"] }))
            // --all: everyone's for a lead or an admin, the caller's own otherwise
            targets = live.filter((r) => Access.actOnOthersRuns(caller) || r.user === caller.name).map((r) => r.id)
          } else yield* ownRuns(ids, "cancel")
          return yield* api(engine.cancel(targets))
        }),
      release: (id) => Effect.zipRight(ownRuns([id], "release"), api(engine.release(id))),
      approve: (id) => Effect.zipRight(admin("approve runs"), api(engine.approve(id))),
      reject: (id, reason) => Effect.zipRight(admin("reject runs"), api(engine.reject(id, reason))),
      priority: (id, priority) => Effect.zipRight(require(Access.setPriority(caller), "a lead or an admin may set a priority override"), api(engine.setPriority(id, priority))),
      limits: engine.policy,
      setLimits: (policy, how = {}) =>
        policyLock.withPermits(1)(
          Effect.gen(function* () {
            yield* admin("change limits and policy")
            // read and numbered under the lock: two changes at once get two versions, in order
            const current = yield* engine.policy
            if (samePolicy(current, policy)) return current
            const note = how.note?.trim() ?? ""
            return yield* api(
              engine.updatePolicy({ ...policy, version: current.version + 1 }, { appliedBy: caller.name, source: how.source ?? "put", note: note === "" ? null : note })
            )
          })
        ),
      policyHistory: (limit) => Effect.map(api(store.policyHistory(limit === undefined ? {} : { limit })), (versions) => versions.map(policyVersionJson)),
      policyVersion: (version) =>
        Effect.flatMap(api(store.policyVersion(version)), (found) =>
          found === undefined ? Effect.fail(notFound("PolicyVersionNotFound", `no policy version ${version} (gantry policy history lists them)`)) : Effect.succeed(policyVersionJson(found))
        ),
      process: Effect.zipRight(admin("run a scheduling cycle (process)"), engine.process),
      cleanup: (days) =>
        Effect.gen(function* () {
          yield* admin("clean up finished runs")
          if (days < 1 || days > 365 || !Number.isInteger(days)) return yield* Effect.fail(invalidArgument(`--days must be a whole number from 1 to 365, not ${days}`))
          const before = o.now() - days * DAY_MS
          // the runs' files (logs, exit files) go with their rows, after the rows are gone
          const doomed = (yield* api(store.listRuns({ status: RunStatus.literals.filter(isTerminal) }))).filter((r) => r.endedAt !== null && r.endedAt < before)
          const removed = yield* api(store.cleanup(before))
          for (const run of doomed) NodeExecutor.removeRunFiles(o.dataDir, run.id, run.attempt)
          return removed
        }),
      stats,
      queues: engine.queues,
      createQueue: (config) => Effect.zipRight(admin("create queues"), api(engine.createQueue(config))),
      updateQueue: (name, change) => Effect.zipRight(admin("change queues"), api(engine.updateQueue(name, change))),
      deleteQueue: (name, drain) => Effect.zipRight(admin("delete queues"), api(engine.deleteQueue(name, { drain }))),
      status: Effect.gen(function* () {
        return { version: o.version, pid: process.pid, dataDir: o.dataDir, gpus: yield* gpus, stats: yield* stats }
      }),
      drain: (index, drained) => Effect.zipRight(admin(drained ? "drain GPUs" : "undrain GPUs"), api(engine.drainGpu(index, drained))),
      changes: (since, timeoutMs) => counter.wait(since, timeoutMs),
      me: Effect.succeed(caller),
      users: Effect.as(admin("list users"), directory.users().map(userJson)),
      setUser: (name, change) => Effect.zipRight(admin("change users"), Effect.map(directoryApi(directory.setUser(name, change)), userJson)),
      tokens: Effect.as(admin("list tokens"), directory.tokens().map(tokenJson)),
      createToken: (request) =>
        Effect.gen(function* () {
          yield* admin("create tokens")
          const { user, label, ...change } = request
          const made = yield* directoryApi(directory.createToken(caller.name, user, change, label ?? null))
          return { token: made.token, record: tokenJson(made.record), user: userJson(made.user) }
        }),
      revokeToken: (id) => Effect.zipRight(admin("revoke tokens"), Effect.map(directoryApi(directory.revokeToken(caller.name, id)), tokenJson)),
      projects: Effect.sync(() => directory.projects()),
      createProject: (project) => Effect.zipRight(admin("create projects"), directoryApi(directory.createProject(project))),
      updateProject: (name, change) => Effect.zipRight(admin("change projects"), directoryApi(directory.updateProject(name, change))),
      deleteProject: (name) => Effect.zipRight(admin("delete projects"), directoryApi(directory.deleteProject(name))),
      templates: Effect.forEach(directory.templates(), templateJson),
      template: (name) => {
        const stored = directory.template(name)
        return stored === undefined ? Effect.fail(notFound("TemplateNotFound", `no template ${name} (gantry config list)`)) : templateJson(stored)
      },
      saveTemplate: (name, submission) =>
        Effect.gen(function* () {
          yield* require(Access.submit(caller), "researchers, leads and admins may save run templates")
          // the rules of a submission, but for its owner: sizes, fields, a working directory here
          const checked = yield* decodeSubmission({ ...submission, user: caller.name })
          yield* checkSubmission(checked as Submission)
          const ownTemplate = (existing: StoredTemplate) =>
            existing.createdBy === caller.name || Access.administer(caller)
              ? Effect.void
              : Effect.fail(forbidden(`template ${name} is ${existing.createdBy}'s: only its creator or an admin may change it`))
          return yield* templateJson(yield* directoryApi(directory.saveTemplate(caller.name, name, submission, ownTemplate)))
        }),
      deleteTemplate: (name) =>
        directoryApi(
          directory.deleteTemplate(name, (existing) =>
            existing.createdBy === caller.name || Access.administer(caller)
              ? Effect.void
              : Effect.fail(forbidden(`template ${name} is ${existing.createdBy}'s: only its creator or an admin may delete it`))
          )
        )
    }
  }
  return {
    forCaller,
    close: () => {
      counter.close()
      Effect.runFork(Fiber.interrupt(watcher))
    }
  }
}
