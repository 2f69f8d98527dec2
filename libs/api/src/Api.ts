/**
 * The runner's HTTP API (SPEC §8), defined once with @effect/platform's HttpApi: the daemon
 * implements it (apps/runner Server.ts), the CLI derives its client from it, and the OpenAPI
 * document comes from it (`GET /api/openapi.json`, browsable at `/docs`).
 *
 * Two families of routes, one document:
 * - the common GPU-server queue API (`/api/queue…`, `/api/system/status`, `/api/cloud/jobs…`:
 *   QueueApi.ts), in that API's own shapes, so its clients work unchanged;
 * - gantry's own, richer routes, which gantry's CLI uses: runs (`/api/runs…`), the policy,
 *   queues, GPUs, users and tokens, projects and saved run templates (`/api/configs`).
 *
 * Every engine error crosses the wire as one of the tagged errors of Common.ts, carrying the
 * API code, the CLI exit code of `errorStatus` and a `detail`, so a client never invents its
 * own mapping.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import {
  Identity,
  IdentityName,
  Level,
  Policy,
  Project,
  ProjectName,
  QueueConfig,
  QueueName,
  Run,
  RunEvent,
  RunId,
  RunStatus,
  Submission,
  TeamName,
  UnixUserName,
  UserName,
  WaitReason
} from "@gantry/core"
import { ParseResult, Schema } from "effect"
import {
  Authorization,
  BooleanFromString,
  Conflict,
  Exhausted,
  Forbidden,
  gpuIndex,
  id,
  Internal,
  Invalid,
  IntFromString,
  NotFound,
  projectName,
  queueName,
  strict,
  TooLarge,
  tokenId,
  userName
} from "./Common.js"
import { commonJobsGroup, commonQueueGroup, commonSystemGroup } from "./QueueApi.js"

// ------------------------------------------------------------------ values

const Int = Schema.Int

// ------------------------------------------------------------------ times

const DAY_MS = 86_400_000
/** The Gregorian calendar repeats every 400 years: 146,097 days. */
const CYCLE_MS = 146_097 * DAY_MS
/** Years as ISO 8601 writes them: four digits, or a sign and six (JavaScript's `toISOString` beyond 0-9999). */
const ISO_TIME = /^([+-]\d{6}|\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-](\d\d):(\d\d))$/
/** The largest time written with a six-digit year (±999999). */
const MAX_ISO_MS = 31_500_000_000_000_000

/**
 * Epoch milliseconds as ISO-8601 UTC text, `2026-12-03T14:10:58.123Z`, for any time a Number
 * can hold up to year ±999999 (a deadline may lie far beyond the 275,760 years of `Date`:
 * the calendar repeats every 400 years, so the time is formatted 400·k years nearer and k·400
 * added to its year). Sub-millisecond parts are dropped. Undefined for what is no such time.
 */
export const isoTimeOf = (ms: number): string | undefined => {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_ISO_MS) return undefined
  const cycles = Math.floor(ms / CYCLE_MS)
  const text = new Date(Math.floor(ms - cycles * CYCLE_MS)).toISOString()
  const year = Number(text.slice(0, 4)) + cycles * 400
  const yearText = year >= 0 && year <= 9999 ? String(year).padStart(4, "0") : `${year < 0 ? "-" : "+"}${String(Math.abs(year)).padStart(6, "0")}`
  return `${yearText}${text.slice(4)}`
}

/**
 * ISO-8601 text (a date, a time to the second or finer, and `Z` or an offset `±hh:mm`) as
 * epoch milliseconds; undefined for anything else, a day the month does not have included
 * (`Date.parse` reads 2026-02-30 as March 2nd).
 */
export const msOfIsoTime = (text: string): number | undefined => {
  const m = ISO_TIME.exec(text)
  if (m === null) return undefined
  const [, yearText, month, day, hour, minute, second, fraction, zone, offsetHours, offsetMinutes] = m
  if (yearText === "-000000") return undefined
  const year = Number(yearText)
  // the same day 400·k years nearer (2000-2399, which Date.UTC never reads as 1900 + year),
  // where Date can judge it
  const cycles = Math.floor((year - 2000) / 400)
  const near = year - cycles * 400
  const date = new Date(Date.UTC(near, Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), Number((fraction ?? "").padEnd(3, "0").slice(0, 3))))
  if (date.getUTCFullYear() !== near || date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return undefined
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined
  let offsetMs = 0
  if (zone !== "Z") {
    if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return undefined
    offsetMs = (zone!.startsWith("-") ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000
  }
  const ms = date.getTime() + cycles * CYCLE_MS - offsetMs
  return Math.abs(ms) > MAX_ISO_MS ? undefined : ms
}

/**
 * A moment in time: epoch milliseconds in memory (core's `Run` and the engine count time so),
 * ISO-8601 UTC text on the wire and in the CLI's JSON (`2026-12-03T14:10:58.123Z`). Decoding
 * takes ISO-8601 with `Z` or an offset, and refuses any other text (epoch numbers included).
 */
export const IsoTime = Schema.transformOrFail(
  Schema.String,
  Schema.Number,
  {
    strict: true,
    decode: (text, _, ast) => {
      const ms = msOfIsoTime(text)
      return ms === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, text, `an ISO-8601 time, e.g. 2026-12-03T14:10:58Z, not ${JSON.stringify(text.slice(0, 64))}`))
        : ParseResult.succeed(ms)
    },
    encode: (ms, _, ast) => {
      const text = isoTimeOf(ms)
      return text === undefined ? ParseResult.fail(new ParseResult.Type(ast, ms, `no time: ${ms}`)) : ParseResult.succeed(text)
    }
  }
).annotations({
  identifier: "IsoTime",
  title: "ISO-8601 time",
  description: "A moment, as ISO-8601 UTC text (epoch milliseconds in memory)",
  jsonSchema: { type: "string", format: "date-time", description: "ISO-8601 UTC, e.g. 2026-12-03T14:10:58.123Z", examples: ["2026-12-03T14:10:58.123Z"] }
})

const NullOrIsoTime = Schema.NullOr(IsoTime)

/** A run's times (SPEC §2): epoch milliseconds in the engine, ISO-8601 UTC on the wire. */
const runTimes = {
  deadlineAt: NullOrIsoTime,
  submittedAt: IsoTime,
  eligibleAt: IsoTime,
  startedAt: NullOrIsoTime,
  endedAt: NullOrIsoTime
} as const

/** The fields of a run that are times: ISO-8601 in JSON, the local time in the CLI's tables. */
export const RUN_TIME_FIELDS: ReadonlyArray<string> = Object.keys(runTimes)

/**
 * A run as the API shows it: the engine's record as libs/core defines it, its times as ISO
 * text on the wire. Its Type is core's `Run`, so the daemon hands the engine's runs over as
 * they are and the client derived from the API decodes them back.
 */
export const RunJson = Schema.Struct({ ...Run.fields, ...runTimes })
export type RunJson = typeof RunJson.Type

/** One transition of a run's timeline, as libs/core defines it, its time as ISO text on the wire. */
export const RunEventJson = Schema.Struct({ ...RunEvent.fields, at: IsoTime })
export type RunEventJson = typeof RunEventJson.Type

/** Why a run waits, as libs/core defines it. */
export { WaitReason }

export const PositionJson = Schema.Struct({
  runId: RunId,
  status: RunStatus,
  position: Schema.NullOr(Int),
  pending: Int,
  reason: Schema.NullOr(WaitReason)
})
export type PositionJson = typeof PositionJson.Type

export const SubmitResult = Schema.Union(
  Schema.TaggedStruct("Accepted", { run: RunJson, duplicate: Schema.Boolean }),
  Schema.TaggedStruct("DryRun", { wouldStart: Schema.Boolean, gpus: Schema.Array(Int), reason: Schema.NullOr(WaitReason) }),
  Schema.TaggedStruct("Refused", { reason: WaitReason })
)
export type SubmitResult = typeof SubmitResult.Type

export const RunDetail = Schema.Struct({ run: RunJson, timeline: Schema.Array(RunEventJson), position: Schema.NullOr(PositionJson) })
export type RunDetail = typeof RunDetail.Type

const Phase = Schema.Struct({ totalMs: Schema.Number, maxMs: Schema.Number })
export const StatsJson = Schema.Struct({
  pending: Int,
  held: Int,
  blocked: Int,
  active: Int,
  gpus: Schema.Struct({ total: Int, free: Int, allocated: Int, drained: Int }),
  /** The local worker's state (libs/engine WorkerMachine). */
  worker: Schema.Literal("idle", "busy", "draining", "lost"),
  cycles: Int,
  policyVersion: Int,
  phases: Schema.NullOr(Schema.Record({ key: Schema.String, value: Phase }))
})
export type StatsJson = typeof StatsJson.Type

export const QueueCountsJson = Schema.Struct({ held: Int, blocked: Int, pending: Int, active: Int })
export const QueueInfoJson = Schema.Struct({
  config: QueueConfig,
  state: Schema.Literal("open", "paused", "draining"),
  counts: QueueCountsJson
})
export type QueueInfoJson = typeof QueueInfoJson.Type

export const QueueChange = Schema.partial(QueueConfig.omit("name"))
export type QueueChange = typeof QueueChange.Type

export const GpuJson = Schema.Struct({
  index: Int,
  uuid: Schema.String,
  name: Schema.String,
  memoryMiB: Schema.Number,
  drained: Schema.Boolean,
  heldBy: Schema.NullOr(RunId)
})
export type GpuJson = typeof GpuJson.Type

export const SystemStatus = Schema.Struct({
  version: Schema.String,
  pid: Int,
  dataDir: Schema.String,
  gpus: Schema.Array(GpuJson),
  stats: StatsJson
})
export type SystemStatus = typeof SystemStatus.Type

/**
 * A submission as a client sends it: the core `Submission` whose `user` is optional. The run's
 * user, level and team come from the caller's identity; `user` names someone else (an admin
 * submitting on their behalf, `--as`), and a `level` or `team` other than the identity's is
 * refused.
 */
export const SubmitRequest = Schema.Struct({ ...Submission.fields, user: Schema.optional(Submission.fields.user) })
export type SubmitRequest = typeof SubmitRequest.Type

/** A user as the directory keeps it (admins see every field). */
export const UserJson = Schema.Struct({ id: Int, identity: Identity, owner: Schema.Boolean, createdAt: IsoTime })
export type UserJson = typeof UserJson.Type

/** What an admin may set on a user; absent fields keep their value. */
export const UserChange = Schema.Struct({
  level: Schema.optional(Level),
  team: Schema.optional(Schema.NullOr(TeamName)),
  projects: Schema.optional(Schema.Array(ProjectName)),
  unixUser: Schema.optional(Schema.NullOr(UnixUserName))
})
export type UserChange = typeof UserChange.Type

/** A token's record: never the token itself, which is shown once, at creation. */
export const TokenJson = Schema.Struct({
  id: Schema.String,
  user: UserName,
  label: Schema.NullOr(Schema.String),
  createdAt: IsoTime,
  createdBy: Schema.String,
  revokedAt: NullOrIsoTime,
  revokedBy: Schema.NullOr(Schema.String)
})
export type TokenJson = typeof TokenJson.Type

export const TokenRequest = Schema.Struct({
  user: IdentityName,
  ...UserChange.fields,
  label: Schema.optional(Schema.String.pipe(Schema.maxLength(256)))
})
export type TokenRequest = typeof TokenRequest.Type

/** A new token, in the clear: shown once. */
export const NewToken = Schema.Struct({ token: Schema.String, record: TokenJson, user: UserJson })
export type NewToken = typeof NewToken.Type

export const ProjectChange = Schema.partial(Project.omit("name"))
export type ProjectChange = typeof ProjectChange.Type

/** A saved template's name: letters, digits, '.', '_' and '-', not starting with '.', '_' or '-'. */
export const TemplateName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { message: () => "a template name: letters, digits, '.', '_', '-' (128 at most), starting with a letter or digit" })
)

/** What a template holds: a submission without its submitter (whoever submits it owns the run). */
export const TemplateSubmission = SubmitRequest.pipe(Schema.omit("user"))
export type TemplateSubmission = typeof TemplateSubmission.Type

/** A saved run template (`gantry config save NAME --file task.json`). */
export const TemplateJson = Schema.Struct({
  name: TemplateName,
  submission: TemplateSubmission,
  createdBy: Schema.String,
  createdAt: IsoTime,
  updatedAt: IsoTime
})
export type TemplateJson = typeof TemplateJson.Type

/** A counter of run transitions the daemon has seen, for long-polling clients. */
export const Changes = Schema.Struct({ version: Int })

// ------------------------------------------------------------------ endpoints

export const ListParams = Schema.Struct({
  /** Comma-separated statuses (`queued` is pending). */
  status: Schema.optional(Schema.String),
  queue: Schema.optional(QueueName),
  user: Schema.optional(Schema.String),
  limit: Schema.optional(IntFromString.pipe(Schema.positive())),
  offset: Schema.optional(IntFromString.pipe(Schema.nonNegative())),
  include_completed: Schema.optional(BooleanFromString)
})
export type ListParams = typeof ListParams.Type

/** Many submissions, stored in one transaction or not at all (`gantry submit --from FILE.jsonl`). */
export const BulkRequest = Schema.Struct({ submissions: Schema.Array(SubmitRequest).pipe(Schema.minItems(1)) })
export type BulkRequest = typeof BulkRequest.Type

export const CancelRequest = Schema.Struct({ ids: Schema.Array(RunId), all: Schema.optional(Schema.Boolean) })

/** Runs: submit (one or many), list, show, wait for changes, and act on them. */
export const runsGroup = HttpApiGroup.make("runs")
  .add(HttpApiEndpoint.get("list", "/runs").setUrlParams(ListParams).addSuccess(Schema.Array(RunJson)))
  .add(HttpApiEndpoint.post("submit", "/runs").setPayload(strict(SubmitRequest)).addSuccess(SubmitResult))
  .add(HttpApiEndpoint.post("bulk", "/runs/bulk").setPayload(strict(BulkRequest)).addSuccess(Schema.Struct({ runs: Schema.Array(RunJson) })))
  .add(HttpApiEndpoint.post("cancel", "/runs/cancel").setPayload(strict(CancelRequest)).addSuccess(Schema.Struct({ cancelled: Schema.Array(RunId) })))
  .add(
    HttpApiEndpoint.get("changes", "/runs/changes")
      .setUrlParams(Schema.Struct({ since: IntFromString.pipe(Schema.nonNegative()), timeoutMs: Schema.optional(IntFromString.pipe(Schema.between(0, 60_000))) }))
      .addSuccess(Changes)
  )
  .add(HttpApiEndpoint.get("show")`/runs/${id}`.addSuccess(RunDetail))
  .add(HttpApiEndpoint.get("position")`/runs/${id}/position`.addSuccess(PositionJson))
  .add(HttpApiEndpoint.post("release")`/runs/${id}/release`.addSuccess(RunJson))
  .add(HttpApiEndpoint.post("approve")`/runs/${id}/approve`.addSuccess(RunJson))
  .add(HttpApiEndpoint.post("reject")`/runs/${id}/reject`.setPayload(strict(Schema.Struct({ reason: Schema.NonEmptyTrimmedString }))).addSuccess(RunJson))
  .add(HttpApiEndpoint.post("priority")`/runs/${id}/priority`.setPayload(strict(Schema.Struct({ priority: Schema.NullOr(Schema.Int) }))).addSuccess(RunJson))
  .middleware(Authorization)

/**
 * How a client changed the policy, as it says (kept with the version): `put` (the default),
 * or the CLI's `limits set` and `apply`. The common queue API's `POST /api/queue/concurrency`
 * is recorded as `concurrency`.
 */
export const PolicySource = Schema.Literal("put", "limits set", "apply")
export type PolicySource = typeof PolicySource.Type

/** `PUT /api/policy`'s query: why (a note kept with the version) and how. */
export const PolicyChangeParams = Schema.Struct({
  note: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))),
  source: Schema.optional(PolicySource)
})
export type PolicyChangeParams = typeof PolicyChangeParams.Type

/** One version of the policy: the policy as it was applied, who applied it (null: the system), when, how and why. */
export const PolicyVersionJson = Schema.Struct({
  version: Int,
  policy: Policy,
  appliedBy: Schema.NullOr(Schema.String),
  appliedAt: IsoTime,
  /** `apply`, `limits set`, `put`, `concurrency`; `default` or `migration` for where history began. */
  source: Schema.String,
  note: Schema.NullOr(Schema.String)
})
export type PolicyVersionJson = typeof PolicyVersionJson.Type

const policyVersion = HttpApiSchema.param("version", IntFromString.pipe(Schema.nonNegative()))

/**
 * The scheduling policy (limits, aging, fair share, backfill, priorities, approval rules) and
 * its versions. A change is numbered by the runner (the live version + 1: the body's `version`
 * is not taken) and recorded with who made it; one that changes nothing makes no version.
 */
export const policyGroup = HttpApiGroup.make("policy")
  .add(HttpApiEndpoint.get("show", "/policy").addSuccess(Policy))
  .add(HttpApiEndpoint.put("set", "/policy").setPayload(strict(Policy)).setUrlParams(PolicyChangeParams).addSuccess(Policy))
  .add(
    HttpApiEndpoint.get("history", "/policy/history")
      .setUrlParams(Schema.Struct({ limit: Schema.optional(IntFromString.pipe(Schema.between(1, 1000))) }))
      .addSuccess(Schema.Array(PolicyVersionJson))
  )
  .add(HttpApiEndpoint.get("version")`/policy/versions/${policyVersion}`.addSuccess(PolicyVersionJson))
  .middleware(Authorization)

export const queuesGroup = HttpApiGroup.make("queues")
  .add(HttpApiEndpoint.get("list", "/queues").addSuccess(Schema.Array(QueueInfoJson)))
  .add(HttpApiEndpoint.post("create", "/queues").setPayload(strict(QueueConfig)).addSuccess(QueueConfig))
  .add(HttpApiEndpoint.patch("update")`/queues/${queueName}`.setPayload(strict(QueueChange)).addSuccess(QueueConfig))
  .add(
    HttpApiEndpoint.del("delete")`/queues/${queueName}`
      .setUrlParams(Schema.Struct({ drain: Schema.optional(BooleanFromString) }))
      .addSuccess(Schema.Struct({ ok: Schema.Boolean }))
  )
  .middleware(Authorization)

/** The daemon, its counters and its GPUs. */
export const systemGroup = HttpApiGroup.make("system")
  .add(HttpApiEndpoint.get("status", "/system").addSuccess(SystemStatus))
  .add(HttpApiEndpoint.get("stats", "/stats").addSuccess(StatsJson))
  .add(HttpApiEndpoint.post("drain")`/gpus/${gpuIndex}/drain`.addSuccess(Schema.Struct({ ok: Schema.Boolean })))
  .add(HttpApiEndpoint.post("undrain")`/gpus/${gpuIndex}/undrain`.addSuccess(Schema.Struct({ ok: Schema.Boolean })))
  .middleware(Authorization)

/** Users and their tokens (admin only, but for `me`). */
export const usersGroup = HttpApiGroup.make("users")
  .add(HttpApiEndpoint.get("me", "/users/me").addSuccess(Identity))
  .add(HttpApiEndpoint.get("list", "/users").addSuccess(Schema.Array(UserJson)))
  .add(HttpApiEndpoint.put("set")`/users/${userName}`.setPayload(strict(UserChange)).addSuccess(UserJson))
  .add(HttpApiEndpoint.get("tokens", "/tokens").addSuccess(Schema.Array(TokenJson)))
  .add(HttpApiEndpoint.post("createToken", "/tokens").setPayload(strict(TokenRequest)).addSuccess(NewToken))
  .add(HttpApiEndpoint.del("revokeToken")`/tokens/${tokenId}`.addSuccess(TokenJson))
  .middleware(Authorization)

export const projectsGroup = HttpApiGroup.make("projects")
  .add(HttpApiEndpoint.get("list", "/projects").addSuccess(Schema.Array(Project)))
  .add(HttpApiEndpoint.post("create", "/projects").setPayload(strict(Project)).addSuccess(Project))
  .add(HttpApiEndpoint.patch("update")`/projects/${projectName}`.setPayload(strict(ProjectChange)).addSuccess(Project))
  .add(HttpApiEndpoint.del("delete")`/projects/${projectName}`.addSuccess(Schema.Struct({ ok: Schema.Boolean })))
  .middleware(Authorization)

const templateName = HttpApiSchema.param("name", TemplateName)

/** Saved run templates: what the common API's `config_name` names. */
export const configsGroup = HttpApiGroup.make("configs")
  .add(HttpApiEndpoint.get("list", "/configs").addSuccess(Schema.Array(TemplateJson)))
  .add(HttpApiEndpoint.get("show")`/configs/${templateName}`.addSuccess(TemplateJson))
  .add(HttpApiEndpoint.put("save")`/configs/${templateName}`.setPayload(strict(TemplateSubmission)).addSuccess(TemplateJson))
  .add(HttpApiEndpoint.del("delete")`/configs/${templateName}`.addSuccess(Schema.Struct({ ok: Schema.Boolean })))
  .middleware(Authorization)

/**
 * The OpenAPI document as the daemon answers: @effect/platform declares its own 400
 * (HttpApiDecodeError) on every route, which the daemon never sends (a schema refusal is a 422
 * `Invalid`, apps/runner Server.ts): the document leaves it out.
 */
function withoutDecodeError(spec: Record<string, unknown>): Record<string, unknown> {
  const paths = spec.paths as Record<string, Record<string, { responses?: Record<string, unknown> }>>
  for (const operations of Object.values(paths)) for (const operation of Object.values(operations)) delete operation.responses?.["400"]
  return spec
}

export class GantryApi extends HttpApi.make("gantry")
  .add(commonQueueGroup)
  .add(commonSystemGroup)
  .add(commonJobsGroup)
  .add(runsGroup)
  .add(policyGroup)
  .add(queuesGroup)
  .add(systemGroup)
  .add(usersGroup)
  .add(projectsGroup)
  .add(configsGroup)
  .addError(Invalid)
  .addError(Forbidden)
  .addError(NotFound)
  .addError(Conflict)
  .addError(TooLarge)
  .addError(Exhausted)
  .addError(Internal)
  .prefix("/api")
  .annotate(OpenApi.Transform, withoutDecodeError) {}
