/**
 * Loader for the Microsoft Philly GPU trace (ATC'19, per-job CSV as derived by the Pollux
 * artifact), found at `../shared/data/philly-jobs.csv` relative to the project root.
 *
 * Format: header `timestamp,duration,num_gpus,gpu_time,cluster`, one job a row:
 * `2017-10-09 07:01:55,66.0,1,66.0,11cb48` (submission time, read as UTC; run seconds; GPUs;
 * duration × GPUs; hashed virtual-cluster id). Parsing is strict: a malformed row throws an
 * Error naming its line number and the problem. Blank lines (the file ends with one) are skipped.
 */
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { jobId, type Workload, type WorkloadJob } from "./Workload.js"

export interface PhillyOptions {
  /** Keep only the first `limit` jobs in arrival order (all rows are still validated). */
  readonly limit?: number
  /**
   * true (default): each virtual cluster is one user, named like its team ("c-<cluster>").
   * false: every job is submitted by the single user "philly" (teams are kept).
   */
  readonly userFromCluster?: boolean
}

export const PHILLY_HEADER = "timestamp,duration,num_gpus,gpu_time,cluster"

/** `<projectRoot>/../shared/data/philly-jobs.csv`, absolute. */
export const defaultPhillyPath = (fromDir: string): string =>
  resolve(fromDir, "..", "shared", "data", "philly-jobs.csv")

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const INTEGER = /^\d+$/
const CLUSTER = /^[0-9a-fA-F]+$/

/** Epoch ms (UTC) of `YYYY-MM-DD HH:MM:SS`, or a string saying what is wrong. */
const parseTimestamp = (s: string): number | string => {
  const m = TIMESTAMP.exec(s)
  if (m === null) return `timestamp ${JSON.stringify(s)} is not "YYYY-MM-DD HH:MM:SS"`
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const ms = Date.UTC(y, mo - 1, d, h, mi, se)
  const back = new Date(ms)
  const valid =
    back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d &&
    back.getUTCHours() === h && back.getUTCMinutes() === mi && back.getUTCSeconds() === se
  return valid ? ms : `timestamp ${JSON.stringify(s)} is not a valid date and time`
}

interface Row {
  readonly line: number
  readonly atMs: number
  readonly durationMs: number
  readonly gpus: number
  readonly cluster: string
}

const parseRow = (raw: string, line: number): Row => {
  const bad = (problem: string): never => {
    throw new Error(`philly csv line ${line}: ${problem}`)
  }
  const fields = raw.split(",")
  if (fields.length !== 5) bad(`expected 5 fields, got ${fields.length}`)
  const [ts, duration, numGpus, gpuTime, cluster] = fields as [string, string, string, string, string]
  const atMs = parseTimestamp(ts)
  if (typeof atMs === "string") return bad(atMs)
  if (!DECIMAL.test(duration)) bad(`duration ${JSON.stringify(duration)} is not a non-negative number`)
  const durationS = Number(duration)
  if (!Number.isFinite(durationS)) bad(`duration ${JSON.stringify(duration)} is not finite`)
  if (!INTEGER.test(numGpus)) bad(`num_gpus ${JSON.stringify(numGpus)} is not a non-negative integer`)
  const gpus = Number(numGpus)
  if (!Number.isSafeInteger(gpus)) bad(`num_gpus ${JSON.stringify(numGpus)} is too large`)
  if (!DECIMAL.test(gpuTime)) bad(`gpu_time ${JSON.stringify(gpuTime)} is not a non-negative number`)
  const expected = durationS * gpus
  if (Math.abs(Number(gpuTime) - expected) > Math.max(0.01, 1e-9 * expected)) {
    bad(`gpu_time ${gpuTime} is not duration × num_gpus (${expected})`)
  }
  if (!CLUSTER.test(cluster)) bad(`cluster ${JSON.stringify(cluster)} is not a hex id`)
  return { line, atMs, durationMs: Math.max(1, Math.round(durationS * 1000)), gpus, cluster: cluster.toLowerCase() }
}

/** Parses the trace text into a workload (see the module comment). */
export const parsePhillyCsv = (text: string, options: PhillyOptions = {}): Workload => {
  const { limit, userFromCluster = true } = options
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new RangeError(`parsePhillyCsv: limit must be an integer >= 0, got ${limit}`)
  }
  const lines = text.split("\n")
  const header = (lines[0] ?? "").replace(/^\uFEFF/, "").replace(/\r$/, "")
  if (header !== PHILLY_HEADER) {
    throw new Error(`philly csv line 1: expected header ${JSON.stringify(PHILLY_HEADER)}, got ${JSON.stringify(header)}`)
  }
  const rows: Array<Row> = []
  for (let i = 1; i < lines.length; i++) {
    const raw = (lines[i] as string).replace(/\r$/, "")
    if (raw.trim() === "") continue
    rows.push(parseRow(raw, i + 1))
  }
  // Array.prototype.sort is stable: equal timestamps keep their row order.
  rows.sort((a, b) => a.atMs - b.atMs)
  const kept = limit === undefined ? rows : rows.slice(0, limit)
  const originMs = kept.length > 0 ? (kept[0] as Row).atMs : 0
  const jobs: Array<WorkloadJob> = kept.map((r, i) => {
    const team = `c-${r.cluster}`
    return {
      id: jobId(i),
      arrivalMs: r.atMs - originMs,
      durationMs: r.durationMs,
      exitCode: 0,
      user: userFromCluster ? team : "philly",
      team,
      level: "researcher",
      gpus: r.gpus
    }
  })
  const clusters = new Set(kept.map((r) => r.cluster)).size
  const span =
    kept.length > 0
      ? ` from ${new Date(originMs).toISOString()} to ${new Date((kept[kept.length - 1] as Row).atMs).toISOString()}`
      : ""
  const description =
    `Philly trace (Microsoft, ATC'19; Pollux per-job CSV): ${jobs.length} of ${rows.length} jobs${span}, ` +
    `${clusters} virtual clusters as teams, users ${userFromCluster ? "= clusters" : "= one (philly)"}, ` +
    `timestamps read as UTC, all exit 0`
  return { name: limit === undefined ? "philly" : `philly-${jobs.length}`, jobs, description }
}

/** Reads and parses the trace at `path` (see `defaultPhillyPath`). */
export const loadPhillyCsv = (path: string, options?: PhillyOptions): Workload =>
  parsePhillyCsv(readFileSync(path, "utf8"), options)
