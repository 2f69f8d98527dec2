/**
 * The what-if report as one self-contained HTML file (`gantry sim --report PATH`): nothing is
 * fetched to view it. Inline CSS, the data as inline JSON, uPlot's minified source and CSS
 * inlined (read from its npm package when the report is rendered), and a short inline script
 * that draws four charts from the data:
 *
 * - `wait-distribution`: per policy, the share of started jobs that waited less than x (the
 *   CDF at the wait histogram's log-spaced edges, `WAIT_HISTOGRAM_EDGES_MS`);
 * - `gpu-utilisation`: per policy, busy GPUs / GPUs over time (time-weighted mean per bucket);
 * - `queue-length`: per policy, runs waiting to start over time (time-weighted mean per bucket);
 * - `team-waits`: per team (the most jobs first, at most `maxTeams`), each policy's mean wait
 *   as one bar of a group.
 *
 * Policies often give the same line (Philly's jobs have no time limits, so backfill schedules as
 * fifo does): in the line charts the first policy is drawn widest and each later one narrower
 * on top of it, so a line that coincides with a later one still shows at its edges.
 *
 * Each chart's container carries `data-chart="<name>"` and `data-series="<policies>"`; the
 * page exposes the uPlot instances on `window.__charts[name]` (for the browser test).
 * Tables (rendered here, so they read without the script): the comparison with the difference
 * against the first policy in green (better) or red (worse), then per policy its team table
 * (each team's waits against the same team under the first policy) and its user table (the
 * `maxUsers` users with the most jobs; the rest summed up in one row).
 *
 * Every string from the workload or the command line (names of users, teams, queues,
 * policies, labels, the description) is escaped for where it goes: HTML text, or JSON inside
 * a script element (`<` as \u003c, so no `</script>` can close it). A Content-Security-Policy
 * lets only the two inline scripts run (by their SHA-256) and fetches nothing.
 * The same result gives the same bytes (no clock, no randomness).
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { formatDurationMs, type Metrics, type Summary, WAIT_HISTOGRAM_EDGES_MS } from "./Metrics.js"
import { coarsen, type SeriesOverTime } from "./Series.js"
import { COMPARED_METRICS, verdictOf, type WhatIfResult } from "./WhatIf.js"

export interface HtmlReportOptions {
  /** Users shown per policy (the most jobs first); the rest are summed up in one row. Default 15. */
  readonly maxUsers?: number
  /** Teams in the team chart and tables (the most jobs first). Default 30. */
  readonly maxTeams?: number
}

/** The charting library, inlined in every report. */
export interface ChartAssets {
  readonly js: string
  readonly css: string
}

/**
 * uPlot's minified build and CSS, from the `uplot` package (a dependency of @gantry/sim, and of
 * the runner whose esbuild bundle inlines this module). Resolved from this module's own URL at
 * run time: from libs/sim/src in the workspace, from dist/ when installed as a package, and
 * from apps/runner/dist/gantry.mjs in the bundle, where node_modules is beside it too.
 */
export const loadChartAssets = (): ChartAssets => ({
  // written out in full: the pack test counts these as uses of the declared dependency
  js: readFileSync(createRequire(import.meta.url).resolve("uplot/dist/uPlot.iife.min.js"), "utf8"),
  css: readFileSync(createRequire(import.meta.url).resolve("uplot/dist/uPlot.min.css"), "utf8")
})

/** Eight colours that tell apart on white and for most colour vision (Okabe–Ito, darkened yellow). */
export const SERIES_COLOURS: ReadonlyArray<string> = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#000000", "#b8a000"]
export const colourOf = (i: number): string => SERIES_COLOURS[i % SERIES_COLOURS.length]!

export const CHARTS = ["wait-distribution", "gpu-utilisation", "queue-length", "team-waits"] as const
export type ChartName = (typeof CHARTS)[number]

// ------------------------------------------------------------------ escaping

const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }

/** Text for HTML content or a quoted attribute. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)

/** JSON that is safe inside a `<script>` element (no `<`, `>`, `&`, U+2028/9 left literal). */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** An inline script's source, kept from closing its element early. */
const scriptText = (js: string): string => js.replace(/<\/(script)/gi, "<\\/$1")

const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("base64")

// ------------------------------------------------------------------ chart data

type Cell = number | null

export interface ChartData {
  readonly policies: ReadonlyArray<{ readonly name: string; readonly colour: string }>
  readonly gpus: number
  readonly waitDistribution: { readonly xSeconds: ReadonlyArray<number>; readonly series: ReadonlyArray<ReadonlyArray<Cell>> }
  readonly overTime: {
    readonly unit: "hours" | "days"
    readonly x: ReadonlyArray<number>
    readonly utilisation: ReadonlyArray<ReadonlyArray<Cell>>
    readonly queued: ReadonlyArray<ReadonlyArray<Cell>>
  }
  readonly teamWaits: { readonly teams: ReadonlyArray<string>; readonly x: ReadonlyArray<number>; readonly series: ReadonlyArray<ReadonlyArray<Cell>> }
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Per policy, % of started jobs that waited less than each edge (null for a policy that started none). */
const waitDistribution = (r: WhatIfResult): ChartData["waitDistribution"] => ({
  xSeconds: WAIT_HISTOGRAM_EDGES_MS.map((ms) => ms / 1000),
  series: r.policies.map(({ metrics: m }) => {
    const started = m.overall.started
    let below = 0
    return WAIT_HISTOGRAM_EDGES_MS.map((_, i) => {
      below += m.waitHistogram[i] ?? 0
      return started === 0 ? null : round((100 * below) / started, 3)
    })
  })
})

/** The policies' series on one grid: the widest bucket (they share their origin: the first arrival). */
const overTime = (r: WhatIfResult): ChartData["overTime"] => {
  const all = r.policies.map((p) => p.series).filter((s): s is SeriesOverTime => s !== undefined)
  const startMs = Math.min(...all.map((s) => s.startMs))
  const aligned = all.length === r.policies.length && all.every((s) => s.startMs === startMs)
  if (!aligned || all.length === 0) return { unit: "hours", x: [], utilisation: r.policies.map(() => []), queued: r.policies.map(() => []) }
  const bucketMs = Math.max(...all.map((s) => s.bucketMs))
  const grid = all.map((s) => coarsen(s, bucketMs))
  const count = Math.max(0, ...grid.map((s) => s.busyGpus.length))
  const spanMs = count * bucketMs
  const unit = spanMs > 3 * 86_400_000 ? "days" : "hours"
  const unitMs = unit === "days" ? 86_400_000 : 3_600_000
  const x = Array.from({ length: count }, (_, i) => round(((i + 0.5) * bucketMs) / unitMs, 6))
  const column = (values: ReadonlyArray<number>, scale: number): Array<Cell> =>
    Array.from({ length: count }, (_, i) => (i < values.length ? round(values[i]! * scale, 4) : null))
  return {
    unit,
    x,
    utilisation: grid.map((s) => column(s.busyGpus, 100 / r.gpus)),
    queued: grid.map((s) => column(s.queued, 1))
  }
}

/** The teams with the most jobs (over all policies' first: the same workload), ties by name. */
const topTeams = (r: WhatIfResult, maxTeams: number): Array<string> => {
  const jobs = new Map<string, number>()
  for (const p of r.policies) for (const [team, s] of Object.entries(p.metrics.byTeam)) jobs.set(team, Math.max(jobs.get(team) ?? 0, s.count))
  return [...jobs].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).slice(0, maxTeams).map(([team]) => team)
}

/**
 * Grouped bars on one x array (uPlot's series share it): team t's group at x = t, policy p's bar
 * at t + (p − (n − 1)/2) × w; each series has its value at its own slots and null elsewhere.
 */
const teamWaits = (r: WhatIfResult, teams: ReadonlyArray<string>): ChartData["teamWaits"] => {
  const n = r.policies.length
  const w = 0.8 / Math.max(1, n)
  const x: Array<number> = []
  const series: Array<Array<Cell>> = r.policies.map(() => [])
  teams.forEach((team, t) => {
    for (let p = 0; p < n; p++) {
      x.push(round(t + (p - (n - 1) / 2) * w, 6))
      r.policies.forEach(({ metrics }, q) => {
        const s = metrics.byTeam[team]
        series[q]!.push(q !== p ? null : s === undefined || s.started === 0 ? null : round(s.waitMeanMs / 3_600_000, 4))
      })
    }
  })
  return { teams, x, series }
}

export const chartData = (r: WhatIfResult, o: HtmlReportOptions = {}): ChartData => ({
  policies: r.policies.map((p, i) => ({ name: p.name, colour: colourOf(i) })),
  gpus: r.gpus,
  waitDistribution: waitDistribution(r),
  overTime: overTime(r),
  teamWaits: teamWaits(r, topTeams(r, o.maxTeams ?? 30))
})

// ------------------------------------------------------------------ tables

const percent = (x: number) => `${(x * 100).toFixed(1)}%`

const cell = (text: string, cls?: string) => (cls === undefined ? `<td>${escapeHtml(text)}</td>` : `<td class="${cls}">${escapeHtml(text)}</td>`)

const policyName = (p: { readonly name: string; readonly label: string | null }) =>
  `${escapeHtml(p.name)}${p.label === null ? "" : ` <span class="label">${escapeHtml(p.label)}</span>`}`

const comparisonTable = (r: WhatIfResult): string => {
  const base = r.policies[0]?.metrics
  const head = ["policy", "jobs", "started", ...COMPARED_METRICS.map((c) => c.title)].map((h) => `<th>${escapeHtml(h)}</th>`).join("")
  const rows = r.policies.map((p, i) => {
    const m = p.metrics
    const cells = COMPARED_METRICS.map((c) => {
      const x = c.value(m)
      if (i === 0 || base === undefined) return cell(c.format(x))
      const b = c.value(base)
      const verdict = verdictOf(c, x, b)
      return `<td class="${verdict}" title="${escapeHtml(`${c.formatDiff(x - b)} against ${r.policies[0]!.name}`)}">${escapeHtml(c.format(x))}<br><small>${escapeHtml(c.formatDiff(x - b))}</small></td>`
    })
    return `<tr><th scope="row"><span class="swatch" style="background:${colourOf(i)}"></span>${policyName(p)}</th>${cell(String(m.jobs))}${cell(String(m.overall.started))}${cells.join("")}</tr>`
  })
  return `<table class="compare"><thead><tr>${head}</tr></thead><tbody>${rows.join("\n")}</tbody></table>`
}

const SUMMARY_HEAD = ["jobs", "started", "done", "wait p50", "p95", "p99", "mean", "max", "jct p50", "mean"]

/** A group's cells; with a base (the same group under the first policy), its waits coloured against it. */
const summaryCells = (s: Summary, base: Summary | undefined): string => {
  const judged = (x: number, b: number | undefined) => cell(formatDurationMs(x), b === undefined || x === b ? undefined : x < b ? "better" : "worse")
  return [
    cell(String(s.count)),
    cell(String(s.started)),
    cell(String(s.finished)),
    judged(s.waitP50Ms, base?.waitP50Ms),
    judged(s.waitP95Ms, base?.waitP95Ms),
    judged(s.waitP99Ms, base?.waitP99Ms),
    judged(s.waitMeanMs, base?.waitMeanMs),
    judged(s.maxWaitMs, base?.maxWaitMs),
    cell(formatDurationMs(s.jctP50Ms)),
    cell(formatDurationMs(s.jctMeanMs))
  ].join("")
}

const groupTable = (title: string, rows: ReadonlyArray<readonly [string, Summary, Summary | undefined]>, rest: string): string =>
  `<table class="groups"><thead><tr><th>${escapeHtml(title)}</th>${SUMMARY_HEAD.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>` +
  rows.map(([k, s, base]) => `<tr><th scope="row">${escapeHtml(k)}</th>${summaryCells(s, base)}</tr>`).join("\n") +
  rest +
  `</tbody></table>`

const byJobs = (r: Record<string, Summary>): Array<[string, Summary]> =>
  Object.entries(r).sort(([ka, a], [kb, b]) => b.count - a.count || (ka < kb ? -1 : ka > kb ? 1 : 0))

/** The users past the top ones, in one row: counts add, the mean wait is weighted by starts; percentiles do not merge. */
const restRow = (rest: ReadonlyArray<readonly [string, Summary]>): string => {
  if (rest.length === 0) return ""
  const sum = (f: (s: Summary) => number) => rest.reduce((acc, [, s]) => acc + f(s), 0)
  const started = sum((s) => s.started)
  const finished = sum((s) => s.finished)
  const waitMean = started === 0 ? 0 : sum((s) => s.waitMeanMs * s.started) / started
  const jctMean = finished === 0 ? 0 : sum((s) => s.jctMeanMs * s.finished) / finished
  const maxWait = Math.max(...rest.map(([, s]) => s.maxWaitMs))
  return (
    `<tr class="rest"><th scope="row">${rest.length} more users</th>${cell(String(sum((s) => s.count)))}${cell(String(started))}${cell(String(finished))}` +
    `${cell("–")}${cell("–")}${cell("–")}${cell(formatDurationMs(waitMean))}${cell(formatDurationMs(maxWait))}${cell("–")}${cell(formatDurationMs(jctMean))}</tr>`
  )
}

const policySection = (r: WhatIfResult, i: number, teams: ReadonlyArray<string>, maxUsers: number): string => {
  const p = r.policies[i]!
  const m: Metrics = p.metrics
  const base = i === 0 ? undefined : r.policies[0]!.metrics
  const statuses = Object.entries(m.byStatus).map(([k, v]) => `${k} ${v}`).join(", ")
  const teamRows = teams.filter((t) => m.byTeam[t] !== undefined).map((t) => [t, m.byTeam[t]!, base?.byTeam[t]] as const)
  const users = byJobs(m.byUser)
  const userRows = users.slice(0, maxUsers).map(([u, s]) => [u, s, base?.byUser[u]] as const)
  const moreTeams = Object.keys(m.byTeam).length - teamRows.length
  return [
    `<section class="policy"><h3><span class="swatch" style="background:${colourOf(i)}"></span>${policyName(p)}</h3>`,
    `<p>${m.jobs} jobs (${escapeHtml(statuses === "" ? "none" : statuses)}), ${p.refused} refused; makespan ${formatDurationMs(m.makespanMs)}, ` +
      `GPU utilisation ${percent(m.gpuUtilisation)}, Jain's index ${m.jainFairness.toFixed(3)} over users and ${m.jainFairnessTeams.toFixed(3)} over teams; ` +
      `${m.longWaits.count} jobs (${percent(m.longWaits.share)}) waited over ${formatDurationMs(m.longWaits.thresholdMs)}.` +
      (base === undefined ? "" : ` Waits in <span class="better">green</span> are shorter, in <span class="worse">red</span> longer than the same group's under ${escapeHtml(r.policies[0]!.name)}.`) +
      `</p>`,
    teamRows.length === 0 ? "<p>No teams in this workload.</p>" : groupTable("team", teamRows, moreTeams > 0 ? `<tr class="rest"><th scope="row">${moreTeams} more teams</th><td colspan="10"></td></tr>` : ""),
    users.length === 0 ? "" : groupTable("user", userRows, restRow(users.slice(maxUsers))),
    `</section>`
  ].join("\n")
}

// ------------------------------------------------------------------ the page

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;margin:0 auto;padding:16px 24px 48px;max-width:1280px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:16px;margin:20px 0 6px}
p.meta{color:#444;margin:4px 0}
table{border-collapse:collapse;margin:8px 0 16px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th[scope=row],thead th:first-child{text-align:left}
thead th{border-bottom:2px solid #ccc;font-weight:600}
td small{color:inherit;opacity:.85}
.better{color:#137333;background:#e6f4ea}.worse{color:#a50e0e;background:#fce8e6}
span.better,span.worse{padding:0 3px}
tr.rest th,tr.rest td{color:#555;font-style:italic}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.label{color:#555;font-weight:normal;font-size:90%}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
figure{margin:0;padding:8px;border:1px solid #e3e3e3;border-radius:6px}
figcaption{color:#444;margin:4px 0 0;font-size:13px}
.chart{min-height:300px}
dl.defs dt{font-weight:600;margin-top:6px}dl.defs dd{margin:0 0 0 16px;color:#333}
`

/** Draws the charts from the inline JSON; no string from the data is ever parsed as HTML. */
const PAGE_SCRIPT = `
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gantry-report-data").textContent);
  var charts = {};
  window.__charts = charts;
  function widthOf(el) { return Math.max(320, Math.floor(el.getBoundingClientRect().width) - 4); }
  // policies often coincide (the same schedule): the first is drawn widest, underneath, and
  // each later one narrower on top, so every line still shows at the edges of the next
  function lineSeries() {
    var n = data.policies.length;
    return data.policies.map(function (p, i) {
      return { label: p.name, stroke: p.colour, width: 2 + 2 * Math.min(3, n - 1 - i), points: { show: false }, spanGaps: false };
    });
  }
  function make(name, build) {
    var el = document.querySelector('[data-chart="' + name + '"]');
    try {
      var built = build();
      var opts = built[0], rows = built[1];
      opts.width = widthOf(el);
      opts.height = 300;
      charts[name] = new uPlot(opts, rows, el);
    } catch (e) {
      el.textContent = "This chart could not be drawn: " + e;
      console.error("chart " + name + ": " + (e && e.stack ? e.stack : e));
    }
  }
  var secondsLabel = function (s) {
    if (s < 60) return Math.round(s) + "s";
    if (s < 3600) return +(s / 60).toFixed(1) + "m";
    if (s < 86400) return +(s / 3600).toFixed(1) + "h";
    return +(s / 86400).toFixed(1) + "d";
  };
  make("wait-distribution", function () {
    var d = data.waitDistribution;
    return [{
      scales: { x: { time: false, distr: 3, log: 10 }, y: { range: [0, 100] } },
      axes: [
        { label: "wait (log scale)", splits: function (u, i, min, max) {
            return [1, 10, 60, 600, 3600, 36000, 86400, 864000, 8640000].filter(function (s) { return s >= min && s <= max; });
          },
          // uPlot's log axes label only powers of 10 by default (the others come through as null)
          filter: function (u, splits) { return splits; },
          values: function (u, splits) { return splits.map(function (s) { return s == null ? "" : secondsLabel(s); }); } },
        { label: "% of started jobs waiting less", size: 60 }
      ],
      series: [{ label: "wait", value: function (u, v) { return v == null ? "--" : secondsLabel(v); } }].concat(lineSeries())
    }, [d.xSeconds].concat(d.series)];
  });
  var t = data.overTime;
  var timeAxis = { label: t.unit + " since the first arrival" };
  make("gpu-utilisation", function () {
    return [{
      scales: { x: { time: false }, y: { range: [0, 100] } },
      axes: [timeAxis, { label: "busy GPUs, % of " + data.gpus, size: 60 }],
      series: [{ label: t.unit }].concat(lineSeries())
    }, [t.x].concat(t.utilisation)];
  });
  make("queue-length", function () {
    return [{
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, Math.max(1, max == null ? 1 : max * 1.05)]; } } },
      axes: [timeAxis, { label: "runs waiting (time-weighted mean)", size: 70 }],
      series: [{ label: t.unit }].concat(lineSeries())
    }, [t.x].concat(t.queued)];
  });
  make("team-waits", function () {
    var d = data.teamWaits;
    var n = Math.max(1, data.policies.length);
    var bars = uPlot.paths.bars({ size: [0.9, 80], align: 0 });
    return [{
      scales: {
        x: { time: false, range: function () { return [-0.6, Math.max(0.6, d.teams.length - 0.4)]; } },
        y: { range: function (u, min, max) { return [0, Math.max(0.1, max == null ? 1 : max * 1.1)]; } }
      },
      axes: [
        { label: "team", splits: function () { return d.teams.map(function (_, i) { return i; }); },
          values: function (u, splits) { return splits.map(function (i) { return d.teams[i] === undefined ? "" : d.teams[i]; }); },
          rotate: d.teams.length > 8 ? -40 : 0, size: d.teams.length > 8 ? 90 : 50 },
        { label: "mean wait (hours)", size: 60 }
      ],
      series: [{ label: "team", value: function (u, v) {
        if (v == null) return "--";
        var i = Math.round(v);
        return d.teams[i] === undefined ? "--" : d.teams[i];
      } }].concat(data.policies.map(function (p) {
        return { label: p.name, stroke: p.colour, fill: p.colour, width: 1, paths: bars, points: { show: false } };
      }))
    }, [d.x].concat(d.series)];
  });
  document.documentElement.setAttribute("data-rendered", String(Object.keys(charts).length));
})();
`

const CAPTIONS: Readonly<Record<ChartName, readonly [string, string]>> = {
  "wait-distribution": ["Wait distribution", "Per policy, the share of started jobs that waited less than x (log scale): higher and further left is better."],
  "gpu-utilisation": ["GPU utilisation over time", "Per policy, busy GPUs as a share of the machine, the time-weighted mean over each time bucket."],
  "queue-length": ["Queue length over time", "Per policy, runs waiting to start (held, blocked or pending), the time-weighted mean over each time bucket."],
  "team-waits": ["Waits by team", "Per team (the most jobs first), each policy's mean wait of the team's started jobs."]
}

const DEFINITIONS: ReadonlyArray<readonly [string, string]> = [
  ["wait", "first start − arrival, over the jobs that started; p50/p95/p99 are nearest-rank percentiles."],
  ["jct", "job completion time: end − arrival, over the jobs that completed or failed after starting."],
  ["gpu util", "Σ(GPUs × time running) / (GPUs of the machine × makespan); makespan = last end − first arrival."],
  ["jain users, jain teams", "Jain's fairness index (Σx)² / (n·Σx²) over the users (teams) with a finished job, x = 1 / their mean bounded slowdown max(1, jct / max(run time, 10 s)); 1 = all slowed down alike."],
  ["long waits", "jobs that started more than the threshold after arriving, or ended unstarted after it."],
  ["differences", "against the first policy: green is better (shorter waits and JCT, fewer long waits, higher utilisation and fairness), red worse."]
]

/** The report as one HTML document (see the module comment). */
export const renderHtmlReport = (r: WhatIfResult, assets: ChartAssets = loadChartAssets(), o: HtmlReportOptions = {}): string => {
  const maxUsers = o.maxUsers ?? 15
  const data = chartData(r, o)
  const uplotJs = scriptText(assets.js)
  const pageJs = scriptText(PAGE_SCRIPT)
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${sha256(uplotJs)}' 'sha256-${sha256(pageJs)}'`,
    "style-src 'unsafe-inline'",
    "img-src data:"
  ].join("; ")
  const n = r.policies.length
  const figures = CHARTS.map((name) => {
    const [title, caption] = CAPTIONS[name]
    return `<figure><h3>${title}</h3><div class="chart" data-chart="${name}" data-series="${n}"></div><figcaption>${caption}</figcaption></figure>`
  }).join("\n")
  const policies = r.policies.map((p, i) => `<li><span class="swatch" style="background:${colourOf(i)}"></span>${policyName(p)}${i === 0 ? " (the baseline)" : ""}</li>`).join("")
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gantry sim: ${escapeHtml(r.workload.name)}</title>
<style>${assets.css.replace(/<\//g, "<\\/")}</style>
<style>${CSS}</style>
</head>
<body>
<h1>What-if: ${escapeHtml(r.workload.name)}</h1>
<p class="meta">${escapeHtml(r.workload.description)}</p>
<p class="meta">${r.workload.jobs} jobs on ${r.gpus} GPUs, seed ${r.seed}; long waits: over ${escapeHtml(formatDurationMs(r.waitThresholdMs))}. Made by <code>gantry sim</code>.</p>
<ul class="policies">${policies}</ul>
<h2>Comparison</h2>
${comparisonTable(r)}
<h2>Charts</h2>
<div class="charts">
${figures}
</div>
<h2>Per policy</h2>
${r.policies.map((_, i) => policySection(r, i, data.teamWaits.teams, maxUsers)).join("\n")}
<h2>Definitions</h2>
<dl class="defs">${DEFINITIONS.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>
<script type="application/json" id="gantry-report-data">${scriptJson(data)}</script>
<script>${uplotJs}</script>
<script>${pageJs}</script>
</body>
</html>
`
}
