/**
 * A small, fast, seeded pseudo-random number generator for the simulator.
 *
 * The core is sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator, 128-bit state,
 * passes PractRand), its state filled from a 32-bit seed by splitmix32. Everything the
 * simulator draws comes from here: `Math.random` is never used.
 *
 * - `seed` may be any safe integer; it is reduced modulo 2^32 (so `0` and `2 ** 32` give the
 *   same stream). `makePrng(p.seed)` reproduces `p` from its start.
 * - `fork(label)` derives an independent sub-stream from `(seed, label)` only: it neither reads
 *   nor advances the parent's state, so adding draws to one stream never shifts another.
 */

export interface Prng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number
  /** Uniform 32-bit unsigned integer. */
  uint32(): number
  /** Uniform integer in [loInclusive, hiInclusive], unbiased (rejection sampling); span at most 2^32. */
  int(loInclusive: number, hiInclusive: number): number
  /** Uniform real in [lo, hi). */
  uniform(lo: number, hi: number): number
  /** true with probability p (p in [0, 1]). */
  chance(p: number): boolean
  /** Exponential with the given mean (> 0): inter-arrival times of a Poisson process. */
  exponential(mean: number): number
  /** Normal (Box–Muller, one value per call). */
  normal(mean: number, sd: number): number
  /** Lognormal: exp(N(mu, sigma)); its median is exp(mu). */
  lognormal(mu: number, sigma: number): number
  /**
   * Pareto with minimum `scale` (> 0) and tail index `shape` (> 0). With `upper` (> scale),
   * the bounded (truncated) Pareto on [scale, upper], sampled by its inverse CDF.
   */
  pareto(scale: number, shape: number, upper?: number): number
  /** A uniformly chosen element; throws RangeError on an empty array. */
  pick<T>(xs: ReadonlyArray<T>): T
  /** An item chosen with probability proportional to its weight (finite, >= 0, sum > 0). */
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T
  /** An independent deterministic sub-stream named `label`; depends only on (seed, label). */
  fork(label: string): Prng
  /** The seed this generator was made from (as passed). */
  readonly seed: number
}

const TWO_POW_32 = 4294967296

/** splitmix32 finaliser: a bijective avalanche mix of a 32-bit value. */
const mix32 = (x: number): number => {
  let z = x >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
  return (z ^ (z >>> 15)) >>> 0
}

/** FNV-1a over the UTF-16 code units of a string. */
const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

const checkFinite = (name: string, x: number): void => {
  if (!Number.isFinite(x)) throw new RangeError(`${name} must be a finite number, got ${x}`)
}

const checkPositive = (name: string, x: number): void => {
  if (!Number.isFinite(x) || x <= 0) throw new RangeError(`${name} must be a finite number > 0, got ${x}`)
}

/** Makes a generator from a safe-integer seed (throws RangeError otherwise). */
export const makePrng = (seed: number): Prng => {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`)
  const seed32 = ((seed % TWO_POW_32) + TWO_POW_32) % TWO_POW_32

  // splitmix32 stream fills the 128-bit sfc32 state.
  let sm = seed32
  const splitmix = (): number => {
    sm = (sm + 0x9e3779b9) >>> 0
    return mix32(sm)
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = splitmix()

  const uint32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t
  }
  // Warm up so that nearby seeds decorrelate fully.
  for (let i = 0; i < 12; i++) uint32()

  const next = (): number => uint32() / TWO_POW_32
  /** Uniform in (0, 1]: safe for logarithms. */
  const nextOpen = (): number => 1 - next()

  const int = (loInclusive: number, hiInclusive: number): number => {
    if (!Number.isSafeInteger(loInclusive) || !Number.isSafeInteger(hiInclusive)) {
      throw new RangeError(`int bounds must be safe integers, got [${loInclusive}, ${hiInclusive}]`)
    }
    if (hiInclusive < loInclusive) throw new RangeError(`int: empty range [${loInclusive}, ${hiInclusive}]`)
    const span = hiInclusive - loInclusive + 1
    if (span > TWO_POW_32) throw new RangeError(`int: span ${span} exceeds 2^32`)
    if (span === TWO_POW_32) return loInclusive + uint32()
    // Reject the top partial block so every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % span)
    for (;;) {
      const u = uint32()
      if (u < limit) return loInclusive + (u % span)
    }
  }

  const uniform = (lo: number, hi: number): number => {
    checkFinite("uniform lo", lo)
    checkFinite("uniform hi", hi)
    if (hi < lo) throw new RangeError(`uniform: hi (${hi}) < lo (${lo})`)
    return lo + (hi - lo) * next()
  }

  const chance = (p: number): boolean => {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`chance: probability must be in [0, 1], got ${p}`)
    return next() < p
  }

  const exponential = (mean: number): number => {
    checkPositive("exponential mean", mean)
    return -mean * Math.log(nextOpen())
  }

  const normal = (mean: number, sd: number): number => {
    checkFinite("normal mean", mean)
    if (!Number.isFinite(sd) || sd < 0) throw new RangeError(`normal sd must be finite and >= 0, got ${sd}`)
    const r = Math.sqrt(-2 * Math.log(nextOpen()))
    return mean + sd * r * Math.cos(2 * Math.PI * next())
  }

  const lognormal = (mu: number, sigma: number): number => Math.exp(normal(mu, sigma))

  const pareto = (scale: number, shape: number, upper?: number): number => {
    checkPositive("pareto scale", scale)
    checkPositive("pareto shape", shape)
    const u = nextOpen()
    if (upper === undefined) return scale / Math.pow(u, 1 / shape)
    if (!Number.isFinite(upper) || upper <= scale) {
      throw new RangeError(`pareto upper must be finite and > scale (${scale}), got ${upper}`)
    }
    // Inverse CDF of the Pareto truncated to [L, H]: F(x) = (1 - (L/x)^a) / (1 - (L/H)^a).
    const ratio = Math.pow(scale / upper, shape)
    const x = scale / Math.pow(1 - u * (1 - ratio), 1 / shape)
    return Math.min(upper, Math.max(scale, x))
  }

  const pick = <T>(xs: ReadonlyArray<T>): T => {
    if (xs.length === 0) throw new RangeError("pick: empty array")
    return xs[int(0, xs.length - 1)] as T
  }

  const weighted = <T>(items: ReadonlyArray<readonly [T, number]>): T => {
    if (items.length === 0) throw new RangeError("weighted: no items")
    let total = 0
    for (const [, w] of items) {
      if (!Number.isFinite(w) || w < 0) throw new RangeError(`weighted: weights must be finite and >= 0, got ${w}`)
      total += w
    }
    if (total <= 0) throw new RangeError("weighted: weights sum to 0")
    let r = next() * total
    let last = 0
    for (let i = 0; i < items.length; i++) {
      const w = (items[i] as readonly [T, number])[1]
      if (w <= 0) continue
      last = i
      if (r < w) return (items[i] as readonly [T, number])[0]
      r -= w
    }
    // Floating-point leftovers land on the last item with positive weight.
    return (items[last] as readonly [T, number])[0]
  }

  const fork = (label: string): Prng => makePrng(mix32(mix32(seed32 ^ 0x6a09e667) ^ fnv1a(label)))

  return { next, uint32, int, uniform, chance, exponential, normal, lognormal, pareto, pick, weighted, fork, seed }
}
