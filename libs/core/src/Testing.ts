/**
 * Small builders for tests and examples: `aRun({ gpus: 2, user: "ana" })`,
 * `aSnapshot({ gpus: 4, pending: [...], running: [...] })`.
 * Exported as "@gantry/core/testing"; not part of the engine's runtime API.
 */
import { PendingIndex } from "./PendingIndex.js"
import { defaultPolicy, makeQueue, type Policy, type QueueConfig } from "./Policy.js"
import { freshLifecycle, type Level, QueueName, type Run, RunId, TeamName, UserName } from "./Run.js"
import { type ActiveRun, type GpuView, RunningSet, type Snapshot, type UsageView } from "./Snapshot.js"

export interface RunOptions {
  readonly id?: string
  readonly seq?: number
  readonly user?: string
  readonly team?: string | null
  readonly level?: Level
  readonly queue?: string
  readonly gpus?: number
  readonly deviceIds?: ReadonlyArray<number> | null
  readonly anyGpu?: boolean
  readonly priority?: number | null
  readonly basePriority?: number
  readonly eligibleAt?: number
  readonly submittedAt?: number
  readonly timeLimitMs?: number | null
  readonly deadlineAt?: number | null
  readonly parentId?: string | null
  readonly maxAttempts?: number
}

let nextSeq = 1

/** A pending run record with sensible defaults; `seq` and `id` count up unless given. */
export const aRun = (o: RunOptions = {}): Run => {
  const seq = o.seq ?? nextSeq++
  const level = o.level ?? "researcher"
  return {
    id: RunId.make(o.id ?? `r${seq}`),
    seq,
    name: null,
    command: ["true"],
    env: {},
    cwd: null,
    metadata: {},
    queue: QueueName.make(o.queue ?? "default"),
    user: UserName.make(o.user ?? "ana"),
    level,
    team: o.team === undefined || o.team === null ? null : TeamName.make(o.team),
    project: null,
    gpus: o.gpus ?? 1,
    deviceIds: o.deviceIds ?? null,
    anyGpu: o.anyGpu ?? false,
    basePriority: o.basePriority ?? defaultPolicy.levelPriorities[level],
    priorityOverride: o.priority ?? null,
    maxAttempts: o.maxAttempts ?? 1,
    maxQueuedTimeMs: null,
    deadlineAt: o.deadlineAt ?? null,
    timeLimitMs: o.timeLimitMs ?? null,
    estimatedCost: null,
    requiresApproval: false,
    idempotencyKey: null,
    parentId: o.parentId === undefined || o.parentId === null ? null : RunId.make(o.parentId),
    submittedAt: o.submittedAt ?? o.eligibleAt ?? 0,
    ...freshLifecycle("pending", o.eligibleAt ?? 0)
  }
}

export interface ActiveOptions extends RunOptions {
  /** The GPU indices it holds. */
  readonly holds?: ReadonlyArray<number>
  readonly startedAt?: number
  readonly endBy?: number | null
}

export const anActiveRun = (o: ActiveOptions = {}): ActiveRun => {
  const run = aRun({ ...o, gpus: o.holds?.length ?? 0 })
  return {
    id: run.id,
    user: run.user,
    team: run.team,
    queue: run.queue,
    gpus: o.holds ?? [],
    isChild: run.parentId !== null,
    startedAt: o.startedAt ?? 0,
    endBy: o.endBy ?? null
  }
}

export interface SnapshotOptions {
  readonly now?: number
  readonly policy?: Policy
  /** A GPU count (indices 0..n-1) or explicit views. */
  readonly gpus?: number | ReadonlyArray<GpuView>
  readonly drained?: ReadonlyArray<number>
  readonly queues?: ReadonlyArray<QueueConfig>
  readonly pending?: ReadonlyArray<Run>
  readonly running?: ReadonlyArray<ActiveRun>
  readonly usage?: UsageView | null
}

/** A consistent snapshot: GPUs held by the running runs are marked so. */
export const aSnapshot = (o: SnapshotOptions = {}): Snapshot => {
  const policy = o.policy ?? defaultPolicy
  const running = new RunningSet()
  for (const r of o.running ?? []) running.add(r)
  const holder = new Map<number, RunId>()
  for (const r of o.running ?? []) for (const g of r.gpus) holder.set(g, r.id)
  const drained = new Set(o.drained ?? [])
  const gpus: ReadonlyArray<GpuView> =
    typeof o.gpus === "object"
      ? o.gpus
      : Array.from({ length: o.gpus ?? 0 }, (_, index) => ({
          index,
          drained: drained.has(index),
          heldBy: holder.get(index) ?? null
        }))
  const queues = new Map<QueueName, QueueConfig>()
  queues.set(QueueName.make("default"), makeQueue("default"))
  for (const q of o.queues ?? []) queues.set(q.name, q)
  const pending = new PendingIndex(policy.fairShare.mode === "usage")
  for (const run of o.pending ?? []) pending.add(run)
  return { now: o.now ?? 0, policy, queues, gpus, running, pending, usage: o.usage ?? null }
}
