/**
 * Table-driven decide() scenarios: helpers to write a row (a snapshot, the exact starts, wait
 * reasons and reservation expected) and the runner that checks it, against decideByScan too.
 */
import { describe, expect, it } from "vitest"
import {
  decide,
  decideByScan,
  defaultPolicy,
  type LaneWait,
  type Policy,
  type Reservation,
  RunId,
  type Start,
  type WaitReason
} from "../src/internal.js"
import { anActiveRun, type ActiveOptions, aRun, aSnapshot, type RunOptions, type SnapshotOptions } from "../src/Testing.js"

let seq = 1
/** A pending run; eligibleAt defaults to its seq so the table's order is the submission order. */
export const run = (id: string, o: RunOptions = {}) => {
  const s = seq++
  return aRun({ id, seq: s, eligibleAt: s, ...o })
}
export const active = (id: string, o: ActiveOptions = {}) => anActiveRun({ id, seq: 0, ...o })
export const policy = (limits: Partial<Policy["limits"]>, extra: Partial<Policy> = {}, base: Policy = defaultPolicy): Policy => ({
  ...base,
  ...extra,
  limits: { ...base.limits, ...limits }
})
export const go = (runId: string, gpus: ReadonlyArray<number> = [], backfill = false): Start => ({
  runId: RunId.make(runId),
  gpus,
  backfill
})
export const reserved = (runId: string, gpus: number, allowed: ReadonlyArray<number>, shadowAt: number | null): Reservation => ({
  runId: RunId.make(runId),
  gpus,
  allowed,
  shadowAt
})

export interface Case {
  readonly name: string
  readonly snapshot: () => SnapshotOptions
  readonly starts: ReadonlyArray<Start>
  readonly reasons: Readonly<Record<string, WaitReason | null>>
  readonly reservation?: Reservation | null
  readonly otherwise?: WaitReason
  readonly examined?: number
  readonly waits?: ReadonlyArray<LaneWait>
}

export const checkCases = (title: string, cases: ReadonlyArray<Case>) =>
  describe(title, () => {
    for (const c of cases)
      it(c.name, () => {
        const s = aSnapshot(c.snapshot())
        const d = decide(s)
        expect(d.starts).toEqual(c.starts)
        for (const [id, reason] of Object.entries(c.reasons)) expect({ id, reason: d.reasonOf(RunId.make(id)) }).toEqual({ id, reason })
        if (c.reservation !== undefined) {
          expect(d.reservation).toEqual(c.reservation)
          expect(decideByScan(s).reservation).toEqual(c.reservation)
        }
        if (c.otherwise !== undefined) expect(d.otherwise).toBe(c.otherwise)
        if (c.examined !== undefined) expect(d.examined).toBe(c.examined)
        if (c.waits !== undefined) expect(d.waits).toEqual(c.waits)
        expect(decideByScan(s).starts).toEqual(d.starts)
      })
  })
