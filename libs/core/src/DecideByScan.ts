/**
 * The reference decision: every pending run, sorted by the SPEC §3 key, asked in turn.
 * O(n log n) per cycle. It is the spec written as plainly as possible: tests compare
 * `decide()` against it, and benchmarks use it as the naive baseline.
 */
import { Admission, isStopReason, type Reservation, type Start } from "./Admission.js"
import { compareOrderKeys, orderKeyOf } from "./Order.js"
import type { Snapshot } from "./Snapshot.js"

export interface ScanDecision {
  readonly starts: ReadonlyArray<Start>
  readonly reservation: Reservation | null
}

export const decideByScan = (snapshot: Snapshot): ScanDecision => {
  const candidates = [...snapshot.pending.runs()]
    .map((run) => ({ run, key: orderKeyOf(snapshot, run) }))
    .sort((a, b) => compareOrderKeys(a.key, b.key))
  const admission = new Admission(snapshot)
  do {
    if (admission.reservation !== null) admission.dropReservation()
    for (const { run } of candidates) {
      if (admission.hasStarted(run.id)) continue
      const reason = admission.consider(run)
      if (reason !== null && isStopReason(reason)) break
    }
  } while (admission.reservationLapsed())
  return { starts: admission.starts, reservation: admission.reservation }
}
