import { mmcMeanWaitMs, mmcWorkload, simulate } from "@gantry/sim"
import { describe, expect, it } from "vitest"

/**
 * The simulator against queueing theory: an M/M/c queue (Poisson arrivals, exponential
 * service, c GPUs, FIFO, one GPU per job) run through the full engine must show the mean
 * wait of the Erlang-C formula, Wq = C(c, a) / (cμ − λ).
 *
 * Tolerance: R independent replications (different seeds) give R sample means whose spread
 * estimates the standard error SE = sd / √R of their average. Under the null hypothesis (the
 * engine is an exact M/M/c server) the average lies within 3·SE of Wq with probability
 * ≈ 99.7 %; the seeds are fixed, so the test is deterministic. Each replication starts empty,
 * which biases waits slightly low; at ρ = 0.7 the system relaxes within a few dozen service
 * times, under 1 % of a 5,000-job replication, far inside 3·SE (≈ 6 % of Wq here).
 * A broken engine (an idle GPU while a job waits, one GPU lost, jobs served out of order with
 * the wrong count) moves the mean by tens of percent and fails.
 */
describe("simulator vs Erlang C (M/M/c)", () => {
  const servers = 4
  const load = 0.7
  const meanServiceMs = 60_000
  const replications = 6
  const jobs = 5_000

  it(`mean wait of ${replications} × ${jobs} M/M/${servers} jobs at ρ=${load} is within 3 standard errors of Erlang C`, () => {
    const expected = mmcMeanWaitMs({ servers, arrivalRatePerMs: (load * servers) / meanServiceMs, meanServiceMs })
    const means = Array.from({ length: replications }, (_, i) => {
      const seed = 100 + i
      const report = simulate({ seed, workload: mmcWorkload({ seed, jobs, servers, load, meanServiceMs }), gpus: servers, eventLog: false })
      expect(report.metrics.byStatus).toEqual({ completed: jobs })
      return report.metrics.overall.waitMeanMs
    })
    const mean = means.reduce((a, b) => a + b, 0) / replications
    const sd = Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / (replications - 1))
    const standardError = sd / Math.sqrt(replications)
    expect(standardError).toBeLessThan(0.1 * expected)
    expect(Math.abs(mean - expected)).toBeLessThanOrEqual(3 * standardError)
  })

  it("a GPU short (the same load on c−1 GPUs) is far off Erlang C for c", () => {
    const expected = mmcMeanWaitMs({ servers, arrivalRatePerMs: (load * servers) / meanServiceMs, meanServiceMs })
    const seed = 100
    const report = simulate({ seed, workload: mmcWorkload({ seed, jobs, servers, load, meanServiceMs }), gpus: servers - 1, eventLog: false })
    expect(report.metrics.overall.waitMeanMs).toBeGreaterThan(3 * expected)
  })
})
