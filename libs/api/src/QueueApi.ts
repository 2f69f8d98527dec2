/**
 * The common GPU-server queue API, as its own CLI and web page call it (SPEC §8): the same
 * paths, query parameters, snake_case fields, response shapes and status codes, so those
 * clients drive gantry unchanged. Read from that project's client and server code:
 *
 * - `/api/queue…`: the queue (entries, stats, the caller's runs, positions, submit from a
 *   saved template by `config_name`, cancel/approve/reject/priority, concurrency, process,
 *   cleanup);
 * - `/api/system/status`: load, memory and GPUs, with `include_allocation=true` which run
 *   holds which GPU;
 * - `/api/cloud/jobs…`: the job list, one job and cancel, as the CLI's `jobs` commands call them.
 *
 * Times are ISO-8601 strings, ids of runs strings (`job_id`) beside the run's number (`id`),
 * users numbers (`user_id`: a user's number in gantry's directory). What gantry has beyond
 * this API lives under its own paths (Api.ts).
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { RunId } from "@gantry/core"
import { Schema } from "effect"
import { Authorization, IntFromString, strict } from "./Common.js"

const Int = Schema.Int
const NullOrInt = Schema.NullOr(Int)
/** An ISO-8601 time (UTC). */
const IsoString = Schema.String
const jobId = HttpApiSchema.param("job_id", RunId)

/** A boolean query parameter as FastAPI reads one: true/false, 1/0, yes/no, on/off, t/f, y/n (any case). */
export const FlagFromString = Schema.String.pipe(
  Schema.filter((s) => /^(true|false|1|0|yes|no|on|off|t|f|y|n)$/i.test(s), { message: () => "a boolean: true or false" }),
  Schema.transform(Schema.Boolean, { decode: (s) => /^(true|1|yes|on|t|y)$/i.test(s), encode: (b) => (b ? "true" : "false") })
)

// ------------------------------------------------------------------ /api/queue

/** A run as a queue entry. */
export const QueueEntry = Schema.Struct({
  /** The run's number (its submission sequence). */
  id: Int,
  job_id: Schema.String,
  /** The submitter's number (null for a user the directory does not know, e.g. from an older database). */
  user_id: NullOrInt,
  /** Where it runs: "local" (this server's GPUs). */
  provider: Schema.String,
  /** The saved template it was submitted from, else its name. */
  config_name: Schema.NullOr(Schema.String),
  /** The base priority of the submitter's level. */
  priority: Int,
  /** low (0–9), normal (10–19), high (20–29), urgent (30–39), critical (40+). */
  priority_name: Schema.String,
  priority_override: NullOrInt,
  /** override ?? base, plus the aging boost while it waits (SPEC §3). */
  effective_priority: Int,
  /** gantry's status: held, blocked, pending, running, stopping, completed, failed, cancelled, rejected. */
  status: Schema.String,
  /** Runs ahead of it in the scheduling order; 0 when running or next. */
  position: Int,
  queued_at: IsoString,
  started_at: Schema.NullOr(IsoString),
  completed_at: Schema.NullOr(IsoString),
  estimated_cost: Schema.Number,
  requires_approval: Schema.Boolean,
  attempt: Int,
  /** Why it failed or was rejected (null otherwise). */
  error_message: Schema.NullOr(Schema.String)
})
export type QueueEntry = typeof QueueEntry.Type

export const QueueListParams = Schema.Struct({
  /** One status (exactly as an entry shows it). */
  status: Schema.optional(Schema.String),
  limit: Schema.optional(IntFromString.pipe(Schema.between(1, 200))),
  offset: Schema.optional(IntFromString.pipe(Schema.nonNegative())),
  /** Also the runs that have ended (default: only runs still waiting or running). */
  include_completed: Schema.optional(FlagFromString)
})
export type QueueListParams = typeof QueueListParams.Type

export const QueueList = Schema.Struct({ entries: Schema.Array(QueueEntry), total_pending: Int, total_running: Int })
export type QueueList = typeof QueueList.Type

export const LocalGpuStats = Schema.Struct({
  running_jobs: Int,
  pending_jobs: Int,
  allocated_gpus: Schema.Array(Int),
  available_gpus: Schema.Array(Int),
  total_gpus: Int,
  max_concurrent_gpus: NullOrInt,
  max_concurrent_jobs: NullOrInt
})

export const WorkerPoolStats = Schema.Struct({
  total_workers: Int,
  idle_workers: Int,
  busy_workers: Int,
  offline_workers: Int,
  draining_workers: Int
})

export const QueueStats = Schema.Struct({
  /** Every stored run by status. */
  by_status: Schema.Record({ key: Schema.String, value: Int }),
  /** Running runs by user name. */
  by_user: Schema.Record({ key: Schema.String, value: Int }),
  /** Runs waiting to be scheduled (pending). */
  queue_depth: Int,
  /** Runs running (or being stopped). */
  running: Int,
  /** The mean wait of the latest 1,000 runs to start. */
  avg_wait_seconds: Schema.NullOr(Schema.Number),
  /** The global limit in force (the GPU count when none is set). */
  max_concurrent: Int,
  /** null: no limit. */
  user_max_concurrent: NullOrInt,
  team_max_concurrent: NullOrInt,
  enable_fair_share: Schema.Boolean,
  local_gpu_max_concurrent: NullOrInt,
  local_job_max_concurrent: NullOrInt,
  local: LocalGpuStats,
  workers: WorkerPoolStats
})
export type QueueStats = typeof QueueStats.Type

export const UserQueue = Schema.Struct({
  pending_count: Int,
  running_count: Int,
  blocked_count: Int,
  best_position: NullOrInt,
  pending_jobs: Schema.Array(QueueEntry),
  running_jobs: Schema.Array(QueueEntry)
})
export type UserQueue = typeof UserQueue.Type

export const QueuePosition = Schema.Struct({
  job_id: Schema.String,
  position: Int,
  status: Schema.String,
  /** The priority's name (low, normal, high, urgent, critical). */
  priority: Schema.String,
  queued_at: IsoString,
  /** position × mean wait ÷ running runs; 0 when next or running; null without history. */
  estimated_wait_seconds: Schema.NullOr(Schema.Number)
})
export type QueuePosition = typeof QueuePosition.Type

export const LocalSubmitRequest = Schema.Struct({
  /** A saved template (`gantry config save NAME --file task.json`). */
  config_name: Schema.String.pipe(Schema.minLength(1)),
  /** Refuse at once unless it can start now. */
  no_wait: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Any free GPUs rather than the template's device ids. */
  any_gpu: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Hold it for an admin's approval. */
  for_approval: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** local: this server; worker: a remote worker (none yet: refused); auto: local. */
  target: Schema.optionalWith(Schema.Literal("local", "worker", "auto"), { default: () => "auto" as const })
})
export type LocalSubmitRequest = typeof LocalSubmitRequest.Type

export const LocalSubmitResponse = Schema.Struct({
  success: Schema.Boolean,
  job_id: Schema.NullOr(Schema.String),
  status: Schema.NullOr(Schema.Literal("running", "queued", "rejected", "blocked")),
  allocated_gpus: Schema.NullOr(Schema.Array(Int)),
  allocated_worker_id: Schema.NullOr(Schema.String),
  queue_position: NullOrInt,
  requires_approval: Schema.Boolean,
  error: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String)
})
export type LocalSubmitResponse = typeof LocalSubmitResponse.Type

export const JobDone = Schema.Struct({ success: Schema.Boolean, job_id: Schema.String })
export const JobApproved = Schema.Struct({ success: Schema.Boolean, job_id: Schema.String, approved_by: NullOrInt })
export const JobRejected = Schema.Struct({ success: Schema.Boolean, job_id: Schema.String, rejected_by: NullOrInt, reason: Schema.String })

export const PriorityUpdate = Schema.Struct({ priority: Schema.NullOr(Int.pipe(Schema.between(0, 50))) })
export const PriorityUpdated = Schema.Struct({
  success: Schema.Boolean,
  job_id: Schema.String,
  previous_effective_priority: Int,
  new_effective_priority: Int,
  priority_override: NullOrInt
})

const limit = Int.pipe(Schema.greaterThanOrEqualTo(1))
/** Any subset of the limits; absent fields keep their value. */
export const ConcurrencyUpdate = Schema.Struct({
  max_concurrent: Schema.optional(limit),
  user_max_concurrent: Schema.optional(limit),
  team_max_concurrent: Schema.optional(limit),
  enable_fair_share: Schema.optional(Schema.Boolean),
  local_gpu_max_concurrent: Schema.optional(limit),
  local_job_max_concurrent: Schema.optional(limit)
})
export type ConcurrencyUpdate = typeof ConcurrencyUpdate.Type

export const Concurrency = Schema.Struct({
  success: Schema.Boolean,
  max_concurrent: Int,
  user_max_concurrent: NullOrInt,
  team_max_concurrent: NullOrInt,
  enable_fair_share: Schema.Boolean,
  local_gpu_max_concurrent: NullOrInt,
  local_job_max_concurrent: NullOrInt
})
export type Concurrency = typeof Concurrency.Type

export const Processed = Schema.Struct({ success: Schema.Boolean, dispatched: Int, job_ids: Schema.Array(Schema.String) })
export const CleanedUp = Schema.Struct({ success: Schema.Boolean, deleted: Int, days: Int })

export const commonQueueGroup = HttpApiGroup.make("commonQueue")
  .add(HttpApiEndpoint.get("list", "/queue").setUrlParams(QueueListParams).addSuccess(QueueList))
  .add(HttpApiEndpoint.get("stats", "/queue/stats").addSuccess(QueueStats))
  .add(HttpApiEndpoint.get("me", "/queue/me").addSuccess(UserQueue))
  .add(HttpApiEndpoint.get("user")`/queue/user/${HttpApiSchema.param("user_id", IntFromString.pipe(Schema.positive()))}`.addSuccess(UserQueue))
  .add(HttpApiEndpoint.get("position")`/queue/position/${jobId}`.addSuccess(QueuePosition))
  .add(HttpApiEndpoint.post("submit", "/queue/submit").setPayload(strict(LocalSubmitRequest)).addSuccess(LocalSubmitResponse))
  .add(HttpApiEndpoint.post("cancel")`/queue/${jobId}/cancel`.addSuccess(JobDone))
  .add(HttpApiEndpoint.post("approve")`/queue/${jobId}/approve`.addSuccess(JobApproved))
  .add(HttpApiEndpoint.post("reject")`/queue/${jobId}/reject`.setUrlParams(Schema.Struct({ reason: Schema.String.pipe(Schema.filter((s) => s.trim() !== "", { message: () => "a reason, not blank" })) })).addSuccess(JobRejected))
  .add(HttpApiEndpoint.post("priority")`/queue/${jobId}/priority`.setPayload(strict(PriorityUpdate)).addSuccess(PriorityUpdated))
  .add(HttpApiEndpoint.get("concurrency", "/queue/concurrency").addSuccess(Concurrency))
  .add(HttpApiEndpoint.post("setConcurrency", "/queue/concurrency").setPayload(strict(ConcurrencyUpdate)).addSuccess(Concurrency))
  .add(HttpApiEndpoint.post("process", "/queue/process").addSuccess(Processed))
  .add(
    HttpApiEndpoint.post("cleanup", "/queue/cleanup")
      .setUrlParams(Schema.Struct({ days: Schema.optional(IntFromString.pipe(Schema.between(1, 365))) }))
      .addSuccess(CleanedUp)
  )
  .middleware(Authorization)

// ------------------------------------------------------------------ /api/system/status

export const GpuUtilisation = Schema.Struct({
  index: Int,
  name: Schema.String,
  backend: Schema.NullOr(Schema.String),
  /** nvidia-smi's utilization.gpu now (sampled at most every 2 s); null where it does not say (fake GPUs). */
  utilization_percent: Schema.NullOr(Schema.Number),
  /** Memory used of the GPU's total, in percent. */
  memory_percent: Schema.NullOr(Schema.Number)
})

export const GpuAllocation = Schema.Struct({
  allocated_gpus: Schema.Array(Int),
  available_gpus: Schema.Array(Int),
  running_local_jobs: Int,
  devices: Schema.Array(
    Schema.Struct({ index: Int, name: Schema.String, memory_gb: Schema.NullOr(Schema.Number), allocated: Schema.Boolean, job_id: Schema.NullOr(Schema.String) })
  )
})

export const CommonSystemStatus = Schema.Struct({
  /** Seconds since the epoch. */
  timestamp: Schema.Number,
  load_avg_5min: Schema.NullOr(Schema.Number),
  memory_percent: Schema.NullOr(Schema.Number),
  gpus: Schema.Array(GpuUtilisation),
  gpu_inventory: Schema.Struct({
    backend: Schema.NullOr(Schema.String),
    count: Int,
    /** supports_cuda, supports_mps, supports_rocm: what the backend is. */
    capabilities: Schema.Record({ key: Schema.String, value: Schema.Boolean })
  }),
  /** With include_allocation=true. */
  gpu_allocation: Schema.optional(GpuAllocation)
})
export type CommonSystemStatus = typeof CommonSystemStatus.Type

export const commonSystemGroup = HttpApiGroup.make("commonSystem")
  .add(
    HttpApiEndpoint.get("status", "/system/status")
      .setUrlParams(Schema.Struct({ include_allocation: Schema.optional(FlagFromString) }))
      .addSuccess(CommonSystemStatus)
  )
  .middleware(Authorization)

// ------------------------------------------------------------------ /api/cloud/jobs

/** A run as a job of the common API's job list. */
export const CloudJob = Schema.Struct({
  job_id: Schema.String,
  job_type: Schema.Literal("local"),
  /** null for a local job. */
  provider: Schema.NullOr(Schema.String),
  status: Schema.String,
  config_name: Schema.NullOr(Schema.String),
  created_at: IsoString,
  started_at: Schema.NullOr(IsoString),
  completed_at: Schema.NullOr(IsoString),
  finished_at: Schema.NullOr(IsoString),
  cost_usd: Schema.NullOr(Schema.Number),
  /** The GPUs' model. */
  hardware_type: Schema.NullOr(Schema.String),
  error_message: Schema.NullOr(Schema.String),
  output_url: Schema.NullOr(Schema.String),
  user_id: NullOrInt,
  /** The run's metadata (`run_name` is its name unless the metadata has one). */
  metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  is_terminal: Schema.Boolean,
  is_active: Schema.Boolean,
  duration_seconds: Schema.NullOr(Schema.Number),
  /** For a pending run: runs ahead of it. */
  queue_position: NullOrInt,
  allocated_gpus: Schema.Array(Int)
})
export type CloudJob = typeof CloudJob.Type

export const CloudJobParams = Schema.Struct({
  status: Schema.optional(Schema.String),
  /** Only "local" jobs exist here; "cloud" lists none. */
  job_type: Schema.optional(Schema.Literal("local", "cloud")),
  provider: Schema.optional(Schema.String),
  limit: Schema.optional(IntFromString.pipe(Schema.between(1, 500))),
  offset: Schema.optional(IntFromString.pipe(Schema.nonNegative())),
  sync_active: Schema.optional(FlagFromString)
})
export type CloudJobParams = typeof CloudJobParams.Type

export const commonJobsGroup = HttpApiGroup.make("commonJobs")
  .add(HttpApiEndpoint.get("list", "/cloud/jobs").setUrlParams(CloudJobParams).addSuccess(Schema.Struct({ jobs: Schema.Array(CloudJob), total: Int })))
  .add(HttpApiEndpoint.get("get")`/cloud/jobs/${jobId}`.addSuccess(Schema.Struct({ job: CloudJob })))
  .add(HttpApiEndpoint.post("cancel")`/cloud/jobs/${jobId}/cancel`.addSuccess(Schema.Struct({ success: Schema.Boolean, job_id: Schema.String, status: Schema.String })))
  .middleware(Authorization)