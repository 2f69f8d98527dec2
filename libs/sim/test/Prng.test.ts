import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makePrng, type Prng } from "../src/Prng.js"

const draw = (p: Prng, n: number, f: (p: Prng) => number = (q) => q.next()): Array<number> =>
  Array.from({ length: n }, () => f(p))

const meanOf = (xs: ReadonlyArray<number>): number => xs.reduce((s, x) => s + x, 0) / xs.length
const minOf = (xs: ReadonlyArray<number>): number => xs.reduce((m, x) => Math.min(m, x), Infinity)
const maxOf = (xs: ReadonlyArray<number>): number => xs.reduce((m, x) => Math.max(m, x), -Infinity)

describe("Prng", () => {
  it("gives the same sequence for the same seed", () => {
    expect(draw(makePrng(42), 1000)).toEqual(draw(makePrng(42), 1000))
  })

  it("gives different sequences for different (even adjacent) seeds", () => {
    const a = draw(makePrng(1), 100)
    const b = draw(makePrng(2), 100)
    expect(a).not.toEqual(b)
    // Adjacent seeds must not share values position by position.
    expect(a.filter((x, i) => x === b[i]).length).toBe(0)
  })

  it("keeps the seed it was made from and reduces it modulo 2^32", () => {
    expect(makePrng(7).seed).toBe(7)
    expect(draw(makePrng(5), 10)).toEqual(draw(makePrng(5 + 2 ** 32), 10))
    expect(draw(makePrng(-1), 10)).toEqual(draw(makePrng(2 ** 32 - 1), 10))
  })

  it("rejects seeds that are not safe integers", () => {
    expect(() => makePrng(1.5)).toThrow(RangeError)
    expect(() => makePrng(Number.NaN)).toThrow(RangeError)
    expect(() => makePrng(Infinity)).toThrow(RangeError)
  })

  it("property: next() is always in [0, 1) for any seed", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const p = makePrng(seed)
        for (let i = 0; i < 200; i++) {
          const x = p.next()
          if (!(x >= 0 && x < 1)) return false
        }
        return true
      })
    )
  })

  it("next() has the mean 1/2 and variance 1/12 of a uniform", () => {
    // n = 100k: sd of the sample mean is sqrt(1/12 / n) ≈ 0.0009; 0.005 is > 5 sd.
    const xs = draw(makePrng(123), 100_000)
    const m = meanOf(xs)
    const v = meanOf(xs.map((x) => (x - m) ** 2))
    expect(Math.abs(m - 0.5)).toBeLessThan(0.005)
    expect(Math.abs(v - 1 / 12)).toBeLessThan(0.002)
  })

  it("property: int(lo, hi) is an integer within [lo, hi] for any seed and range", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), (seed, lo, span) => {
        const p = makePrng(seed)
        for (let i = 0; i < 50; i++) {
          const x = p.int(lo, lo + span)
          if (!Number.isInteger(x) || x < lo || x > lo + span) return false
        }
        return true
      })
    )
  })

  it("int(1, 6) is uniform by a chi-squared test", () => {
    // 60k rolls, 5 degrees of freedom: the 0.1% critical value of chi² is 20.5.
    const counts = [0, 0, 0, 0, 0, 0]
    const p = makePrng(99)
    for (let i = 0; i < 60_000; i++) counts[p.int(1, 6) - 1]! += 1
    const chi2 = counts.reduce((s, c) => s + (c - 10_000) ** 2 / 10_000, 0)
    expect(chi2).toBeLessThan(20.5)
    expect(makePrng(3).int(4, 4)).toBe(4)
  })

  it("int rejects empty and non-integer ranges", () => {
    const p = makePrng(1)
    expect(() => p.int(3, 2)).toThrow(RangeError)
    expect(() => p.int(0.5, 2)).toThrow(RangeError)
    expect(() => p.int(0, 2 ** 33)).toThrow(RangeError)
  })

  it("exponential(mean) has the requested mean and is never negative", () => {
    // sd of the mean of 100k exponentials is mean / sqrt(n) ≈ 0.32% of the mean; allow 2%.
    const xs = draw(makePrng(5), 100_000, (p) => p.exponential(250))
    expect(minOf(xs)).toBeGreaterThanOrEqual(0)
    expect(Math.abs(meanOf(xs) / 250 - 1)).toBeLessThan(0.02)
    expect(() => makePrng(1).exponential(0)).toThrow(RangeError)
  })

  it("normal(mean, sd) has the requested mean and standard deviation", () => {
    // n = 100k: sd of the sample mean is 3/sqrt(n) ≈ 0.0095; allow 0.05. The sample sd is within 1%.
    const xs = draw(makePrng(8), 100_000, (p) => p.normal(10, 3))
    const m = meanOf(xs)
    const sd = Math.sqrt(meanOf(xs.map((x) => (x - m) ** 2)))
    expect(Math.abs(m - 10)).toBeLessThan(0.05)
    expect(Math.abs(sd / 3 - 1)).toBeLessThan(0.01)
  })

  it("lognormal(mu, sigma) has median exp(mu)", () => {
    // The fraction below the true median is Binomial(n, 1/2)/n with sd 0.5/sqrt(n) ≈ 0.0016 at
    // n = 100k; allow 4 sd.
    const n = 100_000
    const xs = draw(makePrng(11), n, (p) => p.lognormal(Math.log(600), 1.5))
    const below = xs.filter((x) => x < 600).length / n
    expect(Math.abs(below - 0.5)).toBeLessThan((4 * 0.5) / Math.sqrt(n))
    expect(minOf(xs)).toBeGreaterThan(0)
  })

  it("pareto(scale, shape) has support [scale, ∞) and tail P(X > 2·scale) = 2^-shape", () => {
    // p = 2^-1.5 ≈ 0.354; sd of the fraction at n = 100k is ≈ 0.0015; allow 0.01.
    const xs = draw(makePrng(13), 100_000, (p) => p.pareto(100, 1.5))
    expect(minOf(xs)).toBeGreaterThanOrEqual(100)
    const tail = xs.filter((x) => x > 200).length / xs.length
    expect(Math.abs(tail - 2 ** -1.5)).toBeLessThan(0.01)
  })

  it("bounded pareto stays within [scale, upper] and follows the truncated CDF", () => {
    // F(x) = (1 - (L/x)^a) / (1 - (L/H)^a); at L=1, H=100, a=1, x=10: 0.9/0.99 ≈ 0.909.
    const xs = draw(makePrng(17), 100_000, (p) => p.pareto(1, 1, 100))
    expect(minOf(xs)).toBeGreaterThanOrEqual(1)
    expect(maxOf(xs)).toBeLessThanOrEqual(100)
    const cdf10 = xs.filter((x) => x <= 10).length / xs.length
    expect(Math.abs(cdf10 - 0.9 / 0.99)).toBeLessThan(0.01)
    expect(() => makePrng(1).pareto(10, 1, 5)).toThrow(RangeError)
  })

  it("pick() reaches every element and rejects an empty array", () => {
    const p = makePrng(21)
    const seen = new Set(draw(p, 500, (q) => q.pick([0, 1, 2, 3, 4])))
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4])
    expect(() => p.pick([])).toThrow(RangeError)
  })

  it("weighted() picks in proportion to the weights and never a zero-weight item", () => {
    // n = 100k, share 0.7: sd ≈ 0.0014; allow 0.01 for each share.
    const p = makePrng(31)
    const counts = new Map<string, number>()
    const items = [["a", 7], ["b", 2], ["z", 0], ["c", 1]] as const
    for (let i = 0; i < 100_000; i++) {
      const x = p.weighted(items)
      counts.set(x, (counts.get(x) ?? 0) + 1)
    }
    expect(counts.get("z")).toBeUndefined()
    expect(Math.abs((counts.get("a") ?? 0) / 100_000 - 0.7)).toBeLessThan(0.01)
    expect(Math.abs((counts.get("b") ?? 0) / 100_000 - 0.2)).toBeLessThan(0.01)
    expect(Math.abs((counts.get("c") ?? 0) / 100_000 - 0.1)).toBeLessThan(0.01)
    expect(() => p.weighted([])).toThrow(RangeError)
    expect(() => p.weighted([["a", 0]])).toThrow(RangeError)
    expect(() => p.weighted([["a", -1], ["b", 2]])).toThrow(RangeError)
  })

  it("fork(label) is deterministic and independent of the parent's draws", () => {
    const a = makePrng(77)
    const b = makePrng(77)
    draw(b, 1000) // advancing the parent must not change the child
    expect(draw(a.fork("arrivals"), 100)).toEqual(draw(b.fork("arrivals"), 100))
    expect(draw(a.fork("arrivals"), 100)).not.toEqual(draw(a.fork("durations"), 100))
    expect(draw(a.fork("x"), 100)).not.toEqual(draw(makePrng(78).fork("x"), 100))
    const child = a.fork("gpus")
    expect(draw(makePrng(child.seed), 50)).toEqual(draw(a.fork("gpus"), 50))
  })

  it("sibling forks are uncorrelated (|Pearson r| below 4/sqrt(n))", () => {
    // Under independence r is about N(0, 1/n); 4/sqrt(n) is a 4-sd bound.
    const n = 50_000
    const root = makePrng(2024)
    const xs = draw(root.fork("a"), n)
    const ys = draw(root.fork("b"), n)
    const mx = meanOf(xs)
    const my = meanOf(ys)
    let sxy = 0, sxx = 0, syy = 0
    for (let i = 0; i < n; i++) {
      const dx = xs[i]! - mx
      const dy = ys[i]! - my
      sxy += dx * dy
      sxx += dx * dx
      syy += dy * dy
    }
    expect(Math.abs(sxy / Math.sqrt(sxx * syy))).toBeLessThan(4 / Math.sqrt(n))
  })
})
