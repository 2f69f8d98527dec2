/**
 * Queueing theory for validating the simulator: the Erlang C formula and the M/M/c mean wait.
 *
 * Erlang C, the probability that an arrival to an M/M/c queue must wait, is computed from the
 * Erlang B blocking probability by the stable recursion
 *   B(0, a) = 1,   B(k, a) = a·B(k−1, a) / (k + a·B(k−1, a)),
 *   C(c, a) = c·B(c, a) / (c − a·(1 − B(c, a))),
 * which avoids the factorials and powers of the closed form (no overflow for thousands of
 * servers). a = λ/μ is the offered load in Erlangs; ρ = a/c is the utilisation.
 */

/**
 * Probability of waiting in an M/M/c queue with `c` servers and offered load `a` Erlangs.
 * 0 for a = 0; 1 when a >= c (an unstable queue: in the limit every arrival waits).
 */
export const erlangC = (c: number, offeredLoadErlangs: number): number => {
  if (!Number.isSafeInteger(c) || c < 1) throw new RangeError(`erlangC: servers must be an integer >= 1, got ${c}`)
  const a = offeredLoadErlangs
  if (!(Number.isFinite(a) && a >= 0)) {
    throw new RangeError(`erlangC: offered load must be a finite number >= 0, got ${offeredLoadErlangs}`)
  }
  if (a >= c) return 1
  let b = 1
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b)
  return (c * b) / (c - a * (1 - b))
}

/**
 * Mean time in queue (before service) of an M/M/c queue, in ms:
 *   Wq = C(c, a) / (c·μ − λ),   μ = 1 / meanServiceMs,   a = λ / μ.
 * Throws RangeError when the queue is unstable (ρ = λ / (c·μ) >= 1) or inputs are invalid.
 */
export const mmcMeanWaitMs = (o: {
  readonly servers: number
  readonly arrivalRatePerMs: number
  readonly meanServiceMs: number
}): number => {
  const { servers: c, arrivalRatePerMs: lambda, meanServiceMs } = o
  if (!Number.isSafeInteger(c) || c < 1) throw new RangeError(`mmcMeanWaitMs: servers must be an integer >= 1, got ${c}`)
  if (!(Number.isFinite(lambda) && lambda >= 0)) {
    throw new RangeError(`mmcMeanWaitMs: arrivalRatePerMs must be a finite number >= 0, got ${lambda}`)
  }
  if (!(Number.isFinite(meanServiceMs) && meanServiceMs > 0)) {
    throw new RangeError(`mmcMeanWaitMs: meanServiceMs must be a finite number > 0, got ${meanServiceMs}`)
  }
  const mu = 1 / meanServiceMs
  const a = lambda * meanServiceMs
  const rho = a / c
  if (rho >= 1) throw new RangeError(`mmcMeanWaitMs: unstable queue, rho = ${rho} >= 1 (lambda=${lambda}/ms, c=${c}, mu=${mu}/ms)`)
  return erlangC(c, a) / (c * mu - lambda)
}
