import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { erlangC, mmcMeanWaitMs } from "../src/ErlangC.js"

/**
 * The closed form, evaluated independently in log space:
 *   C(c, a) = T / (Σ_{k<c} a^k/k! + T),   T = a^c/c! · c/(c − a).
 */
const closedForm = (c: number, a: number): number => {
  const logTerm = (k: number): number => {
    let lf = 0
    for (let i = 2; i <= k; i++) lf += Math.log(i)
    return k * Math.log(a) - lf
  }
  const logs = Array.from({ length: c }, (_, k) => logTerm(k))
  const logT = logTerm(c) + Math.log(c / (c - a))
  const top = Math.max(logT, ...logs)
  const sum = logs.reduce((s, l) => s + Math.exp(l - top), 0)
  const t = Math.exp(logT - top)
  return t / (sum + t)
}

describe("erlangC", () => {
  it("reduces to M/M/1 for c = 1: P(wait) = rho", () => {
    for (const rho of [0.1, 0.5, 0.7, 0.99]) expect(erlangC(1, rho)).toBeCloseTo(rho, 14)
  })

  it("matches the hand-computed M/M/2 value C(2, 1) = 1/3", () => {
    // B(1) = 1/(1+1) = 1/2; B(2) = (1·1/2)/(2 + 1/2) = 1/5; C = 2·(1/5)/(2 − 1·(4/5)) = 0.4/1.2 = 1/3.
    // (The M/M/2 closed form 2ρ²/(1+ρ) at ρ = 1/2 agrees: 0.5/1.5.)
    expect(erlangC(2, 1)).toBeCloseTo(1 / 3, 14)
  })

  it("matches the hand-computed M/M/8 value C(8, 6) ≈ 0.35698", () => {
    // Erlang B recursion at a = 6: B1 = 6/7 = .857143, B2 = 5.142857/7.142857 = .720000,
    // B3 = 4.32/7.32 = .590164, B4 = 3.540984/7.540984 = .469565, B5 = 2.817391/7.817391 = .360400,
    // B6 = 2.162400/8.162400 = .264922, B7 = 1.589532/8.589532 = .185055,
    // B8 = 1.110330/9.110330 = .121876; C = 8·.121876 / (8 − 6·(1 − .121876)) = .975008/2.731256 = .356981.
    expect(Math.abs(erlangC(8, 6) - 0.356981)).toBeLessThan(1e-6)
  })

  it("is 0 without load and 1 for an unstable load (a >= c)", () => {
    expect(erlangC(4, 0)).toBe(0)
    expect(erlangC(4, 4)).toBe(1)
    expect(erlangC(4, 9)).toBe(1)
  })

  it("stays finite and exact for thousands of servers (no factorial overflow)", () => {
    const c = erlangC(2_000, 1_980)
    expect(Number.isFinite(c)).toBe(true)
    expect(Math.abs(c - closedForm(2_000, 1_980)) / closedForm(2_000, 1_980)).toBeLessThan(1e-9)
  })

  // Below ~1e-290 doubles are subnormal (few significant bits), so a relative bound means
  // nothing there: such values must only both be that small. (c = 131, rho = 0.00145 gives
  // C ≈ 1e-320, where the two computations differ in the last of their few bits.)
  it("property: equals the log-space closed form within 1e-9 relative error, or both are below 1e-290", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.double({ min: 0.001, max: 0.999, noNaN: true }), (c, rho) => {
        const want = closedForm(c, rho * c)
        const got = erlangC(c, rho * c)
        if (want < 1e-290) return got < 1e-290
        return Math.abs(got - want) <= 1e-9 * want
      })
    )
  })

  it("the counterexample that found the subnormal range (c = 131, rho = 0.00145) holds", () => {
    const want = closedForm(131, 131 * 0.00145)
    expect(want).toBeLessThan(1e-290)
    expect(erlangC(131, 131 * 0.00145)).toBeLessThan(1e-290)
  })

  it("property: lies in [0, 1], grows with the load and falls as servers are added", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 0.99, noNaN: true }), (c, rho) => {
        const a = rho * c
        const p = erlangC(c, a)
        return p >= 0 && p <= 1 && erlangC(c, a * 1.001) >= p && erlangC(c + 1, a) <= p
      })
    )
  })

  it("rejects invalid servers and loads", () => {
    expect(() => erlangC(0, 0.5)).toThrow(RangeError)
    expect(() => erlangC(2.5, 0.5)).toThrow(RangeError)
    expect(() => erlangC(2, -1)).toThrow(RangeError)
    expect(() => erlangC(2, Number.NaN)).toThrow(RangeError)
  })
})

describe("mmcMeanWaitMs", () => {
  it("reduces to M/M/1 for one server: Wq = rho / (mu − lambda)", () => {
    // lambda = 0.8 / s, mean service 1 s (mu = 1 / s): Wq = 0.8 / 0.2 = 4 s.
    expect(mmcMeanWaitMs({ servers: 1, arrivalRatePerMs: 0.0008, meanServiceMs: 1_000 })).toBeCloseTo(4_000, 6)
  })

  it("matches the hand-computed M/M/2 and M/M/8 waits", () => {
    // M/M/2, lambda = mu = 1/s: Wq = C(2, 1) / (2 mu − lambda) = (1/3) / (1/s) = 333.3 ms.
    expect(mmcMeanWaitMs({ servers: 2, arrivalRatePerMs: 0.001, meanServiceMs: 1_000 })).toBeCloseTo(1_000 / 3, 6)
    // M/M/8, a = 6 (lambda = 6/s, mu = 1/s): Wq = .356981 / (8 − 6)/s = 178.49 ms.
    expect(Math.abs(mmcMeanWaitMs({ servers: 8, arrivalRatePerMs: 0.006, meanServiceMs: 1_000 }) - 178.4905)).toBeLessThan(1e-3)
  })

  it("is 0 without arrivals", () => {
    expect(mmcMeanWaitMs({ servers: 3, arrivalRatePerMs: 0, meanServiceMs: 500 })).toBe(0)
  })

  it("throws a RangeError when the queue is unstable (rho >= 1) or inputs are invalid", () => {
    expect(() => mmcMeanWaitMs({ servers: 2, arrivalRatePerMs: 0.002, meanServiceMs: 1_000 })).toThrow(/unstable/)
    expect(() => mmcMeanWaitMs({ servers: 2, arrivalRatePerMs: 0.003, meanServiceMs: 1_000 })).toThrow(RangeError)
    expect(() => mmcMeanWaitMs({ servers: 0, arrivalRatePerMs: 0.001, meanServiceMs: 1_000 })).toThrow(RangeError)
    expect(() => mmcMeanWaitMs({ servers: 2, arrivalRatePerMs: -1, meanServiceMs: 1_000 })).toThrow(RangeError)
    expect(() => mmcMeanWaitMs({ servers: 2, arrivalRatePerMs: 0.001, meanServiceMs: 0 })).toThrow(RangeError)
  })
})
