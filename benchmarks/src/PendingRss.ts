/**
 * Peak memory with N pending runs held by the full engine (simulator layers, time stopped so
 * nothing starts). Run in its own process by `npm run bench -- sim`; prints one JSON line.
 * usage: node benchmarks/dist/PendingRss.mjs N (built by benchmarks/bin/bench)
 */
import { UserName } from "@gantry/core"
import { Engine, MemoryStore, noJournal } from "@gantry/engine"
import { SimClock, SimExecutor, SimGpus } from "@gantry/sim"
import { Effect, Layer } from "effect"

const n = Number(process.argv[2] ?? 1_000_000)
const clock = new SimClock()
const ports = Layer.mergeAll(
  MemoryStore.layer({ keepTimelines: false }),
  SimExecutor.layer({ timers: clock.timers, behaviour: () => ({ durationMs: 60_000, exitCode: 0 }) }),
  SimGpus.layer(8),
  noJournal
)
const engine = Effect.runSync(Engine.make().pipe(Effect.provide(ports), Effect.withClock(clock)))
const before = process.memoryUsage().rss
const users = Array.from({ length: 1000 }, (_, i) => UserName.make(`u${i}`))
const t0 = performance.now()
for (let i = 0; i < n; i++) Effect.runSync(engine.submit({ command: ["train"], user: users[i % 1000]!, gpus: 1 + (i % 2) }))
const seconds = (performance.now() - t0) / 1000
const stats = Effect.runSync(engine.stats)
const maxRssMiB = process.resourceUsage().maxRSS / 1024
console.log(JSON.stringify({ pending: stats.pending, seconds, maxRssMiB, baseRssMiB: before / 1048576 }))
