/**
 * The runner's GpuInventory: the machine's GPUs as nvidia-smi lists them, narrowed by the
 * operator's `--gpus` selection (DESIGN.md "Runner specifics").
 *
 * - `GANTRY_FAKE_GPUS=N` in the environment gives N fake GPUs without calling nvidia-smi, for
 *   machines without one (CI) and for tests.
 * - Otherwise `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits`
 *   is run once, at the first `list`, and its answer kept. No nvidia-smi binary means a machine
 *   without GPUs (zero GPUs); an nvidia-smi that fails (e.g. no driver) is an error.
 * - Selection: `all` (default), `none`, `N` (the first N GPUs by index) or a list of indices
 *   `0,2,3`. A lone number is a count, so one GPU by index is written with a trailing comma:
 *   `2,` is GPU 2 alone (see `selectGpus`).
 */
import { execFile } from "node:child_process"
import { GpuInventory, type GpuInfo, GpuInventoryError, type GpuInventoryService } from "@gantry/engine"
import { Effect, Either, Layer } from "effect"

export interface NvidiaSmiGpusOptions {
  /** "all" (default), "none", a count "N", or indices "0,2,3". */
  readonly gpus?: string
  /** The nvidia-smi binary (default: "nvidia-smi" on PATH). */
  readonly nvidiaSmi?: string
  /** How long nvidia-smi may take (default 30 s: a driver waking the GPUs can be slow). */
  readonly timeoutMs?: number
}

export const NVIDIA_SMI_ARGS = ["--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"] as const

const fail = (message: string) => Either.left(new GpuInventoryError({ message }))

/**
 * Parses nvidia-smi's CSV (`index, uuid, name, memory.total` per line, no header, no units).
 * Names may contain spaces (and, to be safe, commas: the name is everything between the uuid
 * and the last field). A memory of `[N/A]` reads as 0.
 */
export const parseNvidiaSmi = (csv: string): Either.Either<ReadonlyArray<GpuInfo>, GpuInventoryError> => {
  const gpus: Array<GpuInfo> = []
  for (const raw of csv.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === "") continue
    const fields = line.split(",").map((f) => f.trim())
    if (fields.length < 4) return fail(`unexpected nvidia-smi line (want index, uuid, name, memory): ${line}`)
    const [indexText, uuid] = fields
    const memoryText = fields[fields.length - 1]!
    const name = fields.slice(2, -1).join(", ")
    if (!/^\d+$/.test(indexText!)) return fail(`unexpected GPU index in nvidia-smi line: ${line}`)
    if (uuid === "" || name === "") return fail(`missing GPU uuid or name in nvidia-smi line: ${line}`)
    let memoryMiB: number
    if (/^\d+(\.\d+)?$/.test(memoryText)) memoryMiB = Math.floor(Number(memoryText))
    else if (/^\[.*\]$/.test(memoryText)) memoryMiB = 0 // "[N/A]", "[Not Supported]"
    else return fail(`unexpected GPU memory in nvidia-smi line: ${line}`)
    gpus.push({ index: Number(indexText), uuid: uuid!, name, memoryMiB })
  }
  const seen = new Set<number>()
  for (const gpu of gpus) {
    if (seen.has(gpu.index)) return fail(`nvidia-smi listed GPU ${gpu.index} twice`)
    seen.add(gpu.index)
  }
  return Either.right(gpus.sort((a, b) => a.index - b.index))
}

/**
 * Narrows the machine's GPUs to the operator's selection:
 * - `undefined` or `all`: every GPU;
 * - `none`: no GPU;
 * - `N` (one number): the first N by index; more than exist is an error;
 * - `i,j,...` (a comma-separated list; `i,` with a trailing comma is the single index i):
 *   exactly those indices; any missing one is an error.
 * Anything else (negative, junk, empty items, duplicates) is an error naming the problem.
 */
export const selectGpus = (
  gpus: ReadonlyArray<GpuInfo>,
  spec: string | undefined
): Either.Either<ReadonlyArray<GpuInfo>, GpuInventoryError> => {
  const sorted = [...gpus].sort((a, b) => a.index - b.index)
  const text = spec?.trim() ?? "all"
  if (text === "all") return Either.right(sorted)
  if (text === "none") return Either.right([])
  const usage = `--gpus takes "all", "none", a count N, or GPU indices like "0,2,3"`
  if (/^\d+$/.test(text)) {
    const count = Number(text)
    if (!Number.isSafeInteger(count)) return fail(`--gpus ${text}: not a sensible count; ${usage}`)
    if (count > sorted.length) {
      return fail(`--gpus ${count}: asked for ${count} GPU${count === 1 ? "" : "s"} but this machine has ${sorted.length}`)
    }
    return Either.right(sorted.slice(0, count))
  }
  const items = (text.endsWith(",") ? text.slice(0, -1) : text).split(",").map((s) => s.trim())
  const bad = items.filter((s) => !/^\d+$/.test(s))
  if (!text.includes(",") || bad.length > 0) {
    const what = bad.length > 0 ? bad.map((s) => (s === "" ? "an empty item" : `"${s}"`)).join(", ") : `"${text}"`
    return fail(`--gpus ${text}: ${what} is not a GPU index; ${usage}`)
  }
  const indices = items.map(Number)
  const duplicates = [...new Set(indices.filter((i, k) => indices.indexOf(i) !== k))]
  if (duplicates.length > 0) return fail(`--gpus ${text}: GPU ${duplicates.join(", ")} listed more than once`)
  const byIndex = new Map(sorted.map((g) => [g.index, g]))
  const missing = indices.filter((i) => !byIndex.has(i))
  if (missing.length > 0) {
    const have = sorted.length === 0 ? "none" : sorted.map((g) => g.index).join(",")
    return fail(`--gpus ${text}: no GPU ${missing.join(", ")} on this machine (it has: ${have})`)
  }
  return Either.right(indices.sort((a, b) => a - b).map((i) => byIndex.get(i)!))
}

/** `GANTRY_FAKE_GPUS=N`: N identical fake GPUs. */
export const fakeGpus = (count: number): ReadonlyArray<GpuInfo> =>
  Array.from({ length: count }, (_, index) => ({ index, uuid: `GPU-fake-${index}`, name: "Fake GPU", memoryMiB: 81920 }))

/** Runs nvidia-smi with `args`: its stdout, or null when there is no such binary. */
const runSmi = (binary: string, args: ReadonlyArray<string>, timeoutMs: number): Effect.Effect<string | null, GpuInventoryError> =>
  Effect.async<string | null, GpuInventoryError>((resume) => {
    const child = execFile(binary, args, { timeout: timeoutMs, encoding: "utf8", windowsHide: true }, (error, stdout, stderr) => {
      if (error === null) return resume(Effect.succeed(stdout))
      const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null }
      if (e.code === "ENOENT") return resume(Effect.succeed(null))
      const detail = stderr.trim() || stdout.trim() || e.message
      const why =
        e.killed === true && e.signal != null
          ? `timed out after ${timeoutMs} ms`
          : typeof e.code === "number"
            ? `exited with status ${e.code}`
            : e.code !== undefined
              ? `could not run (${e.code})`
              : "failed"
      resume(Effect.fail(new GpuInventoryError({ message: `${binary} ${why}: ${detail}` })))
    })
    return Effect.sync(() => child.kill())
  })

/** Runs nvidia-smi's inventory query; ENOENT (no binary) means a machine without GPUs. */
const querySmi = (binary: string, timeoutMs: number): Effect.Effect<ReadonlyArray<GpuInfo>, GpuInventoryError> =>
  Effect.flatMap(runSmi(binary, NVIDIA_SMI_ARGS, timeoutMs), (stdout) => (stdout === null ? Effect.succeed([]) : parseNvidiaSmi(stdout)))

// ------------------------------------------------------------------ load

export const NVIDIA_SMI_LOAD_ARGS = ["--query-gpu=index,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"] as const

/** A GPU's load at one moment; null where the driver does not say ("[N/A]", "[Not Supported]"). */
export interface GpuLoad {
  readonly index: number
  readonly utilizationPercent: number | null
  readonly memoryPercent: number | null
}

const numberOrNull = (text: string | undefined): number | null => (text !== undefined && /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : null)

/** Parses the load query (`index, utilization.gpu, memory.used, memory.total`); a line it cannot read is left out. */
export const parseLoad = (csv: string): ReadonlyArray<GpuLoad> =>
  csv.split(/\r?\n/).flatMap((line) => {
    const [index, utilization, used, total] = line.split(",").map((f) => f.trim())
    if (index === undefined || !/^\d+$/.test(index)) return []
    const usedMiB = numberOrNull(used)
    const totalMiB = numberOrNull(total)
    return [
      {
        index: Number(index),
        utilizationPercent: numberOrNull(utilization),
        memoryPercent: usedMiB === null || totalMiB === null || totalMiB === 0 ? null : Math.round((usedMiB / totalMiB) * 1000) / 10
      }
    ]
  })

/**
 * The GPUs' load for status pages (the common queue API's `/api/system/status`): one
 * nvidia-smi query at most every `cacheMs` (default 2 s), whoever asks. Load is advisory: with
 * fake GPUs, no nvidia-smi, or a query that fails or takes over 5 s, it is empty (a status page
 * must not fail because a driver is slow).
 */
export const loadSampler = (options: { readonly nvidiaSmi?: string; readonly cacheMs?: number } = {}): Effect.Effect<Effect.Effect<ReadonlyArray<GpuLoad>>> => {
  const fake = process.env.GANTRY_FAKE_GPUS
  if (fake !== undefined && fake.trim() !== "") return Effect.succeed(Effect.succeed([]))
  const query = runSmi(options.nvidiaSmi ?? "nvidia-smi", NVIDIA_SMI_LOAD_ARGS, 5_000).pipe(
    Effect.map((stdout) => (stdout === null ? [] : parseLoad(stdout))),
    Effect.orElseSucceed((): ReadonlyArray<GpuLoad> => [])
  )
  return Effect.cachedWithTTL(query, options.cacheMs ?? 2_000)
}

/** The machine's GPUs, before selection. */
export const discover = (options: NvidiaSmiGpusOptions = {}): Effect.Effect<ReadonlyArray<GpuInfo>, GpuInventoryError> =>
  Effect.suspend(() => {
    const fake = process.env.GANTRY_FAKE_GPUS
    if (fake !== undefined && fake.trim() !== "") {
      const text = fake.trim()
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
        return Effect.fail(new GpuInventoryError({ message: `GANTRY_FAKE_GPUS=${fake}: want a number of fake GPUs (0 or more)` }))
      }
      return Effect.succeed(fakeGpus(Number(text)))
    }
    return querySmi(options.nvidiaSmi ?? "nvidia-smi", options.timeoutMs ?? 30_000)
  })

/** The GPUs the runner may use: discovered once (at the first `list`) and narrowed by `gpus`. */
export const make = (options: NvidiaSmiGpusOptions = {}): Effect.Effect<GpuInventoryService> =>
  Effect.map(
    Effect.cached(discover(options).pipe(Effect.flatMap((all) => selectGpus(all, options.gpus)))),
    (list) => ({ list })
  )

export const layer = (options: NvidiaSmiGpusOptions = {}): Layer.Layer<GpuInventory> => Layer.effect(GpuInventory, make(options))
