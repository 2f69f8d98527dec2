/**
 * `gantry sim`'s policies replayed in parallel: one worker thread per policy (at most one per
 * core), each with an engine of its own (libs/sim `replayPolicy`), the main thread drawing a
 * progress bar on stderr when a replay takes longer than a second and stderr is a terminal.
 *
 * The workers run this same bundle (apps/runner/bin/gantry builds one file): main.ts hands a
 * thread started with `SIM_WORKER` in its workerData to `serveSimWorker` instead of the CLI.
 * Run from the TypeScript sources (tsx, vitest) there is no bundle to start, and the replays
 * run one after the other in the main thread: the same results, in the same order.
 */
import { replayPolicy, type WhatIfOptions, type WhatIfPolicy, type WhatIfResult, whatIfOf } from "@gantry/sim"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { parentPort, Worker, workerData } from "node:worker_threads"

/** The key in a worker's workerData that makes it a replay worker. */
export const SIM_WORKER = "gantrySimWorker"

type ToWorker = { readonly index: number } | { readonly done: true }
type FromWorker =
  | { readonly kind: "progress"; readonly index: number; readonly arrived: number; readonly total: number }
  | { readonly kind: "result"; readonly index: number; readonly policy: WhatIfPolicy }
  | { readonly kind: "error"; readonly index: number; readonly message: string }

/** A replay worker: replays the policies it is given, one at a time, until told it is done. */
export const serveSimWorker = (): void => {
  const options = (workerData as Record<string, unknown>)[SIM_WORKER] as WhatIfOptions
  const port = parentPort!
  port.on("message", (message: ToWorker) => {
    if ("done" in message) return port.close()
    const { index } = message
    try {
      const policy = replayPolicy(options, index, (arrived, total) => port.postMessage({ kind: "progress", index, arrived, total } satisfies FromWorker))
      port.postMessage({ kind: "result", index, policy } satisfies FromWorker)
    } catch (e) {
      port.postMessage({ kind: "error", index, message: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies FromWorker)
    }
  })
}

/** This module runs from the bundle (a file the workers can start), not from TypeScript sources. */
const bundle = (): string | null => {
  const file = fileURLToPath(import.meta.url)
  return file.endsWith(".mjs") ? file : null
}

/** A progress bar on stderr, drawn only on a terminal and only once the work has taken a second. */
const progressBar = (labels: ReadonlyArray<string>) => {
  const t0 = Date.now()
  const done = labels.map(() => 0)
  const tty = process.stderr.isTTY === true
  let drawn = false
  const draw = () => {
    if (!tty || Date.now() - t0 < 1_000) return
    const share = done.reduce((a, x) => a + x, 0) / done.length
    const width = 30
    const filled = Math.round(share * width)
    process.stderr.write(`\rreplaying ${labels.length} ${labels.length === 1 ? "policy" : "policies"} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${Math.floor(share * 100)}%`)
    drawn = true
  }
  return {
    update: (index: number, arrived: number, total: number) => {
      done[index] = total === 0 ? 1 : arrived / total
      draw()
    },
    finish: () => {
      if (drawn) process.stderr.write(`\r${" ".repeat(60)}\r`)
    }
  }
}

/**
 * The what-if comparison, each policy's replay in a worker thread when there is a bundle to
 * start, more than one policy and more than one core (or `maxThreads`); else one after the other here.
 */
export const runWhatIf = async (o: WhatIfOptions, maxThreads?: number): Promise<WhatIfResult> => {
  const bar = progressBar(o.policies.map((p) => p.name))
  const file = bundle()
  const threads = Math.min(o.policies.length, maxThreads ?? os.availableParallelism())
  try {
    if (file === null || threads < 2) {
      const policies: Array<WhatIfPolicy> = []
      for (let i = 0; i < o.policies.length; i++) policies.push(replayPolicy(o, i, (arrived, total) => bar.update(i, arrived, total)))
      return whatIfOf(o, policies)
    }
    const results: Array<WhatIfPolicy | undefined> = o.policies.map(() => undefined)
    let next = 0
    await new Promise<void>((resolve, reject) => {
      let running = threads
      for (let t = 0; t < threads; t++) {
        const worker = new Worker(file, { workerData: { [SIM_WORKER]: o } })
        const give = () => worker.postMessage((next < o.policies.length ? { index: next++ } : { done: true }) satisfies ToWorker)
        worker.on("message", (m: FromWorker) => {
          if (m.kind === "progress") return bar.update(m.index, m.arrived, m.total)
          if (m.kind === "error") {
            void worker.terminate()
            return reject(new Error(`replaying ${o.policies[m.index]!.name}: ${m.message}`))
          }
          results[m.index] = m.policy
          bar.update(m.index, 1, 1)
          give()
        })
        worker.on("error", reject)
        worker.on("exit", () => {
          if (--running === 0) resolve()
        })
        give()
      }
    })
    const missing = results.findIndex((r) => r === undefined)
    if (missing >= 0) throw new Error(`no result for ${o.policies[missing]!.name}: its worker ended without one`)
    return whatIfOf(o, results as ReadonlyArray<WhatIfPolicy>)
  } finally {
    bar.finish()
  }
}
