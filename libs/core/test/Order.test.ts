/**
 * The order of SPEC §3, table-driven: each row is two runs and which goes first. Every row
 * is checked on the order key (orderKeyOf / precedes) and end to end: with one free GPU,
 * decide() and decideByScan() start the run that goes first.
 */
import { fc } from "@fast-check/vitest"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  agingBoost,
  type Aging,
  compareOrderKeys,
  decide,
  decideByScan,
  defaultPolicy,
  makeQueue,
  orderKeyOf,
  type OrderKey,
  Policy,
  precedes
} from "../src/internal.js"
import { aRun, aSnapshot, type RunOptions } from "../src/Testing.js"
import { runs } from "./arbitraries.js"

const MIN = 60_000
const aging = defaultPolicy.aging! // 30 min threshold, +5 every 10 min

describe("agingBoost (SPEC §3: +step per full interval waited beyond the threshold)", () => {
  const custom: Aging = { starvationThresholdMs: 100, agingStep: 3, agingIntervalMs: 10 }
  const table: ReadonlyArray<[string, Aging | null, number, number]> = [
    ["aging off, waited 10 h", null, 600 * MIN, 0],
    ["default aging, waited 0", aging, 0, 0],
    ["default aging, waited exactly the 30 min threshold", aging, 30 * MIN, 0],
    ["default aging, 1 ms short of threshold + interval", aging, 40 * MIN - 1, 0],
    ["default aging, threshold + 1 interval (40 min)", aging, 40 * MIN, 5],
    ["default aging, 49 min (1 full interval beyond)", aging, 49 * MIN, 5],
    ["default aging, 50 min (2 intervals beyond)", aging, 50 * MIN, 10],
    ["default aging, 60 min (3 intervals beyond)", aging, 60 * MIN, 15],
    ["default aging, 10 h beyond the threshold", aging, 30 * MIN + 600 * MIN, 300],
    ["100 ms/+3/10 ms, waited 109 ms", custom, 109, 0],
    ["100 ms/+3/10 ms, waited 110 ms", custom, 110, 3],
    ["100 ms/+3/10 ms, waited 125 ms", custom, 125, 6],
    ["100 ms/+3/10 ms, waited 130 ms", custom, 130, 9]
  ]
  for (const [name, a, waited, boost] of table)
    it(`${name}: +${boost}`, () => {
      expect(agingBoost(a, waited)).toBe(boost)
    })

  it("the Policy schema refuses a negative agingStep and accepts 0 (the index relies on a boost that only grows)", () => {
    const decodes = (agingStep: number) =>
      Schema.decodeUnknownEither(Policy)({ ...defaultPolicy, aging: { ...aging, agingStep } })._tag
    expect([-5, -1, 0, 5].map(decodes)).toEqual(["Left", "Left", "Right", "Right"])
  })

  it("the boost never decreases with waiting time and is a multiple of the step (300 cases)", () => {
    const agingArb = fc.record({
      starvationThresholdMs: fc.nat(1000),
      agingStep: fc.integer({ min: 0, max: 20 }),
      agingIntervalMs: fc.integer({ min: 1, max: 500 })
    })
    fc.assert(
      fc.property(agingArb, fc.nat(100_000), fc.nat(100_000), (a, w1, w2) => {
        const [lo, hi] = w1 <= w2 ? [w1, w2] : [w2, w1]
        expect(agingBoost(a, lo)).toBeLessThanOrEqual(agingBoost(a, hi))
        expect(agingBoost(a, hi) % Math.max(1, a.agingStep)).toBe(0)
        if (hi < a.starvationThresholdMs + a.agingIntervalMs) expect(agingBoost(a, hi)).toBe(0)
      }),
      runs(300)
    )
  })
})

interface Row {
  readonly name: string
  readonly first: RunOptions
  readonly second: RunOptions
  readonly now?: number
  readonly policy?: Policy
  readonly usage?: { readonly users: Record<string, number>; readonly teams: Record<string, number> }
}

const usagePolicy: Policy = { ...defaultPolicy, fairShare: { ...defaultPolicy.fairShare, mode: "usage" } }
const limitsPolicy: Policy = { ...defaultPolicy, fairShare: { ...defaultPolicy.fairShare, mode: "limits" } }
const noAging: Policy = { ...defaultPolicy, aging: null }

/** `first` must go before `second`, whatever their seq (the rows set seq where it matters). */
const rows: ReadonlyArray<Row> = [
  {
    name: "queue priority beats effective priority",
    first: { queue: "urgent", level: "viewer" },
    second: { level: "admin", priority: 100 }
  },
  { name: "higher base priority first: lead over researcher", first: { level: "lead", eligibleAt: 9 }, second: { level: "researcher" } },
  { name: "admin over lead", first: { level: "admin", eligibleAt: 9 }, second: { level: "lead" } },
  { name: "an override beats a higher base", first: { level: "researcher", priority: 25, eligibleAt: 9 }, second: { level: "lead" } },
  { name: "an override below the base lowers the run", first: { level: "researcher", eligibleAt: 9 }, second: { level: "lead", priority: 5 } },
  {
    name: "aging: a researcher run waiting 60 min (10+15) passes a fresh lead run (20)",
    now: 60 * MIN,
    first: { level: "researcher", eligibleAt: 0 },
    second: { level: "lead", eligibleAt: 60 * MIN }
  },
  {
    name: "aging: at 50 min the researcher run ties at 20 and wins on eligible time",
    now: 50 * MIN,
    first: { level: "researcher", eligibleAt: 0 },
    second: { level: "lead", eligibleAt: 50 * MIN }
  },
  {
    name: "aging: at 49 min the researcher run (10+5) still follows the fresh lead run",
    now: 49 * MIN,
    first: { level: "lead", eligibleAt: 49 * MIN },
    second: { level: "researcher", eligibleAt: 0 }
  },
  {
    name: "aging off: a researcher run waiting 10 h still follows a fresh lead run",
    now: 600 * MIN,
    policy: noAging,
    first: { level: "lead", eligibleAt: 600 * MIN },
    second: { level: "researcher", eligibleAt: 0 }
  },
  {
    name: "usage mode: at equal effective priority the lower-usage user goes first",
    policy: usagePolicy,
    usage: { users: { ana: 500, bo: 10 }, teams: {} },
    first: { user: "bo", eligibleAt: 9 },
    second: { user: "ana", eligibleAt: 0 }
  },
  {
    name: "usage mode: equal user usage, the lower-usage team goes first",
    policy: usagePolicy,
    usage: { users: { ana: 10, bo: 10 }, teams: { red: 900, blue: 5 } },
    first: { user: "bo", team: "blue", eligibleAt: 9 },
    second: { user: "ana", team: "red", eligibleAt: 0 }
  },
  {
    name: "usage mode: priority still beats usage",
    policy: usagePolicy,
    usage: { users: { ana: 10, bo: 1e9 }, teams: {} },
    first: { user: "bo", level: "lead", eligibleAt: 9 },
    second: { user: "ana", level: "researcher" }
  },
  {
    name: "fair share limits mode ignores usage: eligible time decides",
    policy: limitsPolicy,
    usage: { users: { ana: 500, bo: 10 }, teams: {} },
    first: { user: "ana", eligibleAt: 0 },
    second: { user: "bo", eligibleAt: 9 }
  },
  { name: "equal priority: earlier eligible time first", first: { eligibleAt: 5, seq: 9 }, second: { eligibleAt: 6, seq: 1 } },
  { name: "equal eligible time: lower seq first", first: { eligibleAt: 5, seq: 1 }, second: { eligibleAt: 5, seq: 2 } }
]

let seqs = 1000
const snapshotFor = (row: Row, withSeq: (o: RunOptions, id: string) => RunOptions) => {
  const usage = row.usage
  return aSnapshot({
    now: row.now ?? 100,
    policy: row.policy ?? defaultPolicy,
    queues: [makeQueue("urgent", { priority: 1 })],
    gpus: 1,
    pending: [aRun(withSeq(row.second, "second")), aRun(withSeq(row.first, "first"))],
    usage:
      usage === undefined
        ? null
        : { user: (u) => usage.users[u] ?? 0, team: (t) => usage.teams[t] ?? 0 }
  })
}

describe("the order of SPEC §3", () => {
  // seq: the row's, else the *second* run gets the lower one, so seq never explains the result
  const withSeq = (o: RunOptions, id: string): RunOptions => ({
    ...o,
    id,
    seq: o.seq ?? (id === "second" ? ++seqs : (seqs += 2))
  })

  for (const row of rows)
    it(row.name, () => {
      const s = snapshotFor(row, withSeq)
      const byId = new Map([...s.pending.runs()].map((r) => [r.id as string, r]))
      const first = orderKeyOf(s, byId.get("first")!)
      const second = orderKeyOf(s, byId.get("second")!)
      expect(precedes(first, second)).toBe(true)
      expect(precedes(second, first)).toBe(false)
      expect(compareOrderKeys(first, second)).toBe(-1)
      expect(compareOrderKeys(second, first)).toBe(1)
      // end to end: one GPU, both want it; the first in order gets it
      const d = decide(s)
      expect(d.starts.map((x) => x.runId)).toEqual(["first"])
      expect(decideByScan(s).starts).toEqual(d.starts)
      expect(["gpu-busy", "global-limit"]).toContain(d.reasonOf(byId.get("second")!.id))
    })
})

describe("compareOrderKeys", () => {
  const keyArb: fc.Arbitrary<OrderKey> = fc.record({
    queuePriority: fc.integer({ min: -1, max: 1 }),
    effectivePriority: fc.integer({ min: 0, max: 3 }),
    userUsage: fc.nat(2),
    teamUsage: fc.nat(2),
    eligibleAt: fc.nat(3),
    seq: fc.nat(3)
  })

  it("is a strict weak order consistent with precedes: antisymmetric, transitive, and sorts lexicographically (500 cases)", () => {
    const lex = (k: OrderKey) => [-k.queuePriority, -k.effectivePriority, k.userUsage, k.teamUsage, k.eligibleAt, k.seq]
    const cmpLex = (a: OrderKey, b: OrderKey) => {
      const [x, y] = [lex(a), lex(b)]
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1
      return 0
    }
    fc.assert(
      fc.property(keyArb, keyArb, keyArb, (a, b, c) => {
        expect(compareOrderKeys(a, b)).toBe(cmpLex(a, b))
        expect(compareOrderKeys(a, b)).toBe(-compareOrderKeys(b, a) || 0)
        if (precedes(a, b) && precedes(b, c)) expect(precedes(a, c)).toBe(true)
        expect(precedes(a, a)).toBe(false)
      }),
      runs(500)
    )
  })
})
