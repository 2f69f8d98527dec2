/**
 * What the CLI prints and parses: durations, times, `-o` field paths, tables, JSON.
 *
 * Times: a table or a text shows a time in the local time zone, to the second, often with how
 * long ago it was (`2026-12-03 15:10:58 (3m ago)`); JSON carries ISO-8601 UTC text, as the
 * HTTP API does (the API's schemas encode it: CliCommon `printJson`). Never epoch numbers.
 */
import { isoTimeOf, type QueueInfoJson, RUN_TIME_FIELDS, type RunDetail, type RunJson, type StatsJson } from "@gantry/api"
import { effectiveMaxConcurrent, Level, type Policy } from "@gantry/core"

// ------------------------------------------------------------------ durations

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * `90s`, `10m`, `1h30m`, `2d`, `250ms`; a bare number is seconds. Returns milliseconds, or
 * an error message for anything else (negative, zero, unknown unit, junk).
 */
export const parseDuration = (text: string): { readonly ms: number } | { readonly error: string } => {
  const s = text.trim()
  const bad = { error: `malformed duration "${text}": use a positive number with a unit, e.g. 90s, 10m, 1h30m, 2d (a bare number is seconds)` }
  if (/^\d+(\.\d+)?$/.test(s)) {
    const ms = Math.round(Number(s) * 1000)
    return ms > 0 ? { ms } : bad
  }
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y
  let total = 0
  let at = 0
  while (at < s.length) {
    part.lastIndex = at
    const m = part.exec(s)
    if (m === null) return bad
    total += Number(m[1]) * UNIT_MS[m[2]!]!
    at = part.lastIndex
  }
  const ms = Math.round(total)
  return s.length > 0 && ms > 0 ? { ms } : bad
}

export const formatDuration = (ms: number): string => {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${s % 60 > 0 ? `${s % 60}s` : ""}`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h${m % 60 > 0 ? `${m % 60}m` : ""}`
  return `${Math.floor(h / 24)}d${h % 24 > 0 ? `${h % 24}h` : ""}`
}

// ------------------------------------------------------------------ times

const pad2 = (n: number) => String(n).padStart(2, "0")

/** How long ago, or how far ahead, in its largest unit: `3m ago`, `in 2h`, `just now`. */
export const relativeTime = (ms: number, now: number): string => {
  const gap = Math.abs(now - ms)
  if (gap < 1000) return "just now"
  const amount =
    gap < 60_000 ? `${Math.floor(gap / 1000)}s` : gap < 3_600_000 ? `${Math.floor(gap / 60_000)}m` : gap < 48 * 3_600_000 ? `${Math.floor(gap / 3_600_000)}h` : `${Math.floor(gap / 86_400_000)}d`
  return now >= ms ? `${amount} ago` : `in ${amount}`
}

/**
 * A time in the local time zone, to the second (`2026-12-03 15:10:58`); given `now`, with how
 * long ago it was (`2026-12-03 15:10:58 (3m ago)`). "-" for none; a time beyond year 9999 (a
 * deadline thousands of years ahead) as its ISO text.
 */
export const localTime = (ms: number | null, now?: number): string => {
  if (ms === null) return "-"
  const d = new Date(ms)
  const year = d.getFullYear()
  if (Number.isNaN(year) || year < 0 || year > 9999) return isoTimeOf(ms) ?? String(ms)
  const text = `${String(year).padStart(4, "0")}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  return now === undefined ? text : `${text} (${relativeTime(ms, now)})`
}

// ------------------------------------------------------------------ fields

/** Reads `a.b.c` from an object; a missing step gives undefined. */
export const pick = (value: unknown, path: string): unknown => {
  let at: unknown = value
  for (const step of path.split(".")) {
    if (at === null || typeof at !== "object") return undefined
    at = (at as Record<string, unknown>)[step]
  }
  return at
}

/** `-o id,status,metadata.run_name` → the field paths; empty parts are an error. */
export const parseFields = (text: string): ReadonlyArray<string> | { readonly error: string } => {
  const fields = text.split(",").map((f) => f.trim())
  if (fields.some((f) => f === "" || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(f)))
    return { error: `malformed -o "${text}": comma-separated field names, dot notation into nested fields (metadata.run_name)` }
  return fields
}

/** One object per run (as the engine has it, or encoded for JSON) with exactly the requested fields (missing ones are null). */
export const project = (runs: ReadonlyArray<object>, fields: ReadonlyArray<string>): Array<Record<string, unknown>> =>
  runs.map((run) => Object.fromEntries(fields.map((f) => [f, pick(run, f) ?? null])))

// ------------------------------------------------------------------ tables

const cell = (value: unknown): string => {
  if (value === null || value === undefined) return "-"
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  return JSON.stringify(value)
}

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<unknown>>): string => {
  const text = rows.map((r) => r.map(cell))
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)))
  const line = (r: ReadonlyArray<string>) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()
  return [line(header.map((h) => h.toUpperCase())), ...text.map(line)].join("\n")
}

const shellWord = (w: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`)
export const commandLine = (command: ReadonlyArray<string>): string => command.map(shellWord).join(" ")

export const truncate = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`)

/** The status with its reason: `failed(time-limit)`, `completed`, `rejected(too big)`. */
export const statusText = (run: RunJson): string => {
  if (run.status === "failed" && run.failReason !== null) return `failed(${run.failReason})`
  if (run.status === "rejected" && run.rejectReason !== null) return `rejected(${run.rejectReason})`
  if (run.status === "completed" || (run.status === "failed" && run.exitCode !== null)) return `${run.status}`
  return run.status
}

export const runsTable = (runs: ReadonlyArray<RunJson>, now: number): string =>
  table(
    ["id", "status", "queue", "user", "gpus", "devices", "try", "waited", "ran", "exit", "name"],
    runs.map((r) => [
      r.id,
      statusText(r),
      r.queue,
      r.user,
      r.gpus,
      r.assignedGpus.length > 0 ? r.assignedGpus.join(",") : null,
      `${r.attempt}/${r.maxAttempts}`,
      formatDuration((r.startedAt ?? r.endedAt ?? now) - r.eligibleAt),
      r.startedAt === null ? "-" : formatDuration((r.endedAt ?? now) - r.startedAt),
      r.exitCode ?? (r.signal !== null ? r.signal : null),
      truncate(r.name ?? commandLine(r.command), 48)
    ])
  )

/** `runs -o FIELDS` as a table: a run's times (`RUN_TIME_FIELDS`) in the local time zone, with how long ago. */
export const fieldsTable = (runs: ReadonlyArray<RunJson>, fields: ReadonlyArray<string>, now: number): string =>
  table(
    fields,
    project(runs, fields).map((row) => fields.map((f) => (RUN_TIME_FIELDS.includes(f) ? localTime(row[f] as number | null, now) : row[f])))
  )

export const json = (value: unknown): string => JSON.stringify(value, null, 2)

// ------------------------------------------------------------------ what commands print

/** `runs show`: the run, its times, why it waits, and its timeline. */
export const runDetailText = (detail: RunDetail, now: number): string => {
  const r = detail.run
  // when it was submitted, eligible (released, approved, retried) if later, started and ended
  const times = [`submitted ${localTime(r.submittedAt, now)}${r.eligibleAt !== r.submittedAt ? `   eligible ${localTime(r.eligibleAt, now)}` : ""}`]
  if (r.startedAt !== null || r.endedAt !== null) times.push(`started   ${localTime(r.startedAt, now)}${r.endedAt !== null ? `   ended ${localTime(r.endedAt, now)}` : ""}`)
  const lines = [
    `run       ${r.id}${r.name !== null ? ` (${r.name})` : ""}`,
    `status    ${statusText(r)}${r.exitCode !== null ? ` exit ${r.exitCode}` : ""}${r.signal !== null ? ` signal ${r.signal}` : ""}`,
    `command   ${commandLine(r.command)}`,
    `queue     ${r.queue}   user ${r.user}${r.team !== null ? `   team ${r.team}` : ""}   level ${r.level}`,
    `gpus      ${r.gpus}${r.deviceIds !== null ? ` devices ${r.deviceIds.join(",")}` : ""}${r.assignedGpus.length > 0 ? ` assigned ${r.assignedGpus.join(",")}` : ""}`,
    ...times,
    `attempt   ${r.attempt}/${r.maxAttempts}`,
    `priority  ${r.priorityOverride ?? r.basePriority}${r.priorityOverride !== null ? " (override)" : ""}`,
    `limits    time-limit ${r.timeLimitMs === null ? "-" : formatDuration(r.timeLimitMs)}   max-queued ${r.maxQueuedTimeMs === null ? "-" : formatDuration(r.maxQueuedTimeMs)}   deadline ${localTime(r.deadlineAt, now)}`
  ]
  if (detail.position !== null)
    lines.push(`waiting   #${detail.position.position ?? "-"} of ${detail.position.pending} pending: ${detail.position.reason ?? "starts at the next cycle"}`)
  if (Object.keys(r.metadata).length > 0) lines.push(`metadata  ${JSON.stringify(r.metadata)}`)
  lines.push("", table(["time", "from", "to", "attempt", "reason"], detail.timeline.map((e) => [localTime(e.at), e.from ?? "-", e.to, e.attempt, e.reason])))
  return lines.join("\n")
}

export const queuesTable = (queues: ReadonlyArray<QueueInfoJson>): string =>
  table(
    ["queue", "priority", "state", "pending", "active", "held", "blocked", "max", "run-max", "depth", "gpu-pool", "gpu-quota"],
    queues.map((q) => [
      q.config.name,
      q.config.priority,
      q.state,
      q.counts.pending,
      q.counts.active,
      q.counts.held,
      q.counts.blocked,
      q.config.maxConcurrent,
      q.config.runConcurrency,
      q.config.depth,
      q.config.gpuPool === null ? "all" : q.config.gpuPool.join(","),
      q.config.gpuQuota
    ])
  )

/** The limit settings `limits set` takes, by their CLI names. */
export const LIMIT_KEYS = ["max-concurrent", "user-max-concurrent", "team-max-concurrent", "local-gpu-max-concurrent", "local-job-max-concurrent"] as const
/** `max-concurrent` → `maxConcurrent`. */
export const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

/**
 * Every policy field, as `limits set` names them. A limit that is null is "none", but the
 * global one, whose null means the machine's GPU count (at least 1): it shows that number.
 */
export const policyTable = (policy: Policy, gpuCount: number): string =>
  table(
    ["setting", "value"],
    [
      ...LIMIT_KEYS.map((k) => {
        const value = policy.limits[camel(k) as keyof Policy["limits"]]
        if (value !== null) return [k, value]
        return [k, k === "max-concurrent" ? `${effectiveMaxConcurrent(policy, gpuCount)} (the GPU count, at least 1)` : "none"]
      }),
      ["fair-share", policy.fairShare.mode],
      ["fair-share-half-life", formatDuration(policy.fairShare.halfLifeMs)],
      ["backfill", policy.backfill],
      ["kill-grace", formatDuration(policy.killGraceMs)],
      ["aging", policy.aging === null ? "off" : `+${policy.aging.agingStep} every ${formatDuration(policy.aging.agingIntervalMs)} after ${formatDuration(policy.aging.starvationThresholdMs)}`],
      ...Level.literals.map((level) => [`priority-${level}`, policy.levelPriorities[level]]),
      [
        "approval",
        policy.approvalRules.length === 0
          ? "none"
          : policy.approvalRules
              .map((r) => [r.gpusAtLeast !== undefined ? `gpus ≥ ${r.gpusAtLeast}` : null, r.estimatedCostAbove !== undefined ? `cost > ${r.estimatedCostAbove}` : null].filter((x) => x !== null).join(" and ") || "every run")
              .join("; ")
      ],
      ["version", policy.version]
    ]
  )

export const statsTable = (s: StatsJson): string => {
  const rows: Array<ReadonlyArray<unknown>> = [
    ["pending", s.pending],
    ["held", s.held],
    ["blocked", s.blocked],
    ["running", s.active],
    ["gpus", `${s.gpus.total} (${s.gpus.free} free, ${s.gpus.allocated} allocated, ${s.gpus.drained} drained)`],
    ["cycles", s.cycles],
    ["policy version", s.policyVersion]
  ]
  for (const [phase, t] of Object.entries(s.phases ?? {})) rows.push([`phase ${phase}`, `${t.totalMs.toFixed(1)} ms total, ${t.maxMs.toFixed(2)} ms max`])
  return table(["stat", "value"], rows)
}
