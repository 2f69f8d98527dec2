/**
 * The Stepper against its reference: live XState actors (issue 9). The engine steps its
 * statecharts through a cache of XState's answers (Stepper.ts) for speed; `actors: "live"`
 * runs the same machines as real XState actors on the same timers (LiveActor.ts).
 *
 * Property: for every generated workload (timeouts, retries, lost processes, cancels,
 * approvals, limits, backfill), the same seed gives a byte-identical event log and journal
 * through live actors and through Steppers. So the Stepper does with XState's answers exactly
 * what an actor does: the same transitions, the same order of effects, the same timers.
 */
import { fc } from "@fast-check/vitest"
import { simulate } from "@gantry/sim"
import { describe, expect, it } from "vitest"
import { describeCase, simCaseArb, type SimCase, simOptionsOf } from "./arbitraries.js"

const NUM_RUNS = 200

const runWith = (c: SimCase, actors: "live" | "stepped") => {
  const journal: Array<string> = []
  const report = simulate({
    ...simOptionsOf(c),
    actors,
    observe: { onCycle: (entry) => void journal.push(JSON.stringify(entry)) }
  })
  return { log: report.eventLog!.join("\n"), journal: journal.join("\n"), submitted: report.submitted, events: report.events }
}

describe("live XState actors and Steppers (issue 9)", () => {
  it(`give byte-identical event logs and journals (${NUM_RUNS} workloads)`, () => {
    let events = 0
    fc.assert(
      fc.property(simCaseArb({ jobs: [5, 40], timeouts: true, limits: true, backfill: true }), (c) => {
        const live = runWith(c, "live")
        const stepped = runWith(c, "stepped")
        if (live.log !== stepped.log) {
          const [a, b] = [live.log.split("\n"), stepped.log.split("\n")]
          const i = a.findIndex((line, k) => line !== b[k])
          throw new Error(`event logs differ at line ${i} — case ${describeCase(c)}\n  live:    ${a[i]}\n  stepped: ${b[i]}`)
        }
        if (live.journal !== stepped.journal) throw new Error(`journals differ — case ${describeCase(c)}`)
        events += live.events
      }),
      { numRuns: NUM_RUNS, verbose: fc.VerbosityLevel.Verbose }
    )
    // not vacuous: the workloads made runs move
    expect(events).toBeGreaterThan(NUM_RUNS * 5)
  })
})
