/**
 * The engine's commands: everything that changes its state on a caller's behalf. Each runs
 * under the engine's lock (Serial.ts: one command or cycle at a time, from its first read to
 * its last change) and follows Commit.ts's rule: validate against memory, commit, then apply.
 * Runs handed back are frozen copies, never the engine's own records.
 */
import {
  DEFAULT_QUEUE,
  Policy as PolicySchema,
  type Policy,
  type QueueConfig,
  type QueueName,
  type Run,
  type RunId,
  Submission as SubmissionSchema,
  type Submission,
  submissionOverLimit
} from "@gantry/core"
import { Effect, Either, Exit, ParseResult, Schema } from "effect"
import type { Committer } from "./Commit.js"
import type { EngineService, SubmitOutcome } from "./Engine.js"
import {
  BulkRefused,
  type EngineError,
  GpuNotFound,
  IllegalTransition,
  InvalidPolicy,
  InvalidSubmission,
  QueueExists,
  QueueFull,
  QueueNotEmpty,
  QueueNotFound,
  RunNotFound,
  RunnerRequired,
  TooLarge
} from "./Errors.js"
import { copyOf, deepFreeze } from "./Frozen.js"
import type { Kernel, Planned } from "./Kernel.js"
import { queueDepthUsed } from "./QueueMachine.js"
import { buildRun } from "./RunBuilder.js"
import type { RunMachineEvent } from "./RunMachine.js"
import type { Serial } from "./Serial.js"
import type { StoreError, StoreService } from "./Store.js"

export interface CommandDeps {
  readonly kernel: Kernel
  readonly store: StoreService
  readonly serial: Serial
  readonly committer: Committer
  readonly offline: boolean
  /** Decode each submission with the Submission schema (EngineOptions.decodeSubmissions). */
  readonly decodeSubmissions: boolean
}

type Commands = Pick<
  EngineService,
  "submit" | "submitNow" | "submitMany" | "cancel" | "release" | "approve" | "reject" | "setPriority" | "updatePolicy" | "drainGpu" | "createQueue" | "updateQueue" | "deleteQueue"
>

/** A run by id: the live record, else one not committed yet, else the store's. */
export const findRun = (kernel: Kernel, store: StoreService, id: RunId): Effect.Effect<Run, RunNotFound | StoreError> =>
  Effect.suspend(() => {
    const live = kernel.live(id) ?? kernel.unflushed(id)
    if (live !== undefined) return Effect.succeed(live)
    return Effect.flatMap(store.getRun(id), (run) => (run === undefined ? Effect.fail(new RunNotFound({ runId: id })) : Effect.succeed(run)))
  })

const decodeSubmission = Schema.decodeUnknownEither(SubmissionSchema)
const isSubmission = Schema.is(SubmissionSchema)

export const makeCommands = ({ kernel, store, serial, committer, offline, decodeSubmissions }: CommandDeps): Commands => {
  const { commitThen, commitThenNow } = committer
  const locked = <A>(effect: Effect.Effect<A, EngineError | StoreError>): Effect.Effect<A, EngineError | StoreError> => serial.run(effect)

  /** A run that can still change (not ended), else IllegalTransition naming its status. */
  const liveRun = (id: RunId, action: string) =>
    Effect.flatMap(findRun(kernel, store, id), (run): Effect.Effect<Run, EngineError | StoreError> =>
      kernel.isLive(id) ? Effect.succeed(run) : Effect.fail(new IllegalTransition({ runId: id, status: run.status, event: action }))
    )

  /** One statechart event on one run: planned, committed, applied. */
  const stepRun = (id: RunId, event: RunMachineEvent, action: string) =>
    locked(
      Effect.flatMap(liveRun(id, action), (run): Effect.Effect<Run, EngineError | StoreError> => {
        const planned = kernel.plan(id, event)
        if (planned === null) return Effect.fail(new IllegalTransition({ runId: id, status: run.status, event: action }))
        return commitThen({ runs: [planned.record], events: [planned.event] }, () => {
          kernel.apply(planned, event)
          kernel.wake(action)
          return copyOf(kernel.live(id) ?? planned.record)
        })
      })
    )

  // a refusal below is an `Exit.fail`, not an `Effect.fail` (which captures the fiber's span,
  // so it is not an Exit): a submission is done without a fiber when it can be (submitNow)
  /** A submission whose idempotency key (if any) names no run: validated, committed, admitted. */
  const submitNew = (s: Submission): Effect.Effect<SubmitOutcome, EngineError | StoreError> => {
    const built = buildRun(kernel, s, kernel.now())
    if (Either.isLeft(built)) return Exit.fail(built.left)
    const run = built.right
    if (s.dryRun === true) {
      if (run.status !== "pending") return Effect.succeed({ _tag: "DryRun", wouldStart: false, gpus: [], reason: null })
      const { start, reason } = kernel.probe(run)
      return Effect.succeed({ _tag: "DryRun", wouldStart: start !== undefined, gpus: start?.gpus ?? [], reason })
    }
    const queue = kernel.queueConfig(run.queue)!
    if (queue.depth !== null && queueDepthUsed(kernel.queueCounts(run.queue)!) >= queue.depth)
      return Exit.fail(new QueueFull({ queue: run.queue, depth: queue.depth }))
    if (s.noWait === true) {
      const { start, reason } = kernel.probe(run)
      if (start === undefined) return Effect.succeed({ _tag: "Refused", reason: reason ?? "gpu-busy" })
    }
    // the record itself: a store keeps its own copy (MemoryStore) or the JSON (SQLite); begun
    // now, as this runs inside the submission's own Effect (or submitNow)
    const submitted = kernel.submittedEvent(run)
    return commitThenNow({ runs: [run], events: [submitted] }, () => {
      kernel.admit(run, submitted)
      return { _tag: "Accepted", run: copyOf(run), duplicate: false } as const
    })
  }

  /**
   * Many submissions in one commit (`gantry submit --from FILE.jsonl`): every one is judged as
   * `submit` judges one (the depth of a queue counts the ones before it), then all are stored
   * in one transaction and admitted; a refused one refuses them all, naming it (BulkRefused).
   * What only makes sense for one submission is refused in a bulk one: dryRun, noWait, an
   * idempotency key (the file is one transaction: it is stored whole or not at all) and
   * parentId (children are submitted by their parent run).
   */
  const submitMany = (inputs: ReadonlyArray<Submission>): Effect.Effect<ReadonlyArray<Run>, EngineError | StoreError> =>
    locked(
      Effect.suspend((): Effect.Effect<ReadonlyArray<Run>, EngineError | StoreError> => {
        const at = kernel.now()
        const runs: Array<Run> = []
        const added = new Map<string, number>()
        for (let index = 0; index < inputs.length; index++) {
          const refuse = (error: Exclude<EngineError, BulkRefused>) => Effect.fail(new BulkRefused({ index, error }))
          const valid = decoded(inputs[index]!)
          if (Either.isLeft(valid)) return refuse(valid.left as Exclude<EngineError, BulkRefused>)
          const s = valid.right
          const single = s.dryRun === true ? "dryRun" : s.noWait === true ? "noWait" : s.idempotencyKey !== undefined ? "idempotencyKey" : s.parentId !== undefined ? "parentId" : null
          if (single !== null) return refuse(new InvalidSubmission({ message: `${single} is for a single submission, not a bulk one` }))
          const built = buildRun(kernel, s, at, kernel.seq + 1 + index)
          if (Either.isLeft(built)) return refuse(built.left as Exclude<EngineError, BulkRefused>)
          const run = built.right
          const queue = kernel.queueConfig(run.queue)!
          const before = added.get(run.queue) ?? 0
          if (queue.depth !== null && queueDepthUsed(kernel.queueCounts(run.queue)!) + before >= queue.depth)
            return refuse(new QueueFull({ queue: run.queue, depth: queue.depth }))
          added.set(run.queue, before + 1)
          runs.push(run)
        }
        const events = runs.map((run) => kernel.submittedEvent(run))
        return commitThen({ runs, events }, () => {
          for (let i = 0; i < runs.length; i++) kernel.admit(runs[i]!, events[i]!)
          return runs.map(copyOf)
        })
      })
    )

  /** The parent a child names must exist (live, or stored). */
  const checkParent = (s: Submission): Effect.Effect<void, EngineError | StoreError> => {
    if (s.parentId === undefined) return Effect.void
    const parentId = s.parentId
    return Effect.catchTag(Effect.asVoid(findRun(kernel, store, parentId)), "RunNotFound", () =>
      Effect.fail(new InvalidSubmission({ message: `parentId: no run ${JSON.stringify(parentId)}` }))
    )
  }

  /**
   * A submission as the schema has it (sizes first, so "too large" is never "malformed"): an
   * embedder's typed submission was never decoded. The simulator, whose submissions are built
   * by code from a workload, turns it off (`EngineOptions.decodeSubmissions`: ~5 µs a run).
   */
  const decoded = (s: Submission): Either.Either<Submission, EngineError> => {
    if (!decodeSubmissions) return Either.right(s)
    const over = submissionOverLimit(s)
    if (over !== undefined) return Either.left(new TooLarge({ field: over.field, message: over.message }))
    // a check (no decoded copy made); decoded only to say what is wrong
    if (isSubmission(s)) return Either.right(s)
    const result = decodeSubmission(s)
    return Either.isRight(result)
      ? Either.right(result.right)
      : Either.left(new InvalidSubmission({ message: `submission: ${ParseResult.TreeFormatter.formatErrorSync(result.left)}` }))
  }

  /** A submission's code, under the lock (its Effect.suspend, or submitNow). */
  const submitting = (input: Submission): Effect.Effect<SubmitOutcome, EngineError | StoreError> => {
    const valid = decoded(input)
    if (Either.isLeft(valid)) return Exit.fail(valid.left)
    const s = valid.right
    const key = s.idempotencyKey
    const fresh = s.parentId === undefined ? Effect.suspend(() => submitNew(s)) : Effect.zipRight(checkParent(s), Effect.suspend(() => submitNew(s)))
    if (key === undefined) return s.parentId === undefined ? submitNew(s) : fresh
    // under the lock: nothing can store a run with this key between this look-up and the commit
    // keys are per user: another user's run with the same key is not this submission's
    const live = kernel.byIdempotencyKey(s.user, key)
    const existing = live !== undefined ? Effect.succeed(live) : store.findByIdempotencyKey(s.user, key)
    return Effect.flatMap(existing, (run) =>
      run !== undefined ? Effect.succeed<SubmitOutcome>({ _tag: "Accepted", run: copyOf(run), duplicate: true }) : fresh
    )
  }

  const submit = (input: Submission): Effect.Effect<SubmitOutcome, EngineError | StoreError> => locked(Effect.suspend(() => submitting(input)))

  /**
   * `submit` done now when it can be done without waiting (Sync.ts): the lock free, the store
   * synchronous (`commitNow`), and nothing to look up in it (no idempotency key, no parent).
   * Then it is an Exit; otherwise it is `submit`'s Effect, to run as any other. The simulator
   * submits every arrival this way: the lock, the fiber steps and the Effect combinators of an
   * uncontended submission were ~10% of a replay.
   */
  const submitNow = (input: Submission): Effect.Effect<SubmitOutcome, EngineError | StoreError> => {
    if (store.commitNow === undefined || input.idempotencyKey !== undefined || input.parentId !== undefined || !serial.tryEnter()) return submit(input)
    try {
      const done = submitting(input)
      // every path of a submission without a key or a parent ends in an Exit with a synchronous store
      if (!Exit.isExit(done)) throw new Error("submitNow: a submission left work for a fiber")
      return done
    } catch (defect) {
      return Exit.die(defect)
    } finally {
      serial.release()
    }
  }

  const cancel = (ids: ReadonlyArray<RunId>) =>
    locked(
      Effect.gen(function* () {
        // unknown ids fail the command before anything changes. A run already ended is skipped
        // in a bulk cancel (it races with completions, as Slurm's scancel does), but when no
        // run given can be cancelled the command fails like approve or release would (409)
        const live: Array<RunId> = []
        let ended: Run | undefined
        for (const id of ids) {
          const run = yield* findRun(kernel, store, id)
          if (offline && (run.status === "running" || run.status === "stopping")) return yield* new RunnerRequired({ runId: id, action: "cancel" })
          if (kernel.isLive(id)) live.push(id)
          else ended ??= run
        }
        if (live.length === 0 && ended !== undefined) return yield* new IllegalTransition({ runId: ended.id, status: ended.status, event: "cancel" })
        // a stopping run is being stopped already: nothing to plan
        const plans = live.map((id) => kernel.plan(id, { type: "CANCEL" })).filter((p): p is Planned => p !== null)
        return yield* commitThen({ runs: plans.map((p) => p.record), events: plans.map((p) => p.event) }, () => {
          for (const planned of plans) kernel.apply(planned, { type: "CANCEL" })
          kernel.wake("cancel")
          return plans.map((p) => p.event.runId)
        })
      })
    )

  /** A queue's configuration, checked, frozen, committed, then applied (`apply`) and the scheduler woken. */
  const storeQueue = (config: QueueConfig, apply: (frozen: QueueConfig) => void): Effect.Effect<QueueConfig, EngineError | StoreError> => {
    const frozen = deepFreeze(structuredClone(config))
    return Effect.zipRight(
      checkQueue(frozen),
      commitThen({ queues: [frozen] }, () => {
        apply(frozen)
        kernel.wake("queue")
        return frozen
      })
    )
  }

  const checkQueue = (config: QueueConfig) => {
    const unknown = (config.gpuPool ?? []).filter((g) => !kernel.hasGpu(g))
    return unknown.length > 0 ? Effect.fail(new InvalidPolicy({ message: `queue ${config.name}: no GPU ${unknown.join(", ")} on this machine` })) : Effect.void
  }

  return {
    submit,
    submitNow,
    submitMany,
    cancel,
    release: (id) => stepRun(id, { type: "RELEASE" }, "release"),
    approve: (id) => stepRun(id, { type: "APPROVE" }, "approve"),
    reject: (id, reason) => stepRun(id, { type: "REJECT", reason }, "reject"),
    setPriority: (id, priority) =>
      locked(
        Effect.flatMap(liveRun(id, "set priority"), () => {
          const record = kernel.planPriority(id, priority)!
          return commitThen({ runs: [record] }, () => {
            kernel.applyPriority(id, priority)
            return copyOf(kernel.live(id) ?? record)
          })
        })
      ),
    updatePolicy: (next, origin) =>
      locked(
        Effect.suspend((): Effect.Effect<Policy, EngineError | StoreError> => {
          const valid = Schema.decodeUnknownEither(PolicySchema)(next)
          if (valid._tag === "Left") return Effect.fail(new InvalidPolicy({ message: ParseResult.TreeFormatter.formatErrorSync(valid.left) }))
          const policy: Policy = deepFreeze(structuredClone(next))
          // the version's who and how, committed with it (the store's policy history)
          const policyOrigin = { appliedBy: origin?.appliedBy ?? null, source: origin?.source ?? "engine", note: origin?.note ?? null, appliedAt: kernel.now() }
          return commitThen({ policy, policyOrigin }, () => {
            kernel.setPolicy(policy)
            kernel.wake("policy")
            return policy
          })
        })
      ),
    drainGpu: (index, drain) =>
      locked(
        Effect.suspend((): Effect.Effect<void, EngineError | StoreError> => {
          if (!kernel.hasGpu(index)) return Effect.fail(new GpuNotFound({ index }))
          return commitThen({ drainedGpus: [{ index, drained: drain }] }, () => {
            kernel.drainGpu(index, drain)
            kernel.wake("gpu")
          })
        })
      ),
    createQueue: (config) =>
      locked(
        Effect.suspend(() =>
          kernel.hasQueue(config.name)
            ? Effect.fail(new QueueExists({ queue: config.name }))
            : storeQueue(config, (frozen) => kernel.addQueue(frozen))
        )
      ),
    updateQueue: (name, change) =>
      locked(
        Effect.suspend(() => {
          const current = kernel.queueConfig(name)
          if (current === undefined) return Effect.fail(new QueueNotFound({ queue: name }))
          return storeQueue({ ...current, ...change, name }, (frozen) => kernel.configureQueue(frozen))
        })
      ),
    deleteQueue: (name: QueueName, options?: { readonly drain?: boolean }) =>
      locked(
        Effect.suspend((): Effect.Effect<void, EngineError | StoreError> => {
          if (name === DEFAULT_QUEUE) return Effect.fail(new InvalidPolicy({ message: "the default queue cannot be deleted" }))
          const counts = kernel.queueCounts(name)
          if (counts === undefined) return Effect.fail(new QueueNotFound({ queue: name }))
          const live = queueDepthUsed(counts)
          if (live > 0 && options?.drain !== true) return Effect.fail(new QueueNotEmpty({ queue: name, runs: live }))
          // an empty queue goes at once (its deletion committed first); one with runs drains:
          // it takes no new runs, and its deletion is committed when its last run has ended
          if (live === 0) return commitThen({ deletedQueues: [name] }, () => kernel.drainQueue(name, true))
          return Effect.sync(() => kernel.drainQueue(name, false))
        })
      )
  }
}

