/**
 * PendingIndex: the two-level (class → lane → run) index decide() reads.
 * Unit behaviour of add/remove/has/get/size, and a property over random add/remove
 * sequences checking the structure the decide() walk relies on.
 */
import { fc } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { classPriorityOf, PendingIndex, type Run, RunId } from "../src/internal.js"
import { aRun } from "../src/Testing.js"
import { runs } from "./arbitraries.js"

const id = (s: string) => RunId.make(s)

interface RunSpec {
  readonly queue: number
  readonly user: number
  readonly team: number | null
  readonly level: "lead" | "researcher"
  readonly priority: number | null
  readonly gpus: number
  readonly deviceIds: ReadonlyArray<number> | null
  readonly anyGpu: boolean
  readonly timeLimitMs: number | null
  readonly child: boolean
  readonly eligibleAt: number
}

const specArb: fc.Arbitrary<RunSpec> = fc.record({
  queue: fc.nat(1),
  user: fc.nat(2),
  team: fc.option(fc.nat(1), { nil: null }),
  level: fc.constantFrom("lead" as const, "researcher" as const),
  priority: fc.option(fc.constantFrom(10, 20, 50), { nil: null, freq: 3 }),
  gpus: fc.nat(2),
  deviceIds: fc.option(fc.constantFrom([], [0], [1], [0, 1]), { nil: null, freq: 2 }),
  anyGpu: fc.boolean(),
  timeLimitMs: fc.option(fc.constant(100), { nil: null }),
  child: fc.boolean(),
  eligibleAt: fc.nat(5)
})

const runOf = (spec: RunSpec, seq: number): Run =>
  aRun({
    id: `r${seq}`,
    seq,
    queue: spec.queue === 0 ? "default" : "batch",
    user: `u${spec.user}`,
    team: spec.team === null ? null : `t${spec.team}`,
    level: spec.level,
    priority: spec.priority,
    gpus: spec.gpus,
    deviceIds: spec.deviceIds,
    anyGpu: spec.anyGpu,
    timeLimitMs: spec.timeLimitMs,
    parentId: spec.child ? "p" : null,
    eligibleAt: spec.eligibleAt
  })

type Op = { readonly add: RunSpec } | { readonly remove: number } | { readonly removeUnknown: true }
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ add: specArb }), weight: 3 },
  { arbitrary: fc.record({ remove: fc.nat() }), weight: 2 },
  { arbitrary: fc.constant({ removeUnknown: true as const }), weight: 1 }
)

/** Replays ops on an index and a Map model; returns both. */
const replay = (ops: ReadonlyArray<Op>, perUser: boolean) => {
  const index = new PendingIndex(perUser)
  const model = new Map<string, Run>()
  let seq = 0
  for (const op of ops) {
    if ("add" in op) {
      const run = runOf(op.add, ++seq)
      index.add(run)
      model.set(run.id, run)
    } else if ("remove" in op) {
      const ids = [...model.keys()]
      if (ids.length === 0) continue
      const victim = ids[op.remove % ids.length]!
      expect(index.remove(id(victim))).toBe(model.get(victim))
      model.delete(victim)
    } else {
      expect(index.remove(id("never-added"))).toBeUndefined()
    }
  }
  return { index, model }
}

const before = (a: Run, b: Run) => a.eligibleAt < b.eligibleAt || (a.eligibleAt === b.eligibleAt && a.seq < b.seq)
const shapeOf = (r: Run) =>
  JSON.stringify([r.queue, r.user, r.team, classPriorityOf(r), r.gpus, r.deviceIds, r.anyGpu, r.timeLimitMs, r.parentId !== null])

/** Every structural invariant of the index, as a list of problems. */
const problems = (index: PendingIndex, model: ReadonlyMap<string, Run>): Array<string> => {
  const out: Array<string> = []
  const seen = new Set<string>()
  for (const runClass of index.classes()) {
    if (runClass.lanes.size === 0) out.push(`class ${runClass.key} is empty`)
    const classHead = runClass.lanes.peek()
    for (const lane of runClass.lanes.values()) {
      if (lane.runClass !== runClass) out.push(`lane ${lane.key} points at another class`)
      if (lane.runs.size === 0) out.push(`lane ${lane.key} is empty`)
      const laneRuns = lane.runs.values().map((e) => e.run)
      const shapes = new Set(laneRuns.map(shapeOf))
      if (shapes.size > 1) out.push(`lane ${lane.key} mixes shapes ${[...shapes].join(" | ")}`)
      for (const r of laneRuns) {
        if (r.queue !== runClass.queue || classPriorityOf(r) !== runClass.priority || r.gpus > 0 !== runClass.needsGpu)
          out.push(`run ${r.id} in class ${runClass.key}`)
        if (runClass.user !== null && r.user !== runClass.user) out.push(`run ${r.id} of ${r.user} in ${runClass.user}'s class`)
        if (index.get(r.id)?.lane !== lane) out.push(`get(${r.id}).lane is not its lane`)
        if (before(r, lane.head.run)) out.push(`lane ${lane.key}: ${r.id} precedes the head ${lane.head.run.id}`)
        if (seen.has(r.id)) out.push(`run ${r.id} is in two lanes`)
        seen.add(r.id)
      }
      if (classHead !== undefined && before(lane.head.run, classHead.head.run))
        out.push(`class ${runClass.key}: lane head ${lane.head.run.id} precedes the class head`)
    }
  }
  const live = [...model.keys()].sort()
  if ([...seen].sort().join() !== live.join()) out.push("the lanes do not hold exactly the live runs")
  return out
}

describe("PendingIndex: add, remove, has, get, size", () => {
  it("adds, finds and removes runs", () => {
    const index = new PendingIndex()
    const a = aRun({ id: "a", seq: 1 })
    const b = aRun({ id: "b", seq: 2, gpus: 2 })
    index.add(a)
    index.add(b)
    expect(index.size).toBe(2)
    expect(index.has(id("a"))).toBe(true)
    expect(index.get(id("b"))?.run).toBe(b)
    expect([...index.runs()].map((r) => r.id).sort()).toEqual(["a", "b"])
    expect(index.remove(id("a"))).toBe(a)
    expect(index.has(id("a"))).toBe(false)
    expect(index.get(id("a"))).toBeUndefined()
    expect(index.remove(id("a"))).toBeUndefined()
    expect(index.size).toBe(1)
    expect(index.remove(id("b"))).toBe(b)
    expect(index.size).toBe(0)
    expect([...index.classes()]).toEqual([])
  })

  it("rejects a duplicate id and keeps the first run", () => {
    const index = new PendingIndex()
    const first = aRun({ id: "dup", seq: 1 })
    index.add(first)
    expect(() => index.add(aRun({ id: "dup", seq: 2, gpus: 3 }))).toThrow(/already pending/)
    expect(index.size).toBe(1)
    expect(index.get(id("dup"))?.run).toBe(first)
    expect([...index.classes()].reduce((n, c) => n + c.lanes.size, 0)).toBe(1)
  })

  it.each([
    { name: "same shape", b: {}, sameLane: true, sameClass: true },
    { name: "another GPU count", b: { gpus: 2 }, sameLane: false, sameClass: true },
    { name: "another user", b: { user: "bo" }, sameLane: false, sameClass: true },
    { name: "a time limit", b: { timeLimitMs: 100 }, sameLane: false, sameClass: true },
    { name: "a child run", b: { parentId: "p" }, sameLane: false, sameClass: true },
    { name: "strict deviceIds", b: { deviceIds: [1] }, sameLane: false, sameClass: true },
    { name: "deviceIds []", b: { deviceIds: [] }, sameLane: false, sameClass: true },
    { name: "anyGpu", b: { anyGpu: true }, sameLane: false, sameClass: true },
    { name: "an override equal to the base", b: { priority: 10 }, sameLane: true, sameClass: true },
    { name: "a higher override", b: { priority: 11 }, sameLane: false, sameClass: false },
    { name: "0 GPUs", b: { gpus: 0 }, sameLane: false, sameClass: false },
    { name: "another queue", b: { queue: "batch" }, sameLane: false, sameClass: false }
  ])("a researcher's 1-GPU run and one with $name: same lane $sameLane, same class $sameClass", ({ b, sameLane, sameClass }) => {
    const index = new PendingIndex()
    index.add(aRun({ id: "a", seq: 1, user: "ana" }))
    index.add(aRun({ id: "b", seq: 2, user: "ana", ...b }))
    const la = index.get(id("a"))!.lane
    const lb = index.get(id("b"))!.lane
    expect(la === lb).toBe(sameLane)
    expect(la.runClass === lb.runClass).toBe(sameClass)
  })

  it("a lane's head is its earliest eligible run, then lowest seq, and follows removals", () => {
    const index = new PendingIndex()
    index.add(aRun({ id: "late", seq: 1, eligibleAt: 50 }))
    index.add(aRun({ id: "early", seq: 3, eligibleAt: 10 }))
    index.add(aRun({ id: "tie", seq: 2, eligibleAt: 10 }))
    const lane = index.get(id("late"))!.lane
    expect(lane.head.run.id).toBe("tie")
    index.remove(id("tie"))
    expect(lane.head.run.id).toBe("early")
    index.remove(id("early"))
    expect(lane.head.run.id).toBe("late")
  })
})

describe("PendingIndex: structure after random adds and removes", () => {
  it.each([{ perUser: false }, { perUser: true }])(
    "runs() is the live set; classes and lanes non-empty; a lane is one shape; heads are the min by (eligibleAt, seq) (perUserClasses $perUser, 500 cases)",
    ({ perUser }) => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
          const { index, model } = replay(ops, perUser)
          expect(index.size).toBe(model.size)
          expect([...index.runs()].map((r) => r.id).sort()).toEqual([...model.keys()].sort())
          for (const key of model.keys()) expect(index.has(id(key))).toBe(true)
          expect(problems(index, model)).toEqual([])
        }),
        runs(500)
      )
    }
  )

  it("regroup(true) keeps the same runs and makes a class per user; regroup(false) undoes it (300 cases)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const { index, model } = replay(ops, false)
        const sharedClasses = [...index.classes()].length
        index.regroup(true)
        expect(index.usesPerUserClasses).toBe(true)
        expect([...index.runs()].map((r) => r.id).sort()).toEqual([...model.keys()].sort())
        expect(problems(index, model)).toEqual([])
        const classes = [...index.classes()]
        expect(classes.length).toBeGreaterThanOrEqual(sharedClasses)
        for (const c of classes) {
          expect(c.user).not.toBeNull()
          const members = c.lanes.values().flatMap((lane) => lane.runs.values().map((e) => e.run))
          expect(new Set(members.map((r) => `${r.user}/${r.team}`)).size).toBe(1)
        }
        // regrouping to the mode in force is a no-op: the very same class objects
        index.regroup(true)
        expect([...index.classes()]).toEqual(classes)
        expect([...index.classes()].every((c, i) => c === classes[i])).toBe(true)
        index.regroup(false)
        expect(index.usesPerUserClasses).toBe(false)
        expect([...index.classes()].every((c) => c.user === null)).toBe(true)
        expect([...index.classes()].length).toBe(sharedClasses)
        expect(problems(index, model)).toEqual([])
      }),
      runs(300)
    )
  })
})
