import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { CHARTS, chartData, escapeHtml, loadChartAssets, renderHtmlReport, scriptJson } from "../src/HtmlReport.js"
import { presetPolicy } from "../src/Policies.js"
import { whatIf } from "../src/WhatIf.js"
import type { Workload } from "../src/Workload.js"

const evil = "</script><script>alert(1)</script>"
const workload: Workload = {
  name: "w<i>",
  description: `a <b>workload</b> & ${evil}`,
  jobs: [
    { id: "j1", arrivalMs: 0, durationMs: 600_000, exitCode: 0, user: evil, team: "<b>t</b>", level: "researcher", gpus: 1 },
    { id: "j2", arrivalMs: 1_000, durationMs: 60_000, exitCode: 0, user: "ana", team: "<b>t</b>", level: "researcher", gpus: 2 },
    { id: "j3", arrivalMs: 2_000, durationMs: 30_000, exitCode: 0, user: "bo", level: "researcher", gpus: 1 }
  ]
}
// every run of a GPU or more waits for an approval nobody gives: nothing starts
const nothing = { ...presetPolicy.fifo, approvalRules: [{ gpusAtLeast: 1 }] }
const result = whatIf({ workload, gpus: 2, seed: 1, series: true, policies: [{ name: "fifo", policy: presetPolicy.fifo }, { name: "<none>", label: "v<2>", policy: nothing }] })
const assets = loadChartAssets()
const html = renderHtmlReport(result, assets)

describe("renderHtmlReport", () => {
  it("inlines uPlot 1.6 from its package and is the same for the same result", () => {
    expect(assets.js).toMatch(/uPlot/)
    expect(assets.css).toMatch(/\.uplot/)
    expect(html).toContain(assets.css)
    expect(renderHtmlReport(result, assets)).toBe(html)
  })

  it("has a container per chart with its name and series count, and lets only its own two scripts run", () => {
    for (const name of CHARTS) expect(html).toContain(`data-chart="${name}" data-series="2"`)
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!)
    expect(scripts).toHaveLength(2)
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!
    expect(csp).toContain("default-src 'none'")
    for (const s of scripts) expect(csp).toContain(`'sha256-${createHash("sha256").update(s).digest("base64")}'`)
  })

  it("escapes every name from the workload and the command line", () => {
    expect(html).not.toContain(evil)
    expect(html).not.toContain("<b>")
    expect(html).not.toContain("<i>")
    expect(html).not.toContain("<none>")
    expect(html).toContain(escapeHtml(evil))
    expect(html).toContain("&lt;none&gt; <span class=\"label\">v&lt;2&gt;</span>")
    // the JSON holds the names, with no character that could end its script element
    const json = /<script type="application\/json" id="gantry-report-data">([^<]*)<\/script>/.exec(html)![1]!
    expect(JSON.parse(json).teamWaits.teams).toEqual(["<b>t</b>"])
    expect(scriptJson("</script>\u2028&")).toBe('"\\u003c/script\\u003e\\u2028\\u0026"')
  })

  it("gives a policy that started nothing empty series of the same length, not an error", () => {
    const d = chartData(result)
    expect(result.policies[1]!.metrics.overall.started).toBe(0)
    expect(d.waitDistribution.series[1]!.every((y) => y === null)).toBe(true)
    expect(d.waitDistribution.series[0]!.at(-1)).toBe(100)
    expect(d.overTime.utilisation.map((s) => s.length)).toEqual([d.overTime.x.length, d.overTime.x.length])
    // its replay ends at the last arrival: zeros, then nothing (null) where the other still runs
    expect(d.overTime.utilisation[1]!.every((y) => y === 0 || y === null)).toBe(true)
    expect(d.overTime.utilisation[1]![0]).toBe(0)
    // grouped bars: one slot per team and policy, each series valued only at its own slots
    expect(d.teamWaits.x).toHaveLength(2)
    // (team <b>t</b> under fifo: j1 waits 0, j2 needs both GPUs and waits for j1, 599 s: mean 299.5 s = 0.0832 h)
    expect(d.teamWaits.series).toEqual([[0.0832, null], [null, null]])
  })
})
