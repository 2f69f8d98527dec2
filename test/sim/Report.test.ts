/**
 * Issue 12's HTML report in a real browser. The real `gantry sim` binary (its esbuild bundle)
 * replays the whole Philly trace (../shared/data/philly-jobs.csv beside the repository, 82,247
 * jobs) on 700 GPUs under fifo, fair-share and backfill with `--report`; headless Chromium
 * (Debian's `chromium`, or `GANTRY_CHROMIUM`) opens the file from `file://` with every request
 * that is not file: or data: aborted, and:
 *
 * - nothing logs an error, throws, or asks the network for anything;
 * - each of the four charts (`data-chart`) was made by uPlot (`window.__charts[name]`) with as
 *   many series as the container says (`data-series`) and as there are policies;
 * - a screenshot of each chart's canvas shows every series: pixels of each series' colour,
 *   and more distinct colours than series (axes, grid, antialiasing);
 * - the comparison table colours the differences against the first policy.
 *
 * A second report is hostile: user and team names with `</script><script>` and `<b>`, and a
 * policy named like markup that starts no job at all; it renders without errors, every name
 * shows as text, and nothing from the data became an element or ran.
 *
 * Chromium missing is a failure naming what to install, never a skip; so is the trace missing.
 * Screenshots go to a temporary directory, removed afterwards.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import puppeteer, { type Browser, type Page } from "puppeteer-core"
import { afterAll, describe, expect, it } from "vitest"
import { sandbox } from "../runner/Gantry.js"
import { decodePng, distinctColours, pixelsNear } from "./Png.js"

const root = path.resolve(import.meta.dirname, "../..")
const TRACE = path.resolve(root, "../shared/data/philly-jobs.csv")
const CHARTS = ["wait-distribution", "gpu-utilisation", "queue-length", "team-waits"] as const

const chromiumPath = (): string => {
  const at = process.env["GANTRY_CHROMIUM"] ?? "/usr/bin/chromium"
  if (!fs.existsSync(at)) {
    throw new Error(
      `no Chromium at ${at}: this test opens the HTML report in headless Chromium. Install Debian's (apt-get install --no-install-recommends chromium) ` +
        "or point GANTRY_CHROMIUM at a Chromium or Chrome binary. It is required, not skipped."
    )
  }
  return at
}

/**
 * The little of the page's globals that the functions run in the page use: the test project
 * type-checks against Node's lib, not the DOM's. (The casts vanish; the functions run in Chromium.)
 */
interface InPage {
  readonly document: {
    readonly documentElement: { getAttribute(name: string): string | null }
    readonly body: { readonly innerText: string }
    querySelector(selector: string): { getAttribute(name: string): string | null } | null
    querySelectorAll(selector: string): { readonly length: number }
  }
  readonly __charts: Record<string, { series: Array<{ stroke?: (u: unknown, i: number) => string }>; data: Array<Array<number | null>> } | undefined>
  readonly __pwned?: number
}

const shots = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-report-shots-"))
let launched: Promise<Browser> | undefined

/** One Chromium for the file, started by the first test that needs it (so a missing one fails that test, not a hook that skips it). */
const browser = (): Promise<Browser> =>
  (launched ??= puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // as root Chromium refuses to start with its sandbox; /dev/shm is small in containers
    args: [...(process.getuid?.() === 0 ? ["--no-sandbox"] : []), "--disable-dev-shm-usage", "--force-color-profile=srgb", "--hide-scrollbars"]
  }))

afterAll(async () => {
  if (launched !== undefined) await (await launched.catch(() => undefined))?.close()
  fs.rmSync(shots, { recursive: true, force: true })
})

interface Opened {
  readonly page: Page
  readonly errors: Array<string>
  readonly blocked: Array<string>
}

/** The report at `file` in a fresh page, offline: only file: and data: requests go through. */
const open = async (file: string): Promise<Opened> => {
  const page = await (await browser()).newPage()
  const errors: Array<string> = []
  const blocked: Array<string> = []
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warn") errors.push(`console.${m.type()}: ${m.text()}`)
  })
  page.on("pageerror", (e) => errors.push(`page error: ${e instanceof Error ? e.message : String(e)}`))
  page.on("requestfailed", (r) => {
    if (!blocked.includes(r.url())) errors.push(`request failed: ${r.url()}`)
  })
  await page.setRequestInterception(true)
  page.on("request", (r) => {
    if (/^(file|data):/.test(r.url())) void r.continue()
    else {
      blocked.push(r.url())
      void r.abort()
    }
  })
  await page.setViewport({ width: 1400, height: 1000, deviceScaleFactor: 1 })
  await page.goto(pathToFileURL(file).href, { waitUntil: "load", timeout: 60_000 })
  await page.waitForFunction(() => (globalThis as unknown as InPage).document.documentElement.getAttribute("data-rendered") !== null, { timeout: 30_000 })
  return { page, errors, blocked }
}

interface ChartSeen {
  readonly declared: number
  readonly made: boolean
  readonly drawn: number
  readonly colours: ReadonlyArray<string>
  /** Per series, whether it has a value to draw. */
  readonly hasData: ReadonlyArray<boolean>
}

const chartOf = (page: Page, name: string): Promise<ChartSeen> =>
  page.evaluate((n) => {
    const w = globalThis as unknown as InPage
    const el = w.document.querySelector(`[data-chart="${n}"]`)!
    const u = w.__charts[n]
    return {
      declared: Number(el.getAttribute("data-series")),
      made: u !== undefined,
      drawn: u === undefined ? -1 : u.series.length - 1,
      colours: u === undefined ? [] : u.series.slice(1).map((s, i) => s.stroke!(u, i + 1)),
      hasData: u === undefined ? [] : u.data.slice(1).map((ys) => ys.some((y) => y !== null))
    }
  }, name)

/** Screenshot of the chart's plot canvas (not its legend), decoded. */
const shootChart = async (page: Page, name: string, tag: string) => {
  const canvas = await page.$(`[data-chart="${name}"] canvas`)
  expect(canvas, `${name}: a canvas`).not.toBeNull()
  const file = path.join(shots, `${tag}-${name}.png`)
  await canvas!.screenshot({ path: file })
  return decodePng(fs.readFileSync(file))
}

describe("issue 12: gantry sim --report, in headless Chromium", () => {
  it(
    "the Philly trace on 700 GPUs under fifo, fair-share and backfill: four charts of three series each, drawn, offline, without errors",
    { timeout: 600_000 },
    async ({ onTestFinished }) => {
      await browser() // a missing Chromium fails here, before the replay
      if (!fs.existsSync(TRACE)) throw new Error(`the Philly trace is not at ${TRACE} (it lives beside the repository, in ../shared/data); this test needs it`)
      const s = sandbox(onTestFinished)
      const out = path.join(s.work, "out.html")
      const t0 = performance.now()
      // the whole trace (no --limit): ~13 s for the three policies on an idle 2-core machine
      const r = await s.cli(
        ["sim", "--csv", TRACE, "--gpus", "700", "--policy", "fifo", "--policy", "fair-share", "--policy", "backfill", "--wait-threshold", "2h", "--report", out, "--format", "json"],
        { timeoutMs: 480_000 }
      )
      const replayS = (performance.now() - t0) / 1000
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toContain(`report: ${out}`)
      const json = JSON.parse(r.stdout) as { workload: { jobs: number }; waitThresholdMs: number; policies: Array<{ name: string; series?: unknown }> }
      expect(json.workload.jobs).toBe(82_247)
      expect(json.waitThresholdMs).toBe(7_200_000)
      expect(json.policies.map((p) => p.name)).toEqual(["fifo", "fair-share", "backfill"])
      expect(fs.statSync(out).mode & 0o777).toBe(0o644)
      const html = fs.readFileSync(out, "utf8")
      // self-contained: no element or style that refers to anything outside the file (and the browser below fetches nothing)
      expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b[^>]*\b(src|href|data)=/i)
      expect(html).not.toMatch(/url\(|@import/i)

      const t1 = performance.now()
      const { page, errors, blocked } = await open(out)
      for (const name of CHARTS) {
        const seen = await chartOf(page, name)
        expect(seen, name).toMatchObject({ declared: 3, made: true, drawn: 3 })
        expect(seen.hasData, name).toEqual([true, true, true])
        const png = await shootChart(page, name, "philly")
        expect(distinctColours(png), name).toBeGreaterThanOrEqual(seen.colours.length + 1)
        for (const colour of seen.colours) expect(pixelsNear(png, colour), `${name}: pixels of ${colour}`).toBeGreaterThanOrEqual(10)
      }
      const table = await page.$$eval("table.compare tbody tr", (rows) => rows.map((row) => [row.querySelector("th")!.textContent, row.querySelectorAll("td.better, td.worse").length]))
      expect(table.map(([name]) => name)).toEqual(["fifo", "fair-share", "backfill"])
      expect(table[0]![1]).toBe(0) // the baseline is not compared with itself
      expect(Number(table[1]![1]) + Number(table[2]![1])).toBeGreaterThan(0)
      expect(await page.$$eval("section.policy", (ss) => ss.length)).toBe(3)
      expect(errors).toEqual([])
      expect(blocked).toEqual([])
      await page.close()
      console.log(`report test: replay and report ${replayS.toFixed(1)} s, browser ${((performance.now() - t1) / 1000).toFixed(1)} s`)
    }
  )

  it("names from the workload stay text, and a policy that starts no job renders without errors", { timeout: 120_000 }, async ({ onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const csv = path.join(s.work, "hostile.csv")
    const evilUser = "</script><script>window.__pwned=1</script>"
    const evilTeam = "<b>bold</b>"
    fs.writeFileSync(
      csv,
      ["user,team,gpus,submit,duration,time_limit", `${evilUser},${evilTeam},1,0,600,700`, `ana,${evilTeam},2,10,60,120`, `bo & <i>,vision,1,20,30,60`, "cy,,1,30,30,"].join("\n") + "\n"
    )
    // every run of 1 GPU or more needs an approval nobody gives: nothing starts
    const policy = path.join(s.work, "<img src=x onerror=window.__pwned=2>.json")
    fs.writeFileSync(policy, JSON.stringify({
      version: 1,
      limits: { maxConcurrent: null, userMaxConcurrent: null, teamMaxConcurrent: null, localGpuMaxConcurrent: null, localJobMaxConcurrent: null },
      aging: null, fairShare: { mode: "off", halfLifeMs: 86_400_000 }, approvalRules: [{ gpusAtLeast: 1 }], backfill: false,
      levelPriorities: { admin: 0, lead: 0, researcher: 0, viewer: 0 }, killGraceMs: 10_000
    }))
    const out = path.join(s.work, "hostile.html")
    const r = await s.cli(["sim", "--csv", csv, "--gpus", "2", "--policy", "fifo", "--policy", policy, "--report", out], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const html = fs.readFileSync(out, "utf8")
    expect(html).not.toContain(evilUser)
    expect(html).not.toContain(evilTeam)

    const { page, errors, blocked } = await open(out)
    for (const name of CHARTS) {
      const seen = await chartOf(page, name)
      expect(seen, name).toMatchObject({ declared: 2, made: true, drawn: 2 })
    }
    // the policy that started nothing has no wait distribution and no team waits to draw
    expect((await chartOf(page, "wait-distribution")).hasData).toEqual([true, false])
    const text = await page.evaluate(() => (globalThis as unknown as InPage).document.body.innerText)
    for (const name of [evilUser, evilTeam, "bo & <i>", "<img src=x onerror=window.__pwned=2>"]) expect(text).toContain(name)
    const injected = await page.evaluate(() => {
      const w = globalThis as unknown as InPage
      return [w.document.querySelectorAll("body b, body i, body img").length, w.__pwned ?? null]
    })
    expect(injected).toEqual([0, null])
    expect(errors).toEqual([])
    expect(blocked).toEqual([])
    await page.close()
  })
})
