/**
 * gantry's own workload format for what-if replays (issue 12), as CSV or JSONL: one job a row,
 * its columns (CSV: named by the header, in any order) or keys (JSONL):
 *
 * | column | | meaning |
 * |---|---|---|
 * | `user` | required | the submitter |
 * | `team`, `project`, `queue` | optional | as a submission has them (queue: `default`) |
 * | `gpus` | required | GPUs asked for, a whole number ≥ 0 |
 * | `submit` | required | when it was submitted: seconds from the start of the trace, or an ISO-8601 time (then relative to the earliest) |
 * | `duration` | required | seconds it runs once started, > 0 |
 * | `time_limit` | optional | seconds (empty: none) |
 * | `exit_code` | optional | 0 by default |
 * | `level` | optional | admin, lead, researcher (default), viewer |
 *
 * Rows may come in any order (they are sorted by submission, then by row). A bad row is an
 * error naming its line and the column.
 */
import type { Level, Workload, WorkloadJob } from "./Workload.js"
import { jobId } from "./Workload.js"

export class WorkloadInputError extends Error {
  readonly _tag = "WorkloadInputError"
}

const COLUMNS = ["user", "team", "project", "queue", "gpus", "submit", "duration", "time_limit", "exit_code", "level"] as const
const REQUIRED = ["user", "gpus", "submit", "duration"] as const
const LEVELS: ReadonlyArray<Level> = ["admin", "lead", "researcher", "viewer"]

type Row = Readonly<Partial<Record<(typeof COLUMNS)[number], string>>>

interface Parsed {
  readonly line: number
  readonly row: Row
}

const fail = (file: string, line: number, message: string): never => {
  throw new WorkloadInputError(`${file}:${line}: ${message}`)
}

const seconds = (file: string, line: number, column: string, text: string, o: { readonly positive?: boolean } = {}): number => {
  if (!/^\d+(\.\d+)?$/.test(text)) return fail(file, line, `${column}: want seconds (a number ≥ 0), not ${JSON.stringify(text.slice(0, 40))}`)
  const value = Number(text)
  if (o.positive === true && value <= 0) return fail(file, line, `${column}: must be more than 0 seconds`)
  return value * 1000
}

/** A CSV line's fields (no quoting: gantry's format has none; a comma inside a field is not allowed). */
const fields = (line: string): Array<string> => line.split(",").map((f) => f.trim())

const csvRows = (text: string, file: string): Array<Parsed> => {
  const lines = text.split(/\r?\n/)
  const header = fields(lines[0] ?? "")
  const unknown = header.filter((h) => !(COLUMNS as ReadonlyArray<string>).includes(h))
  if (unknown.length > 0) fail(file, 1, `unknown column ${unknown.map((u) => JSON.stringify(u)).join(", ")} (columns: ${COLUMNS.join(", ")})`)
  const missing = REQUIRED.filter((r) => !header.includes(r))
  if (missing.length > 0) fail(file, 1, `missing column ${missing.join(", ")} (required: ${REQUIRED.join(", ")})`)
  const rows: Array<Parsed> = []
  for (let i = 1; i < lines.length; i++) {
    if ((lines[i] ?? "").trim() === "") continue
    const values = fields(lines[i]!)
    if (values.length !== header.length) fail(file, i + 1, `${values.length} fields, the header has ${header.length}`)
    rows.push({ line: i + 1, row: Object.fromEntries(header.map((h, k) => [h, values[k]!])) as Row })
  }
  return rows
}

const jsonlRows = (text: string, file: string): Array<Parsed> => {
  const rows: Array<Parsed> = []
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === "") return
    let value: unknown
    try {
      value = JSON.parse(raw) as unknown
    } catch {
      return fail(file, i + 1, "not a JSON object")
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) return fail(file, i + 1, "not a JSON object")
    const unknown = Object.keys(value).filter((k) => !(COLUMNS as ReadonlyArray<string>).includes(k))
    if (unknown.length > 0) fail(file, i + 1, `unknown key ${unknown.map((u) => JSON.stringify(u)).join(", ")} (keys: ${COLUMNS.join(", ")})`)
    const missing = REQUIRED.filter((r) => !(r in value))
    if (missing.length > 0) fail(file, i + 1, `missing ${missing.join(", ")}`)
    rows.push({ line: i + 1, row: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === null ? "" : String(v)])) as Row })
  })
  return rows
}

/** Parses gantry's CSV (a header row first) or JSONL (`jsonl: true`) into a workload named `name`. */
export const parseGantryWorkload = (text: string, o: { readonly file: string; readonly jsonl?: boolean; readonly name?: string }): Workload => {
  const rows = o.jsonl === true ? jsonlRows(text, o.file) : csvRows(text, o.file)
  if (rows.length === 0) fail(o.file, 1, "no jobs")
  // submission times: seconds from the start, or ISO times relative to the earliest
  const isoOf = (s: string) => (/^\d{4}-\d\d-\d\dT/.test(s) ? Date.parse(s) : null)
  const isos = rows.map((r) => isoOf(r.row.submit ?? ""))
  const mixed = isos.findIndex((t) => (t === null) !== (isos[0] === null))
  if (mixed >= 0) fail(o.file, rows[mixed]!.line, "submit: seconds and ISO times mixed in one file")
  const zero = Math.min(...isos.filter((t): t is number => t !== null && !Number.isNaN(t)))
  const parsed = rows.map(({ line, row }, k): WorkloadJob & { readonly line: number } => {
    const user = row.user ?? ""
    if (user === "") fail(o.file, line, "user: empty")
    const gpusText = row.gpus ?? ""
    if (!/^\d+$/.test(gpusText)) fail(o.file, line, `gpus: want a whole number ≥ 0, not ${JSON.stringify(gpusText.slice(0, 40))}`)
    const iso = isos[k]!
    if (iso !== null && Number.isNaN(iso)) fail(o.file, line, `submit: not a time: ${JSON.stringify((row.submit ?? "").slice(0, 40))}`)
    const arrivalMs = iso !== null ? iso - zero : seconds(o.file, line, "submit", row.submit ?? "")
    const level = (row.level ?? "") === "" ? "researcher" : (row.level as Level)
    if (!LEVELS.includes(level)) fail(o.file, line, `level: one of ${LEVELS.join(", ")}, not ${JSON.stringify(row.level)}`)
    const exit = row.exit_code ?? ""
    if (exit !== "" && !/^-?\d+$/.test(exit)) fail(o.file, line, `exit_code: want a whole number, not ${JSON.stringify(exit.slice(0, 40))}`)
    return {
      line,
      id: "",
      arrivalMs,
      durationMs: seconds(o.file, line, "duration", row.duration ?? "", { positive: true }),
      exitCode: exit === "" ? 0 : Number(exit),
      user,
      ...((row.team ?? "") !== "" ? { team: row.team! } : {}),
      ...((row.project ?? "") !== "" ? { project: row.project! } : {}),
      ...((row.queue ?? "") !== "" ? { queue: row.queue! } : {}),
      level,
      gpus: Number(gpusText),
      ...((row.time_limit ?? "") !== "" ? { timeLimitMs: seconds(o.file, line, "time_limit", row.time_limit!, { positive: true }) } : {})
    }
  })
  const jobs = parsed
    .sort((a, b) => a.arrivalMs - b.arrivalMs || a.line - b.line)
    .map(({ line: _line, ...job }, i): WorkloadJob => ({ ...job, id: jobId(i) }))
  return { name: o.name ?? o.file.replace(/^.*\//, ""), jobs, description: `${jobs.length} jobs from ${o.file}` }
}
