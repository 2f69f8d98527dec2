/**
 * Validates a submission against the engine's queues, GPUs and policy, and builds the run
 * record (SPEC §4 defaults). Every refusal is a typed error and changes nothing.
 *
 * Plain code returning an Either, not an Effect: it runs once per submission, and an
 * Effect.gen with its fiber steps cost as much as the rest of the submission.
 */
import { basePriorityOf, DEFAULT_QUEUE, freshLifecycle, matchesApprovalRule, RunId, type Submission } from "@gantry/core"
import { Either } from "effect"
import { type EngineError, InvalidSubmission, PermissionDenied, QueueNotFound } from "./Errors.js"
import { deepFreeze, NO_ENV, NO_METADATA, NO_GPUS } from "./Frozen.js"
import type { Kernel, RunRecord } from "./Kernel.js"


const canOverride = (level: Submission["level"]) => level === "lead" || level === "admin"

/** `seq`: the run's sequence number (the next one unless a bulk submission numbers its runs). */
export const buildRun = (kernel: Kernel, s: Submission, at: number, seq: number = kernel.seq + 1): Either.Either<RunRecord, EngineError> => {
  if (s.command.length === 0 || s.command[0] === "") return Either.left(new InvalidSubmission({ message: "command: name a program to run" }))
  const queueName = s.queue ?? DEFAULT_QUEUE
  const queue = kernel.queueConfig(queueName)
  if (queue === undefined || kernel.queueState(queueName) === "draining") return Either.left(new QueueNotFound({ queue: queueName }))
  const level = s.level ?? "researcher"
  if (s.priority !== undefined && !canOverride(level))
    return Either.left(new PermissionDenied({ message: "only a lead or an admin may set a priority override" }))
  const machineGpus = kernel.gpuCount
  const gpus = s.gpus ?? s.deviceIds?.length ?? (machineGpus > 0 ? 1 : 0)
  if (s.deviceIds !== undefined && s.deviceIds.length === 0) return Either.left(new InvalidSubmission({ message: "deviceIds is empty" }))
  if (s.deviceIds !== undefined) {
    const unknown = s.deviceIds.filter((d) => !kernel.hasGpu(d))
    if (unknown.length > 0) return Either.left(new InvalidSubmission({ message: `no GPU ${unknown.join(", ")} on this machine` }))
    if (new Set(s.deviceIds).size !== s.deviceIds.length) return Either.left(new InvalidSubmission({ message: "device ids repeat" }))
    if (!s.anyGpu && s.deviceIds.length !== gpus)
      return Either.left(new InvalidSubmission({ message: `asks ${gpus} GPUs but names ${s.deviceIds.length} device ids` }))
  }
  const usable = queue.gpuPool === null ? machineGpus : queue.gpuPool.filter((g) => kernel.hasGpu(g)).length
  if (gpus > usable)
    return Either.left(new InvalidSubmission({ message: `asks ${gpus} GPUs; queue ${queueName} can use ${usable}` }))
  // a run that no limit would ever let start is refused now, not left pending forever
  if (queue.gpuQuota !== null && gpus > queue.gpuQuota)
    return Either.left(new InvalidSubmission({ message: `asks ${gpus} GPUs; queue ${queueName}'s GPU quota is ${queue.gpuQuota}` }))
  const gpuCap = kernel.policy.limits.localGpuMaxConcurrent
  if (gpuCap !== null && gpus > gpuCap)
    return Either.left(new InvalidSubmission({ message: `asks ${gpus} GPUs; at most ${gpuCap} may be in use at once` }))
  if (s.noWait === true && (s.hold === true || s.requiresApproval === true))
    return Either.left(new InvalidSubmission({ message: "noWait cannot be combined with hold or requiresApproval" }))
  const estimatedCost = s.estimatedCost ?? null
  const needsApproval = s.requiresApproval === true || matchesApprovalRule(kernel.policy.approvalRules, { gpus, estimatedCost })
  // the first status is the statechart's answer to SUBMIT
  const life = freshLifecycle(kernel.firstStatus(s.hold === true, needsApproval), at)
  return Either.right({
    id: RunId.make(String(seq)),
    seq,
    name: s.name ?? null,
    // the record's nested values are frozen copies: nobody holding the submission or a copy
    // of the run can change the engine's
    command: Object.freeze([...s.command]),
    env: s.env === undefined ? NO_ENV : Object.freeze({ ...s.env }),
    cwd: s.cwd ?? null,
    metadata: s.metadata === undefined ? NO_METADATA : deepFreeze(structuredClone(s.metadata)),
    queue: queueName,
    user: s.user,
    level,
    team: s.team ?? null,
    project: s.project ?? null,
    gpus,
    deviceIds: s.deviceIds === undefined ? null : Object.freeze([...s.deviceIds]),
    anyGpu: s.anyGpu ?? false,
    basePriority: basePriorityOf(kernel.policy, level),
    priorityOverride: s.priority ?? null,
    maxAttempts: s.maxAttempts ?? 1,
    maxQueuedTimeMs: s.maxQueuedTimeMs ?? null,
    deadlineAt: s.deadlineMs === undefined ? null : at + s.deadlineMs,
    timeLimitMs: s.timeLimitMs ?? null,
    estimatedCost,
    requiresApproval: needsApproval,
    idempotencyKey: s.idempotencyKey ?? null,
    parentId: s.parentId ?? null,
    submittedAt: at,
    // the lifecycle fields written out, not spread: a literal that names every field keeps
    // them all inside the object (a spread puts the rest in a separate property array, ~110
    // bytes more per run, twice with the store's copy — it shows with a million pending runs)
    status: life.status,
    attempt: life.attempt,
    eligibleAt: life.eligibleAt,
    startedAt: life.startedAt,
    endedAt: life.endedAt,
    assignedGpus: NO_GPUS,
    exitCode: life.exitCode,
    signal: life.signal,
    failReason: life.failReason,
    rejectReason: life.rejectReason,
    stopCause: life.stopCause
  } satisfies RunRecord)
}

