/**
 * `npm run bench [-- NAME] [-- --smoke]`: benchmarks with their baselines measured in the same run.
 */
import { runDispatch } from "./Dispatch.js"

const args = process.argv.slice(2)
const smoke = args.includes("--smoke")
const only = args.find((a) => !a.startsWith("--"))

const benches: Record<string, () => void> = {
  dispatch: () => {
    const sizes = smoke ? [1_000, 10_000] : [10_000, 100_000, 1_000_000]
    const rows = runDispatch(sizes, { repeats: smoke ? 20 : 200, scanUpTo: smoke ? 10_000 : 100_000 })
    console.log("dispatch: one decide() cycle (1,000 users, 50 teams, 8 queues, 64 GPUs, all limits on), median")
    console.log("pending    decide µs  starts  examined  µs/start  full-scan µs  speed-up")
    for (const r of rows)
      console.log(
        [
          String(r.pending).padStart(7),
          r.decideUs.toFixed(1).padStart(12),
          String(r.starts).padStart(7),
          String(r.examined).padStart(9),
          (r.decideUs / Math.max(1, r.starts)).toFixed(1).padStart(9),
          (r.scanUs === null ? "-" : r.scanUs.toFixed(0)).padStart(13),
          (r.scanUs === null ? "-" : `${(r.scanUs / r.decideUs).toFixed(0)}×`).padStart(9)
        ].join(" ")
      )
    const first = rows[0]!
    const last = rows[rows.length - 1]!
    console.log(`growth ${first.pending} → ${last.pending} pending: ${(last.decideUs / first.decideUs).toFixed(2)}×`)
  }
}

for (const [name, bench] of Object.entries(benches)) if (only === undefined || only === name) bench()
