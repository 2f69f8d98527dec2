/**
 * `npm run test:soak [-- --minutes M] [-- --seed S] [-- --faults restarts,store,commands]`:
 * the SPEC §6 properties on fresh random seeds, under injected store failures and restarts,
 * for as long as asked (`--minutes`, else SOAK_MINUTES, else 1). Each seed draws a simulation
 * case and its faults (test/properties/Faults.ts says how, Soak.test.ts which properties hold
 * under them), runs it without faults through the independent Model, then with its faults
 * through the SoakModel, and prints one line. The first seed with a violation stops the soak:
 * it prints the seed, the case, the violations and the command that replays it; exit 1.
 *
 *   --faults   which faults to inject (default all): `restarts` (engine shut down and started
 *              again on the same store), `store` (commits of cycles, recoveries and loads
 *              refused), `commands` (commits of submit/approve/reject/cancel refused too;
 *              implies store)
 *   --seed S   run seed S only (a replay), and print what it exercised
 */
import { randomInt } from "node:crypto"
import { parseArgs } from "node:util"
import { describeSoakCase, type FaultKinds, soakSeed, summaryOf, violationsOf } from "./properties/Faults.js"

const usage = (message: string): never => {
  process.stderr.write(`test:soak: ${message}\nusage: npm run test:soak -- [--minutes M] [--seed S] [--faults restarts,store,commands]\n`)
  process.exit(64)
}

const parsed = (() => {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      options: { minutes: { type: "string" }, seed: { type: "string" }, faults: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false
    }).values
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error))
  }
})()

if (parsed.help === true) {
  process.stdout.write(
    "npm run test:soak -- [--minutes M] [--seed S] [--faults restarts,store,commands]\n" +
      "  --minutes M   how long to soak (default: $SOAK_MINUTES, else 1)\n" +
      "  --seed S      replay one seed\n" +
      "  --faults F    comma-separated: restarts, store, commands (default: all)\n"
  )
  process.exit(0)
}

const minutesText = parsed.minutes ?? process.env["SOAK_MINUTES"] ?? "1"
const minutes = Number(minutesText)
if (!/^\d+(\.\d+)?$/.test(minutesText) || !(minutes > 0)) usage(`--minutes (or SOAK_MINUTES) takes a number of minutes > 0, got "${minutesText}"`)

const FAULTS = ["restarts", "store", "commands"] as const
const faultsText = parsed.faults ?? FAULTS.join(",")
const chosen = faultsText.split(",").map((f) => f.trim())
for (const f of chosen) if (!(FAULTS as ReadonlyArray<string>).includes(f)) usage(`--faults: unknown fault "${f}" (restarts, store, commands)`)
const kinds: FaultKinds = {
  restarts: chosen.includes("restarts"),
  storeFailures: chosen.includes("store") || chosen.includes("commands"),
  commandFailures: chosen.includes("commands")
}
const faultsFlag = parsed.faults === undefined ? "" : ` --faults ${chosen.join(",")}`

const runOne = (seed: number): boolean => {
  const t0 = performance.now()
  const result = soakSeed(seed, kinds)
  console.log(summaryOf(result, performance.now() - t0))
  const violations = violationsOf(result)
  if (violations.length === 0) return true
  console.log(`\nFAILED: ${describeSoakCase(result.soak)}`)
  for (const v of violations.slice(0, 20)) console.log(`  - ${v}`)
  if (violations.length > 20) console.log(`  ... ${violations.length - 20} more`)
  console.log(`\nreplay: npm run test:soak -- --seed ${seed}${faultsFlag}`)
  return false
}

if (parsed.seed !== undefined) {
  if (!/^\d+$/.test(parsed.seed)) usage(`--seed takes a whole number, got "${parsed.seed}"`)
  const seed = Number(parsed.seed)
  const ok = runOne(seed)
  if (ok) {
    const result = soakSeed(seed, kinds)
    console.log(describeSoakCase(result.soak))
    for (const [what, n] of [...result.faulty.seen].sort()) console.log(`${String(n).padStart(6)}  ${what}`)
  }
  process.exit(ok ? 0 : 1)
}

console.log(`soak: ${minutes} min, faults ${chosen.join(", ")}; fresh random seeds, each printed (replay one: npm run test:soak -- --seed S${faultsFlag})`)
const until = performance.now() + minutes * 60_000
let seeds = 0
while (performance.now() < until) {
  seeds++
  if (!runOne(randomInt(2 ** 31 - 1))) process.exit(1)
}
console.log(`soak: ${seeds} seeds, no violation`)
