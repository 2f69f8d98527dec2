/**
 * SPEC §6, property-tested end to end: each invariant over 200 generated workloads run by
 * `simulate` (the full engine on simulated time), checked by an independent Model after
 * every transition (`observe.onEvent`) and every cycle (`observe.onCycle`).
 *
 * A failure prints fast-check's seed and path (replay with `{ seed, path }`), the case
 * (its `seed` field is the simulate seed; `workload` regenerates the jobs), the SEED line of
 * the simulation, and every violation with the run, the instant and the broken limit.
 * See Model.ts for exactly what each invariant checks.
 */
import { fc } from "@fast-check/vitest"
import { simulate } from "@gantry/sim"
import { describe, it } from "vitest"
import { type Bias, describeCase, type SimCase, simCaseArb, simOptionsOf } from "./arbitraries.js"
import { assertInvariant } from "./Model.js"

const NUM_RUNS = 200

/** fast-check parameters: 200 workloads, counterexamples printed with seed and path. */
const params: fc.Parameters<[SimCase]> = { numRuns: NUM_RUNS, verbose: fc.VerbosityLevel.Verbose }

const property = (n: number, bias: Bias) => () => fc.assert(fc.property(simCaseArb(bias), (c) => assertInvariant(n, c)), params)

describe("SPEC §6 invariants (simulated engine, independent model)", () => {
  it(`§6.1 no limit of §4 is ever exceeded at any instant (${NUM_RUNS} workloads)`, property(1, { limits: true }))

  it(
    `§6.2 no GPU is held by two runs; a run holds exactly the GPUs it asked for, inside its queue's pool (${NUM_RUNS} workloads)`,
    property(2, { backfill: true })
  )

  it(`§6.3 a run starts at most once per attempt; every transition is legal per §2, for its §2 cause (${NUM_RUNS} workloads)`, property(3, { timeouts: true }))

  it(
    `§6.4 work conservation: after a cycle no pending run that passes every check of §4 is left unstarted (${NUM_RUNS} workloads)`,
    property(4, {})
  )

  it(`§6.5 order: among runs that passed their checks, starts follow §3 (${NUM_RUNS} workloads)`, property(5, { aging: true }))

  it(
    `§6.6 non-preemption: no run leaves running except by its own exit, a cancel, its time limit or its deadline (${NUM_RUNS} workloads)`,
    property(6, { timeouts: true })
  )

  it(`§6.7 depth: accepted runs of a queue never exceed its depth; refusals only when full (${NUM_RUNS} workloads)`, property(7, { limits: true }))

  it(
    `§6.8 timeouts: nothing stays pending past maxQueuedTime or alive past deadline / timeLimit, exactly at it (${NUM_RUNS} workloads)`,
    property(8, { timeouts: true })
  )

  it(`§6.9 liveness: every run ends terminal, within the work-conserving bound on waiting (${NUM_RUNS} workloads)`, property(9, { aging: true }))

  it(`§6.10 backfill never delays a reservation (${NUM_RUNS} workloads)`, property(10, { backfill: true }))

  it(`§6.11 conservation: accepted submissions = runs in all statuses, nothing lost (${NUM_RUNS} workloads)`, property(11, { limits: true }))

  it(`§6.12 determinism: the same seed and workload give a byte-identical event log and journal (${NUM_RUNS} workloads)`, () =>
    fc.assert(
      fc.property(simCaseArb({ jobs: [5, 40] }), (c) => {
        const once = () => {
          const journal: Array<string> = []
          const report = simulate({
            ...simOptionsOf(c),
            observe: { onCycle: (entry) => void journal.push(JSON.stringify(entry)) }
          })
          return { log: report.eventLog!.join("\n"), journal: journal.join("\n"), header: report.header, events: report.events, submitted: report.submitted }
        }
        const a = once()
        const b = once()
        if (a.log !== b.log || a.journal !== b.journal || a.header !== b.header) {
          const lines = [a.log.split("\n"), b.log.split("\n")] as const
          const i = lines[0].findIndex((line, k) => line !== lines[1][k])
          throw new Error(
            `SPEC §6.12 violated — ${a.header}\n  case: ${describeCase(c)}\n  ` +
              (a.log !== b.log ? `event logs differ at line ${i}: ${lines[0][i]} vs ${lines[1][i]}` : "journals differ")
          )
        }
        // not vacuous: every accepted run left at least its "submitted" line in the log
        if (a.log.split("\n").filter((line) => line.includes('"submitted"')).length !== a.submitted)
          throw new Error(`the event log misses submissions — ${a.header}`)
      }),
      params
    ))
})
