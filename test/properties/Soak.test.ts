/**
 * The soak at a fixed seed and a small size, inside `npm test` so that it cannot rot;
 * `npm run test:soak` (test/soak.ts) runs the same on fresh random seeds for as long as asked.
 *
 * Each seed draws a simulation case (arbitraries.ts, sampled with the seed) and a fault plan
 * (the seed's own PRNG; Faults.ts): a probability that the store refuses a commit (0, 2%, 10%
 * or 30%: cycles', a new engine's recovery commit and its load, and with `commands` those of
 * submit/approve/reject/cancel) and up to three restarts (engine.shutdown, then a new engine on
 * the same store; the simulator's executor adopts nothing, so running runs come back `lost`).
 * The case runs twice: without faults through `simulate` and the independent Model (every §6
 * invariant, as Invariants.test.ts checks them), then with its faults through the SoakModel.
 *
 * Which §6 properties hold under the faults, and so are checked under them (SoakModel.ts):
 *
 *   §6.1  limits                   yes: a refused cycle's starts were within the limits, and are undone;
 *   §6.2  no GPU held twice        yes: same; a restart frees the GPUs of lost runs;
 *   §6.3  one start per attempt,   yes, with the faults' own transitions allowed only where the fault
 *         legal transitions        is: running → pending "requeued: store failed" (attempt unchanged)
 *                                  only at an instant whose cycle commit was refused and for a start
 *                                  of that instant; `lost` only while a new engine recovers the store;
 *   §6.4  work conservation        no: a refused cycle's starts wait STORE_RETRY_MS for the retry;
 *   §6.5  order                    no: the retry cycle sees later arrivals; a lost run's retry is
 *                                  eligible anew at the restart;
 *   §6.6  non-preemption           no: a restart loses running runs on purpose (§6.3 allows `lost`
 *                                  at restarts only, no other preemption);
 *   §6.7  depth                    yes;
 *   §6.8  timeouts                 no: a start that fails leaves no engine to time anything out
 *                                  until the next one;
 *   §6.9  liveness                 every run ends terminal, yes (the client sends a refused command
 *                                  again); the bound on waiting, no (retries and lost work);
 *   §6.10 backfill                 no: a reservation's shadow assumes running runs end by their time
 *                                  limits; a restart requeues them;
 *   §6.11 conservation             yes: every acknowledged submission is one stored run, nothing
 *                                  stored was refused, nothing lost across restarts; a command the
 *                                  store refused changed nothing (no transition, same counts);
 *                                  after every quiet instant the engine equals the store (getRun of
 *                                  every run, stats, GPUs) — or, while a refused commit awaits its
 *                                  retry, is ahead of it by exactly its uncommitted transitions; an
 *                                  engine shut down commits and emits nothing;
 *   §6.12 determinism              yes: a seed replays to the same transitions and journal.
 *
 * Found by this soak on a7e35cf: a submit, approve or cancel whose commit the store refused
 * failed with StoreError but kept its change in memory, and committed it with the next commit:
 * the client, told it failed, sent it again and got a second run for the same job (or
 * QueueFull, from its own ghost), and a ghost needing approval stayed blocked forever (seeds 1,
 * 8, 59, 66, 286). Commands now commit before they change memory (libs/engine Commit.ts); the
 * second test below holds that.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { describeSoakCase, runSoakCase, soakCase, soakSeed, type SeedResult, violationsOf } from "./Faults.js"

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1)
const JOBS = [5, 30] as const

const check = (results: ReadonlyArray<SeedResult>) => {
  const failures = results.filter((r) => violationsOf(r).length > 0)
  const report = failures
    .map((r) => `${describeSoakCase(r.soak)}\n${violationsOf(r).slice(0, 8).map((v) => `  - ${v}`).join("\n")}\n  replay: npm run test:soak -- --seed ${r.soak.seed}`)
    .join("\n")
  expect(report).toBe("")
}

const total = (results: ReadonlyArray<SeedResult>, key: keyof SeedResult["faulty"]["counters"]) => results.reduce((sum, r) => sum + r.faulty.counters[key], 0)

describe("soak: SPEC §6 under injected store failures and restarts (fixed seeds, small)", () => {
  it(`restarts and refused commits of cycles, recoveries and loads: ${SEEDS.length} seeds`, () => {
    const results = SEEDS.map((seed) => soakSeed(seed, { commandFailures: false, jobs: JOBS }))
    check(results)
    // not vacuous: the faults happened, and the runs went through them
    expect(total(results, "restarts")).toBeGreaterThan(10)
    expect(total(results, "failedStarts")).toBeGreaterThan(0)
    expect(total(results, "refusedCommits")).toBeGreaterThan(20)
    expect(results.reduce((n, r) => n + (r.faulty.seen.get("live running→pending (requeued: store failed)") ?? 0), 0)).toBeGreaterThan(10)
    expect(results.reduce((n, r) => n + (r.faulty.seen.get("recovery running→failed (lost)") ?? 0) + (r.faulty.seen.get("recovery running→pending (retry after lost)") ?? 0), 0)).toBeGreaterThan(5)
    expect(total(results, "accepted")).toBeGreaterThan(100)
    // §6.12: a seed replays to the same transitions and journal
    const again = runSoakCase(soakCase(3, { commandFailures: false, jobs: JOBS }))
    expect(again.digest).toBe(results[2]!.faulty.digest)
  })

  it("refused commands too (submit, approve, reject, cancel): a refused command changes nothing (seed 1)", () => {
    const result = soakSeed(1, { jobs: JOBS })
    expect(result.faulty.counters.refusedCommands).toBeGreaterThan(0)
    check([result])
  })
})

describe("npm run test:soak", () => {
  it("runs as the README says: --seed replays one seed and says it held", () => {
    const root = path.resolve(import.meta.dirname, "../..")
    const result = spawnSync("npm", ["run", "--silent", "test:soak", "--", "--seed", "3"], { cwd: root, encoding: "utf8", timeout: 60_000 })
    expect(result.stderr).toBe("")
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/^seed 3: ok/m)
  }, 70_000)
})
