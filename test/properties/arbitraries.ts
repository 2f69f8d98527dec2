/**
 * fast-check arbitraries for one simulation case of the SPEC §6 property tests: a seed, a
 * machine (1–8 GPUs), a policy, queues and the options of a generated workload.
 *
 * A case holds the workload's *options*, not its jobs: a counterexample prints compactly and
 * `workloadOf(c)` regenerates the same jobs (generateWorkload is seeded). The simulate seed
 * (`c.seed`) is part of every case, so a failure prints it.
 */
import * as fc from "fast-check"
import { defaultPolicy, type FairShareMode, makeQueue, type Policy, type QueueConfig } from "@gantry/core"
import { type GenerateOptions, generateWorkload, type Level, type Workload } from "@gantry/sim"

export interface SimCase {
  /** The simulate seed (lost-process injection) and the workload generator's seed. */
  readonly seed: number
  readonly gpus: number
  readonly policy: Policy
  readonly queues: ReadonlyArray<QueueConfig>
  readonly workload: GenerateOptions
  readonly lostProbability: number
}

/** What a test wants more of; every knob still varies, these only shift the distributions. */
export interface Bias {
  /** Backfill on in (almost) every case, mixed GPU sizes and many time limits. */
  readonly backfill?: boolean
  /** Aging on in every case. */
  readonly aging?: boolean
  /** High maxQueuedTime / deadline / time-limit / cancel probabilities. */
  readonly timeouts?: boolean
  /** Tight limits (and small depths) in most cases. */
  readonly limits?: boolean
  /** Jobs per workload, inclusive. */
  readonly jobs?: readonly [number, number]
}

const MINUTE = 60_000

export const workloadOf = (c: SimCase): Workload => generateWorkload(c.workload)

/** What `simulate` needs of a case (its seed, workload, GPUs, policy, queues, losses); callers add their own options. */
export const simOptionsOf = (c: SimCase, workload: Workload = workloadOf(c)) => ({
  seed: c.seed,
  workload,
  gpus: c.gpus,
  policy: c.policy,
  queues: c.queues,
  lostProbability: c.lostProbability
})

/** null with probability ~1/(1+freq), else a value. */
const orNull = <T>(arb: fc.Arbitrary<T>, nullFreq: number, valueFreq: number): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary: fc.constant(null), weight: nullFreq }, { arbitrary: arb, weight: valueFreq })

const probability = (max: number) => fc.double({ min: 0, max, noNaN: true, noDefaultInfinity: true })

const levelsArb: fc.Arbitrary<ReadonlyArray<readonly [Level, number]>> = fc.constantFrom(
  [["researcher", 1]] as const,
  [["researcher", 3], ["lead", 1]] as const,
  [["researcher", 3], ["lead", 1], ["admin", 1], ["viewer", 1]] as const,
  [["viewer", 1], ["admin", 1]] as const
)

const policyArb = (gpus: number, bias: Bias): fc.Arbitrary<Policy> => {
  const tight = bias.limits === true
  return fc
    .record({
      maxConcurrent: orNull(fc.integer({ min: 1, max: 6 }), tight ? 1 : 2, 2),
      userMaxConcurrent: orNull(fc.integer({ min: 1, max: 3 }), tight ? 1 : 2, 2),
      teamMaxConcurrent: orNull(fc.integer({ min: 1, max: 4 }), tight ? 1 : 2, 2),
      localGpuMaxConcurrent: orNull(fc.integer({ min: 1, max: Math.max(1, gpus) }), tight ? 1 : 3, 1),
      localJobMaxConcurrent: orNull(fc.integer({ min: 1, max: 6 }), tight ? 1 : 3, 1),
      fairShare: fc.constantFrom<FairShareMode>("off", "limits", "usage"),
      halfLifeMs: fc.integer({ min: 5 * MINUTE, max: 24 * 60 * MINUTE }),
      aging:
        bias.aging === true
          ? fc.record({
              starvationThresholdMs: fc.integer({ min: 0, max: 10 * MINUTE }),
              agingStep: fc.integer({ min: 1, max: 10 }),
              agingIntervalMs: fc.integer({ min: 10_000, max: 5 * MINUTE })
            })
          : orNull(
              fc.record({
                starvationThresholdMs: fc.integer({ min: 0, max: 10 * MINUTE }),
                agingStep: fc.integer({ min: 1, max: 10 }),
                agingIntervalMs: fc.integer({ min: 10_000, max: 5 * MINUTE })
              }),
              1,
              1
            ),
      backfill: bias.backfill === true ? fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }) : fc.boolean(),
      killGraceMs: fc.constantFrom(0, 1_000, 10_000)
    })
    .map(
      (p): Policy => ({
        ...defaultPolicy,
        limits: {
          maxConcurrent: p.maxConcurrent,
          userMaxConcurrent: p.userMaxConcurrent,
          teamMaxConcurrent: p.teamMaxConcurrent,
          localGpuMaxConcurrent: p.localGpuMaxConcurrent,
          localJobMaxConcurrent: p.localJobMaxConcurrent
        },
        aging: p.aging,
        fairShare: { mode: p.fairShare, halfLifeMs: p.halfLifeMs },
        backfill: p.backfill,
        killGraceMs: p.killGraceMs
      })
    )
}

const queueArb = (name: string, gpus: number, bias: Bias): fc.Arbitrary<QueueConfig> => {
  const tight = bias.limits === true
  return fc
    .record({
      priority: name === "default" ? fc.constant(0) : fc.integer({ min: -3, max: 3 }),
      maxConcurrent: orNull(fc.integer({ min: 1, max: 4 }), tight ? 1 : 3, 1),
      runConcurrency: orNull(fc.integer({ min: 1, max: 4 }), tight ? 1 : 3, 1),
      depth: orNull(fc.integer({ min: 1, max: 15 }), tight ? 1 : 4, 1),
      gpuPool: orNull(fc.subarray(Array.from({ length: gpus }, (_, i) => i), { minLength: 1 }), 2, 1),
      gpuQuota: orNull(fc.integer({ min: 1, max: gpus }), tight ? 1 : 3, 1)
    })
    .map((q) => makeQueue(name, { ...q, paused: false }))
}

const queuesArb = (gpus: number, bias: Bias): fc.Arbitrary<ReadonlyArray<QueueConfig>> =>
  fc.integer({ min: 0, max: 2 }).chain((extra) =>
    fc.tuple(queueArb("default", gpus, bias), ...Array.from({ length: extra }, (_, i) => queueArb(`q${i + 1}`, gpus, bias)))
  )

const gpuMixArb = (gpus: number, bias: Bias): fc.Arbitrary<ReadonlyArray<readonly [number, number]>> =>
  fc
    .array(fc.integer({ min: 0, max: bias.backfill === true ? 6 : 4 }), { minLength: gpus + 1, maxLength: gpus + 1 })
    .map((weights) => {
      const mix = weights.map((w, g) => [g, w] as const).filter(([, w]) => w > 0)
      // never empty: at least one-GPU jobs
      return mix.length === 0 ? [[Math.min(1, gpus), 1] as const] : mix
    })

const workloadArb = (seed: number, gpus: number, queues: ReadonlyArray<QueueConfig>, bias: Bias): fc.Arbitrary<GenerateOptions> => {
  const t = bias.timeouts === true
  const [minJobs, maxJobs] = bias.jobs ?? [5, 60]
  return fc
    .record({
      jobs: fc.integer({ min: minJobs, max: maxJobs }),
      load: fc.double({ min: 0.3, max: 3, noNaN: true }),
      burstProbability: probability(0.5),
      users: fc.integer({ min: 1, max: 5 }),
      teams: fc.integer({ min: 0, max: 3 }),
      levels: levelsArb,
      gpuMix: gpuMixArb(gpus, bias),
      durationMedianMs: fc.integer({ min: MINUTE, max: 30 * MINUTE }),
      durationSigma: fc.double({ min: 0, max: 1.5, noNaN: true }),
      timeLimitProbability: bias.backfill === true ? fc.double({ min: 0.4, max: 1, noNaN: true }) : probability(1),
      overrunProbability: probability(0.5),
      failureProbability: probability(0.5),
      approvalProbability: probability(0.3),
      rejectProbability: probability(0.5),
      approvalDelayFactor: fc.double({ min: 0.1, max: 2, noNaN: true }),
      cancelProbability: probability(t ? 0.5 : 0.2),
      maxQueuedTimeProbability: probability(t ? 0.6 : 0.2),
      deadlineProbability: probability(t ? 0.6 : 0.2),
      maxAttempts: fc.integer({ min: 1, max: 3 })
    })
    .map((w): GenerateOptions => {
      // mean arrival gap so that offered load ≈ `load` GPUs' worth of one-GPU jobs
      const meanGapMs = w.durationMedianMs / (Math.max(1, gpus) * w.load)
      return {
        seed,
        jobs: w.jobs,
        arrivalRatePerHour: 3_600_000 / meanGapMs,
        burstProbability: w.burstProbability,
        burstSize: [2, 6],
        users: w.users,
        teams: w.teams,
        levels: w.levels,
        ...(queues.length > 1 ? { queues: queues.map((q) => q.name) } : {}),
        gpuMix: w.gpuMix,
        durationMedianMs: w.durationMedianMs,
        durationSigma: w.durationSigma,
        maxDurationMs: 4 * 60 * MINUTE,
        timeLimitProbability: w.timeLimitProbability,
        overrunProbability: w.overrunProbability,
        failureProbability: w.failureProbability,
        approvalProbability: w.approvalProbability,
        rejectProbability: w.rejectProbability,
        approvalDelayMeanMs: Math.max(1, Math.round(w.durationMedianMs * w.approvalDelayFactor)),
        cancelProbability: w.cancelProbability,
        maxQueuedTimeProbability: w.maxQueuedTimeProbability,
        deadlineProbability: w.deadlineProbability,
        maxAttempts: w.maxAttempts
      }
    })
}

/** One simulation case. */
export const simCaseArb = (bias: Bias = {}): fc.Arbitrary<SimCase> =>
  fc
    .record({
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      gpus: fc.integer({ min: 1, max: 8 }),
      lostProbability: fc.oneof(fc.constant(0), probability(0.1))
    })
    .chain(({ seed, gpus, lostProbability }) =>
      fc
        .tuple(policyArb(gpus, bias), queuesArb(gpus, bias))
        .chain(([policy, queues]) =>
          workloadArb(seed, gpus, queues, bias).map((workload): SimCase => ({ seed, gpus, policy, queues, workload, lostProbability }))
        )
    )

/** A one-line description of a case for failure messages. */
export const describeCase = (c: SimCase): string =>
  `seed=${c.seed} gpus=${c.gpus} jobs=${c.workload.jobs} fairShare=${c.policy.fairShare.mode} backfill=${c.policy.backfill} ` +
  `aging=${c.policy.aging === null ? "off" : JSON.stringify(c.policy.aging)} limits=${JSON.stringify(c.policy.limits)} ` +
  `queues=${JSON.stringify(c.queues)} lost=${c.lostProbability}`
