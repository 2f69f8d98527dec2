/**
 * The common GPU-server queue API (libs/api QueueApi.ts) over the runner: each route reads
 * the engine, the store and the directory, and acts through the caller's `Control`, so who
 * may do what stays in one table (Control.ts `Access`) whichever API a client speaks.
 *
 * What the common API has and gantry has differently:
 * - a submission names a saved template (`config_name`, `gantry config save`); its refusal
 *   (no template, a limit, a permission, a full queue, `no_wait`) is a 200 with
 *   `success: false`, as that API's clients expect; the answer comes after the scheduling cycle
 *   the submission woke, so `running` comes with the GPUs it got;
 * - `position` counts the runs ahead (0: running or next), from gantry's SPEC §3 order;
 * - statuses are gantry's (held, blocked, pending, running, stopping, completed, failed,
 *   cancelled, rejected), filtered exactly;
 * - one local worker (this server); `target: "worker"` is refused until remote workers exist.
 */
import { HttpApiBuilder } from "@effect/platform"
import {
  type ApiError,
  Caller,
  type CloudJob,
  type CommonSystemStatus,
  type Concurrency,
  GantryApi,
  isoTimeOf,
  type LocalSubmitRequest,
  type LocalSubmitResponse,
  type QueueEntry,
  type QueueStats,
  type UserQueue
} from "@gantry/api"
import { agingBoost, effectiveMaxConcurrent, type GpuView, type Identity, isTerminal, type Policy, type Run, type RunId, RunStatus } from "@gantry/core"
import type { EngineError, EngineService, GpuInfo, StoreError, StoreService } from "@gantry/engine"
import type { GpuLoad } from "@gantry/platform-node"
import { Effect, Layer, Schema } from "effect"
import * as os from "node:os"
import { Access, type Control, type Controls, fromTemplate } from "./Control.js"
import { decodeSubmission, invalidArgument, toApiError } from "./Judge.js"
import { type Directory, forbidden, notFound } from "./Directory.js"

/** What the common API's answers are made from, beside the caller's Control. */
export interface CommonSource {
  readonly engine: EngineService
  readonly store: StoreService
  readonly directory: Directory
  readonly inventory: ReadonlyArray<GpuInfo>
  /** The GPUs' load now (libs/platform-node `NvidiaSmiGpus.loadSampler`); empty when unknown. */
  readonly load: Effect.Effect<ReadonlyArray<GpuLoad>>
  readonly now: () => number
}

/** A time as ISO-8601 UTC, as gantry's own routes write it (`IsoTime`). */
const iso = (ms: number | null): string | null => (ms === null ? null : (isoTimeOf(ms) ?? null))

/** The common API's priority names, by range of the base priority. */
export const priorityName = (priority: number): string =>
  priority >= 40 ? "critical" : priority >= 30 ? "urgent" : priority >= 20 ? "high" : priority >= 10 ? "normal" : "low"

/** Why a run failed or was rejected, in words; null for any other run. */
export const errorMessageOf = (run: Run): string | null => {
  if (run.status === "rejected") return run.rejectReason ?? "rejected"
  if (run.status !== "failed") return null
  switch (run.failReason) {
    case "exit-code":
      return `exited with code ${run.exitCode ?? "?"}`
    case "signal":
      return `killed by ${run.signal ?? "a signal"}`
    case "spawn-error":
      return "could not be started"
    case "lost":
      return "lost: its process was gone when the runner looked"
    case "queue-timeout":
      return "waited longer than its max queued time"
    case "deadline":
      return "passed its deadline"
    case "time-limit":
      return "ran past its time limit"
    case null:
      return "failed"
  }
}

/** Which GPUs runs hold, and which are free to take (not drained). */
const allocationOf = (gpus: ReadonlyArray<GpuView>) => ({
  allocated: gpus.filter((g) => g.heldBy !== null).map((g) => g.index),
  available: gpus.filter((g) => g.heldBy === null && !g.drained).map((g) => g.index)
})

const running = (run: Run) => run.status === "running" || run.status === "stopping"

/** The values an entry needs that are not the run's own, read once per answer. */
interface View {
  readonly policy: Policy
  readonly now: number
  /** 1-based places of the pending runs. */
  readonly places: ReadonlyMap<RunId, number>
  readonly userNumber: (name: string) => number | null
}

const effectivePriorityOf = (run: Run, view: View): number =>
  (run.priorityOverride ?? run.basePriority) + (run.status === "pending" ? agingBoost(view.policy.aging, view.now - run.eligibleAt) : 0)

/** Runs ahead of it in SPEC §3 order; 0 when it runs, is next, or is not waiting in order. */
const placeOf = (run: Run, view: View): number => Math.max(0, (view.places.get(run.id) ?? 1) - 1)

const configNameOf = (run: Run): string | null => {
  const saved = run.metadata["config_name"]
  return typeof saved === "string" ? saved : run.name
}

export const entryOf = (run: Run, view: View): QueueEntry => ({
  id: run.seq,
  job_id: run.id,
  user_id: view.userNumber(run.user),
  provider: "local",
  config_name: configNameOf(run),
  priority: run.basePriority,
  priority_name: priorityName(run.basePriority),
  priority_override: run.priorityOverride,
  effective_priority: effectivePriorityOf(run, view),
  status: run.status,
  position: placeOf(run, view),
  queued_at: iso(run.submittedAt)!,
  started_at: iso(run.startedAt),
  completed_at: iso(run.endedAt),
  estimated_cost: run.estimatedCost ?? 0,
  requires_approval: run.requiresApproval,
  attempt: run.attempt,
  error_message: errorMessageOf(run)
})

export const jobOf = (run: Run, view: View, hardware: string | null): CloudJob => {
  const runName = run.metadata["run_name"]
  return {
    job_id: run.id,
    job_type: "local",
    provider: null,
    status: run.status,
    config_name: configNameOf(run),
    created_at: iso(run.submittedAt)!,
    started_at: iso(run.startedAt),
    completed_at: iso(run.endedAt),
    finished_at: iso(run.endedAt),
    cost_usd: null,
    hardware_type: run.assignedGpus.length > 0 ? hardware : null,
    error_message: errorMessageOf(run),
    output_url: null,
    user_id: view.userNumber(run.user),
    metadata: runName === undefined && run.name !== null ? { ...run.metadata, run_name: run.name } : run.metadata,
    is_terminal: isTerminal(run.status),
    is_active: !isTerminal(run.status),
    duration_seconds: run.startedAt === null ? null : ((run.endedAt ?? view.now) - run.startedAt) / 1000,
    queue_position: run.status === "pending" ? placeOf(run, view) : null,
    allocated_gpus: [...run.assignedGpus]
  }
}

/** One status, exactly as entries show it (the common API filters by one). */
const decodeStatus = Schema.decodeUnknownEither(RunStatus)
const statusFilter = (status: string | undefined): Effect.Effect<ReadonlyArray<RunStatus> | undefined, ApiError> => {
  if (status === undefined) return Effect.succeed(undefined)
  const decoded = decodeStatus(status)
  return decoded._tag === "Right" ? Effect.succeed([decoded.right]) : Effect.fail(invalidArgument(`Invalid status: ${status} (one of ${RunStatus.literals.join(", ")})`))
}

const unfinished = RunStatus.literals.filter((s) => !isTerminal(s))

export const layer = (controls: Controls, source: CommonSource) => {
  const { engine, store, directory } = source
  const api = <A>(effect: Effect.Effect<A, EngineError | StoreError>): Effect.Effect<A, ApiError> => Effect.mapError(effect, toApiError)
  const view: Effect.Effect<View> = Effect.gen(function* () {
    return { policy: yield* engine.policy, now: source.now(), places: yield* engine.positions, userNumber: (name: string) => directory.userNumber(name) }
  })
  const as = <A, E, R>(use: (control: Control, caller: Identity) => Effect.Effect<A, E, R>) => Effect.flatMap(Caller, (caller) => use(controls.forCaller(caller), caller))
  const hardware = source.inventory[0]?.name ?? null

  const userQueue = (user: string): Effect.Effect<UserQueue, ApiError> =>
    Effect.gen(function* () {
      const runs = yield* api(store.listRuns({ user, status: unfinished }))
      const v = yield* view
      const pending = runs.filter((r) => r.status === "pending").sort((a, b) => placeOf(a, v) - placeOf(b, v))
      const runningRuns = runs.filter(running)
      return {
        pending_count: pending.length,
        running_count: runningRuns.length,
        blocked_count: runs.filter((r) => r.status === "blocked").length,
        best_position: pending.length === 0 ? null : placeOf(pending[0]!, v),
        pending_jobs: pending.slice(0, 100).map((r) => entryOf(r, v)),
        running_jobs: runningRuns.map((r) => entryOf(r, v))
      }
    })

  const concurrency = Effect.gen(function* () {
    const policy = yield* engine.policy
    return concurrencyOf(policy, source.inventory.length)
  })

  const stats = Effect.gen(function* () {
    const summary = yield* api(store.summary)
    const policy = yield* engine.policy
    const live = yield* api(store.listRuns({ status: ["running", "stopping"] }))
    const byUser: Record<string, number> = {}
    for (const run of live) byUser[run.user] = (byUser[run.user] ?? 0) + 1
    const gpus = yield* engine.gpus
    const { allocated, available } = allocationOf(gpus)
    const worker = (yield* engine.stats).worker
    const c = concurrencyOf(policy, source.inventory.length)
    const result: QueueStats = {
      by_status: summary.byStatus,
      by_user: byUser,
      queue_depth: summary.byStatus.pending ?? 0,
      running: live.length,
      avg_wait_seconds: summary.meanWaitMs === null ? null : summary.meanWaitMs / 1000,
      max_concurrent: c.max_concurrent,
      user_max_concurrent: c.user_max_concurrent,
      team_max_concurrent: c.team_max_concurrent,
      enable_fair_share: c.enable_fair_share,
      local_gpu_max_concurrent: c.local_gpu_max_concurrent,
      local_job_max_concurrent: c.local_job_max_concurrent,
      local: {
        running_jobs: live.length,
        pending_jobs: summary.byStatus.pending ?? 0,
        allocated_gpus: allocated,
        available_gpus: available,
        total_gpus: gpus.length,
        max_concurrent_gpus: policy.limits.localGpuMaxConcurrent,
        max_concurrent_jobs: policy.limits.localJobMaxConcurrent
      },
      workers: {
        total_workers: 1,
        idle_workers: worker === "idle" ? 1 : 0,
        busy_workers: worker === "busy" ? 1 : 0,
        offline_workers: worker === "lost" ? 1 : 0,
        draining_workers: worker === "draining" ? 1 : 0
      }
    }
    return result
  })

  const submitTemplate = (control: Control, request: LocalSubmitRequest): Effect.Effect<LocalSubmitResponse, ApiError> => {
    const refused = (error: string, reason: string | null, status: LocalSubmitResponse["status"] = null): LocalSubmitResponse => ({
      success: false,
      job_id: null,
      status,
      allocated_gpus: null,
      allocated_worker_id: null,
      queue_position: null,
      requires_approval: false,
      error,
      reason
    })
    return Effect.gen(function* () {
      if (request.target === "worker") return refused("no remote workers: this server runs its own GPUs (target local or auto)", "NO_WORKERS")
      const template = directory.template(request.config_name)
      if (template === undefined) return refused(`Config '${request.config_name}' not found (gantry config list)`, "NOT_FOUND")
      const submitted = yield* Effect.either(
        Effect.flatMap(
          decodeSubmission({
            ...fromTemplate(request.config_name, template.submission as Record<string, unknown>),
            // any_gpu: the template's device ids become preferences, any free GPU will do
            ...(request.any_gpu ? { anyGpu: true } : {}),
            ...(request.no_wait ? { noWait: true } : {}),
            ...(request.for_approval ? { requiresApproval: true } : {})
          }),
          (submission) => control.submit(submission)
        )
      )
      if (submitted._tag === "Left") return refused(submitted.left.message, submitted.left.code)
      const outcome = submitted.right
      if (outcome._tag === "Refused") return refused(`it cannot start now (${outcome.reason}) and no_wait was asked`, outcome.reason, "rejected")
      if (outcome._tag === "DryRun") return refused("a template asking for a dry run submits nothing", "DRY_RUN")
      // the answer after the cycle the submission woke: running with its GPUs, or its place
      yield* engine.process
      const run = yield* api(engine.getRun(outcome.run.id))
      const v = yield* view
      const started = run.startedAt !== null
      return {
        success: true,
        job_id: run.id,
        status: started ? "running" : run.status === "blocked" ? "blocked" : "queued",
        allocated_gpus: started ? [...run.assignedGpus] : null,
        allocated_worker_id: null,
        queue_position: started ? null : placeOf(run, v),
        requires_approval: run.requiresApproval,
        error: null,
        reason: run.status === "blocked" ? "waiting for an admin's approval" : run.status === "held" ? "held: gantry release it" : null
      } satisfies LocalSubmitResponse
    })
  }

  const queue = HttpApiBuilder.group(GantryApi, "commonQueue", (h) =>
    h
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          const status = yield* statusFilter(urlParams.status)
          const runs = yield* api(
            store.listRuns({
              ...(status !== undefined ? { status } : urlParams.include_completed === true ? {} : { status: unfinished }),
              limit: urlParams.limit ?? 50,
              ...(urlParams.offset !== undefined ? { offset: urlParams.offset } : {})
            })
          )
          const v = yield* view
          const counts = yield* engine.stats
          return { entries: runs.map((r) => entryOf(r, v)), total_pending: counts.pending, total_running: counts.active }
        })
      )
      .handle("stats", () => stats)
      .handle("me", () => Effect.flatMap(Caller, (caller) => userQueue(caller.name)))
      .handle("user", ({ path }) =>
        Effect.flatMap(Caller, (caller) =>
          Effect.gen(function* () {
            const user = directory.userByNumber(path.user_id)
            if (user === undefined) return yield* Effect.fail(notFound("UserNotFound", `no user number ${path.user_id}`))
            if (user.identity.name !== caller.name && !Access.actOnOthersRuns(caller))
              return yield* Effect.fail(forbidden(`${caller.name} is a ${caller.level}: only a lead or an admin may see another user's queue`))
            return yield* userQueue(user.identity.name)
          })
        )
      )
      .handle("position", ({ path }) =>
        Effect.gen(function* () {
          const run = yield* api(engine.getRun(path.job_id))
          const v = yield* view
          const place = placeOf(run, v)
          const summary = yield* api(store.summary)
          const runningNow = (yield* engine.stats).active
          const waiting = run.status === "pending" || run.status === "blocked" || run.status === "held"
          return {
            job_id: run.id,
            position: place,
            status: run.status,
            priority: priorityName(run.basePriority),
            queued_at: iso(run.submittedAt)!,
            estimated_wait_seconds: !waiting ? 0 : place === 0 ? 0 : summary.meanWaitMs === null ? null : (place * summary.meanWaitMs) / 1000 / Math.max(runningNow, 1)
          }
        })
      )
      .handle("submit", ({ payload }) => as((control) => submitTemplate(control, payload)))
      .handle("cancel", ({ path }) => as((control) => Effect.as(control.cancel([path.job_id], false), { success: true, job_id: path.job_id })))
      .handle("approve", ({ path }) =>
        as((control, caller) => Effect.as(control.approve(path.job_id), { success: true, job_id: path.job_id, approved_by: directory.userNumber(caller.name) }))
      )
      .handle("reject", ({ path, urlParams }) =>
        as((control, caller) =>
          Effect.as(control.reject(path.job_id, urlParams.reason), { success: true, job_id: path.job_id, rejected_by: directory.userNumber(caller.name), reason: urlParams.reason })
        )
      )
      .handle("priority", ({ path, payload }) =>
        as((control) =>
          Effect.gen(function* () {
            const before = yield* api(engine.getRun(path.job_id))
            const v = yield* view
            const after = yield* control.priority(path.job_id, payload.priority)
            return {
              success: true,
              job_id: after.id,
              previous_effective_priority: effectivePriorityOf(before, v),
              new_effective_priority: effectivePriorityOf(after, v),
              priority_override: after.priorityOverride
            }
          })
        )
      )
      .handle("concurrency", () => concurrency)
      .handle("setConcurrency", ({ payload }) =>
        as((control) =>
          Effect.gen(function* () {
            const current = yield* control.limits
            const next: Policy = {
              ...current,
              version: current.version + 1,
              limits: {
                ...current.limits,
                ...(payload.max_concurrent !== undefined ? { maxConcurrent: payload.max_concurrent } : {}),
                ...(payload.user_max_concurrent !== undefined ? { userMaxConcurrent: payload.user_max_concurrent } : {}),
                ...(payload.team_max_concurrent !== undefined ? { teamMaxConcurrent: payload.team_max_concurrent } : {}),
                ...(payload.local_gpu_max_concurrent !== undefined ? { localGpuMaxConcurrent: payload.local_gpu_max_concurrent } : {}),
                ...(payload.local_job_max_concurrent !== undefined ? { localJobMaxConcurrent: payload.local_job_max_concurrent } : {})
              },
              fairShare:
                payload.enable_fair_share === undefined
                  ? current.fairShare
                  : { ...current.fairShare, mode: payload.enable_fair_share ? (current.fairShare.mode === "off" ? "limits" : current.fairShare.mode) : "off" }
            }
            return concurrencyOf(yield* control.setLimits(next, { source: "concurrency" }), source.inventory.length)
          })
        )
      )
      .handle("process", () => as((control) => Effect.map(control.process, (ids) => ({ success: true, dispatched: ids.length, job_ids: [...ids] }))))
      .handle("cleanup", ({ urlParams }) =>
        as((control) => {
          const days = urlParams.days ?? 30
          return Effect.map(control.cleanup(days), (deleted) => ({ success: true, deleted, days }))
        })
      )
  )

  const system = HttpApiBuilder.group(GantryApi, "commonSystem", (h) =>
    h.handle("status", ({ urlParams }) =>
      Effect.gen(function* () {
        const gpus = yield* engine.gpus
        const backend = source.inventory.length > 0 ? "cuda" : null
        const load = new Map((yield* source.load).map((l) => [l.index, l]))
        const status: CommonSystemStatus = {
          timestamp: source.now() / 1000,
          load_avg_5min: Math.round(os.loadavg()[1]! * 100) / 100,
          memory_percent: Math.round((1 - os.freemem() / os.totalmem()) * 1000) / 10,
          gpus: source.inventory.map((g) => ({
            index: g.index,
            name: g.name,
            backend,
            utilization_percent: load.get(g.index)?.utilizationPercent ?? null,
            memory_percent: load.get(g.index)?.memoryPercent ?? null
          })),
          gpu_inventory: { backend, count: source.inventory.length, capabilities: { supports_cuda: backend === "cuda", supports_mps: false, supports_rocm: false } },
          ...(urlParams.include_allocation === true
            ? {
                gpu_allocation: {
                  allocated_gpus: allocationOf(gpus).allocated,
                  available_gpus: allocationOf(gpus).available,
                  running_local_jobs: (yield* engine.stats).active,
                  devices: gpus.map((g) => {
                    const info = source.inventory.find((i) => i.index === g.index)
                    return {
                      index: g.index,
                      name: info?.name ?? "",
                      memory_gb: info === undefined ? null : Math.round((info.memoryMiB / 1024) * 10) / 10,
                      allocated: g.heldBy !== null,
                      job_id: g.heldBy
                    }
                  })
                }
              }
            : {})
        }
        return status
      })
    )
  )

  const jobs = HttpApiBuilder.group(GantryApi, "commonJobs", (h) =>
    h
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          const status = yield* statusFilter(urlParams.status)
          // every job here is local; a filter for another kind or a provider finds none
          if (urlParams.job_type === "cloud" || (urlParams.provider !== undefined && urlParams.provider !== "local")) return { jobs: [], total: 0 }
          const runs = yield* api(
            store.listRuns({
              ...(status !== undefined ? { status } : {}),
              limit: urlParams.limit ?? 50,
              ...(urlParams.offset !== undefined ? { offset: urlParams.offset } : {})
            })
          )
          const v = yield* view
          return { jobs: runs.map((r) => jobOf(r, v, hardware)), total: runs.length }
        })
      )
      .handle("get", ({ path }) => Effect.gen(function* () {
        const run = yield* api(engine.getRun(path.job_id))
        return { job: jobOf(run, yield* view, hardware) }
      }))
      .handle("cancel", ({ path }) => as((control) => Effect.as(control.cancel([path.job_id], false), { success: true, job_id: path.job_id, status: "cancelled" })))
  )

  return Layer.mergeAll(queue, system, jobs)
}

/** The six limits of the common API, from the policy (the global one as applied: the GPU count when unset). */
const concurrencyOf = (policy: Policy, gpuCount: number): Concurrency => ({
  success: true,
  max_concurrent: effectiveMaxConcurrent(policy, gpuCount),
  user_max_concurrent: policy.limits.userMaxConcurrent,
  team_max_concurrent: policy.limits.teamMaxConcurrent,
  enable_fair_share: policy.fairShare.mode !== "off",
  local_gpu_max_concurrent: policy.limits.localGpuMaxConcurrent,
  local_job_max_concurrent: policy.limits.localJobMaxConcurrent
})
