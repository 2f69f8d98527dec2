/**
 * Test support for the core's property tests: compact scenario specs (printed by fast-check
 * on failure), their fast-check arbitraries and builders to a Snapshot. Invariant checkers
 * are in checks.ts.
 */
import { fc } from "@fast-check/vitest"
import {
  type Decision,
  defaultPolicy,
  type FairShareMode,
  makeQueue,
  type Policy,
  type QueueConfig,
  type Run,
  type RunId,
  type Snapshot,
  type UsageView,
  WaitReason
} from "../src/internal.js"
import { anActiveRun, aRun, aSnapshot } from "../src/Testing.js"

/** Shared fast-check parameters: explicit run count, verbose counterexamples (seed + path are printed). */
export const runs = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, verbose: fc.VerbosityLevel.Verbose })

export const ALL_REASONS: ReadonlyArray<WaitReason> = WaitReason.literals

export interface PendingSpec {
  readonly user: number
  readonly team: number | null
  readonly level: "admin" | "lead" | "researcher" | "viewer"
  readonly queue: number
  readonly gpus: number
  readonly devices: "none" | "strict" | "strict-any-length" | "any"
  readonly ids: ReadonlyArray<number>
  readonly priority: number | null
  readonly eligibleAt: number
  readonly timeLimitMs: number | null
  readonly deadlineIn: number | null
  readonly child: boolean
}

export interface RunningSpec {
  readonly user: number
  readonly team: number | null
  readonly queue: number
  readonly child: boolean
  readonly holdCount: number
  readonly endIn: number | null
}

export interface Scenario {
  readonly gpuCount: number
  /** A permutation of 0..gpuCount-1: running runs take GPUs from it in turn. */
  readonly gpuOrder: ReadonlyArray<number>
  readonly drained: ReadonlyArray<number>
  readonly queues: ReadonlyArray<QueueConfig>
  readonly policy: Policy
  readonly usage: { readonly users: ReadonlyArray<number>; readonly teams: ReadonlyArray<number> } | null
  readonly userCount: number
  readonly teamCount: number
  readonly running: ReadonlyArray<RunningSpec>
  readonly pending: ReadonlyArray<PendingSpec>
  /** `now` = latest eligibleAt + nowDelta. */
  readonly nowDelta: number
}

const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)
/** `arb` with probability `p` (in 1/8ths), else null. */
const sometimes = <T>(eighths: number, arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary: fc.constant(null), weight: 8 - eighths }, { arbitrary: arb, weight: eighths })
const limit = (eighths: number, max: number) => sometimes(eighths, fc.integer({ min: 1, max }))

export const QUEUE_NAMES = ["default", "q1", "q2", "q3"] as const
/** Index of a queue no config exists for: its runs never start ("queue-paused"). */
export const GHOST_QUEUE = 9

const queueArb = (name: string): fc.Arbitrary<QueueConfig> =>
  fc
    .record({
      priority: fc.integer({ min: -2, max: 2 }),
      maxConcurrent: limit(2, 5),
      runConcurrency: limit(2, 4),
      gpuPool: sometimes(3, fc.subarray(range(16), { minLength: 2 })),
      gpuQuota: limit(2, 8),
      paused: fc.integer({ min: 0, max: 7 }).map((x) => x === 0)
    })
    .map((config) => makeQueue(name, config))

export const policyArb = (modes: ReadonlyArray<FairShareMode> = ["off", "limits", "usage"]): fc.Arbitrary<Policy> =>
  fc
    .record({
      maxConcurrent: fc.oneof(limit(4, 12), fc.integer({ min: 16, max: 40 })),
      userMaxConcurrent: limit(3, 4),
      teamMaxConcurrent: limit(3, 5),
      localGpuMaxConcurrent: limit(2, 12),
      localJobMaxConcurrent: limit(2, 12),
      aging: fc.option(
        fc.record({
          starvationThresholdMs: fc.integer({ min: 0, max: 60 }),
          agingStep: fc.integer({ min: 1, max: 10 }),
          agingIntervalMs: fc.integer({ min: 1, max: 30 })
        }),
        { nil: null, freq: 2 }
      ),
      mode: fc.constantFrom(...modes),
      backfill: fc.boolean()
    })
    .map(({ aging, mode, backfill, ...limits }) => ({
      ...defaultPolicy,
      limits,
      aging,
      fairShare: { ...defaultPolicy.fairShare, mode },
      backfill
    }))

export interface ScenarioOptions {
  readonly modes?: ReadonlyArray<FairShareMode>
}

const pendingArb: fc.Arbitrary<PendingSpec> = fc.record({
  user: fc.nat(4),
  team: sometimes(5, fc.nat(2)),
  level: fc.constantFrom("researcher", "researcher", "lead", "admin", "viewer"),
  queue: fc.integer({ min: 0, max: 39 }).map((x) => (x === 0 ? GHOST_QUEUE : x % 4)),
  gpus: fc.integer({ min: 0, max: 4 }),
  devices: fc.constantFrom("none", "none", "none", "none", "strict", "strict-any-length", "any"),
  ids: fc.shuffledSubarray(range(8), { maxLength: 4 }),
  priority: sometimes(2, fc.constantFrom(-5, 0, 15, 25, 40)),
  eligibleAt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 })),
  timeLimitMs: sometimes(4, fc.constantFrom(50, 100, 300, 1000)),
  // within the range of running runs' end bounds: deadlines must not matter to reservations
  deadlineIn: sometimes(3, fc.integer({ min: 1, max: 600 })),
  child: fc.integer({ min: 0, max: 4 }).map((x) => x === 0)
})

const runningArb: fc.Arbitrary<RunningSpec> = fc.record({
  user: fc.nat(4),
  team: sometimes(5, fc.nat(2)),
  queue: fc.nat(3),
  child: fc.boolean(),
  holdCount: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 })),
  endIn: sometimes(6, fc.integer({ min: -10, max: 400 }))
})

export const scenarioArb = (o: ScenarioOptions = {}): fc.Arbitrary<Scenario> =>
  fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 6, max: 16 })).chain((gpuCount) =>
    fc.record({
      gpuCount: fc.constant(gpuCount),
      gpuOrder: fc.shuffledSubarray(range(gpuCount), { minLength: gpuCount, maxLength: gpuCount }),
      drained: fc.subarray(range(gpuCount), { maxLength: Math.min(3, gpuCount) }),
      queues: fc.integer({ min: 0, max: 3 }).chain((extra) =>
        fc.tuple(...QUEUE_NAMES.slice(0, extra + 1).map(queueArb)).map((qs) => [
          // the default queue stays unpaused and unlimited often enough to see work
          { ...qs[0]!, paused: false },
          ...qs.slice(1)
        ])
      ),
      policy: policyArb(o.modes),
      usage: fc.record({
        users: fc.array(fc.nat(3), { minLength: 5, maxLength: 5 }),
        teams: fc.array(fc.nat(3), { minLength: 3, maxLength: 3 })
      }),
      userCount: fc.integer({ min: 1, max: 5 }),
      teamCount: fc.integer({ min: 0, max: 3 }),
      running: fc.array(runningArb, { maxLength: 8, size: "max" }),
      pending: fc.array(pendingArb, { maxLength: 60, size: "max" }),
      nowDelta: fc.integer({ min: 0, max: 100 })
    })
  )

const userName = (sc: Scenario, i: number) => `u${(i % sc.userCount) + 1}`
const teamName = (sc: Scenario, i: number | null) => (i === null || sc.teamCount === 0 ? null : `t${(i % sc.teamCount) + 1}`)
const queueName = (sc: Scenario, i: number) =>
  i === GHOST_QUEUE ? "ghost" : (QUEUE_NAMES[i % sc.queues.length] ?? "default")

export const nowOf = (sc: Scenario): number => Math.max(0, ...sc.pending.map((p) => p.eligibleAt)) + sc.nowDelta

export const pendingRunsOf = (sc: Scenario): Array<Run> => {
  const now = nowOf(sc)
  return sc.pending.map((p, i) => {
    const strict = p.devices === "strict" || p.devices === "strict-any-length"
    const deviceIds =
      p.devices === "none" ? null : p.devices === "strict" ? p.ids.slice(0, p.gpus) : [...p.ids]
    return aRun({
      id: `r${i + 1}`,
      seq: i + 1,
      user: userName(sc, p.user),
      team: teamName(sc, p.team),
      level: p.level,
      queue: queueName(sc, p.queue),
      gpus: strict && p.devices === "strict" ? Math.min(p.gpus, p.ids.length) : p.gpus,
      deviceIds,
      anyGpu: p.devices === "any",
      priority: p.priority,
      eligibleAt: p.eligibleAt,
      timeLimitMs: p.timeLimitMs,
      deadlineAt: p.deadlineIn === null ? null : now + p.deadlineIn,
      parentId: p.child ? "parent" : null
    })
  })
}

export interface Built {
  readonly now: number
  readonly policy: Policy
  readonly gpuCount: number
  readonly drained: ReadonlyArray<number>
  readonly queues: ReadonlyArray<QueueConfig>
  readonly pending: ReadonlyArray<Run>
  readonly running: ReadonlyArray<ReturnType<typeof anActiveRun>>
  readonly usage: UsageView | null
}

export const build = (sc: Scenario): Built => {
  const now = nowOf(sc)
  let cursor = 0
  const running = sc.running.map((r, i) => {
    const holds = sc.gpuOrder.slice(cursor, cursor + r.holdCount)
    cursor += holds.length
    return anActiveRun({
      id: `a${i + 1}`,
      seq: 0,
      user: userName(sc, r.user),
      team: teamName(sc, r.team),
      queue: QUEUE_NAMES[r.queue % sc.queues.length]!,
      parentId: r.child ? "parent" : null,
      holds,
      startedAt: now,
      endBy: r.endIn === null ? null : now + r.endIn
    })
  })
  const usageTable = sc.usage
  const usage: UsageView | null =
    usageTable === null
      ? null
      : {
          user: (u) => usageTable.users[Number(u.slice(1)) - 1] ?? 0,
          team: (t) => usageTable.teams[Number(t.slice(1)) - 1] ?? 0
        }
  return {
    now,
    policy: sc.policy,
    gpuCount: sc.gpuCount,
    drained: sc.drained,
    queues: sc.queues,
    pending: pendingRunsOf(sc),
    running,
    usage
  }
}

export const snapshotOf = (b: Built): Snapshot =>
  aSnapshot({
    now: b.now,
    policy: b.policy,
    gpus: b.gpuCount,
    drained: b.drained,
    queues: b.queues,
    pending: b.pending,
    running: b.running,
    usage: b.usage
  })

/**
 * Everything a decision says, for comparing two ways of deciding: starts, reservation, waits,
 * otherwise, examined, and the reason of each of `ids`.
 */
export const decisionReport = (
  d: Pick<Decision, "starts" | "reservation" | "waits" | "otherwise" | "examined" | "reasonOf">,
  ids: ReadonlyArray<RunId>
) => ({
  starts: d.starts,
  reservation: d.reservation,
  waits: d.waits,
  otherwise: d.otherwise,
  examined: d.examined,
  reasons: ids.map((id) => [id, d.reasonOf(id)])
})
