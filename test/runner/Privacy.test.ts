/**
 * What the runner leaves on disk is its owner's alone, and it says so when it serves beyond
 * this machine: the database (and its WAL) hold the daemon's bearer token, and the run folders
 * every run's output. Files 0600, folders 0700, with a umask of 022 in effect, in a data dir
 * that already existed (0755) and with `--db` in another folder. A daemon serving as root (CI)
 * starts runs under their owners' accounts, which must reach their own folders: there the
 * folders above them (`runs`, `exits`, and `runs/<id>` of such a run) are 0711, searchable but not listable,
 * and the wrapper script, which holds no secret, 0644 (docs/RUNNER.md "Runs as their owner").
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, it } from "vitest"
import { type Sandbox, sandbox } from "./Gantry.js"

let umaskBefore = 0
beforeAll(() => {
  // the common default: what gantry creates must not depend on a stricter one
  umaskBefore = process.umask(0o022)
})
afterAll(() => {
  process.umask(umaskBefore)
})

const mode = (p: string): string => (fs.statSync(p).mode & 0o777).toString(8).padStart(3, "0")

/** Every file and folder gantry made under `dataDir` (the run's own work folder aside), with its mode. */
const modesUnder = (dataDir: string, skip: ReadonlyArray<string>): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (skip.includes(full)) continue
      out[path.relative(dataDir, full)] = mode(full)
      if (entry.isDirectory()) walk(full)
    }
  }
  walk(dataDir)
  return out
}

const asRoot = process.getuid?.() === 0

/** Expected: every folder 700 and every file 600, but what the runs' accounts must reach when the daemon is root. */
const allPrivate = (modes: Record<string, string>, dataDir: string): Record<string, string> =>
  Object.fromEntries(
    Object.keys(modes).map((p) => {
      // (a run's own folder, runs/<id>, is 0711 only for a run under another account: these are the owner's, as root)
      if (asRoot && (p === "runs" || p === "exits")) return [p, "711"]
      if (asRoot && p === "gantry-wrapper.sh") return [p, "644"]
      return [p, fs.statSync(path.join(dataDir, p)).isDirectory() ? "700" : "600"]
    })
  )

/** A run that also makes a file of its own in the work folder (it keeps the umask it was given). */
const runScript = (s: Sandbox): Array<string> => s.script({ body: `: > "${s.work}/made-by-$GANTRY_RUN_ID"`, exit: 3 })

describe.concurrent("the runner's files are private (the database holds the token)", () => {
  it("in a data dir that already existed with 0755: database, WAL, exit files, logs, proc.json and scripts 0600, folders 0700", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    fs.chmodSync(s.home, 0o755)
    const d = await s.serve()
    const id = await s.submit(runScript(s))
    const [run] = await d.waitTerminal([id])
    expect(run?.exitCode).toBe(3)
    const modes = modesUnder(s.home, [s.work])
    for (const f of ["gantry.db", "gantry.db-wal", "gantry.db-shm", "exits", `exits/${id}.1.json`, `runs/${id}/1/proc.json`, `runs/${id}/1/stdout.log`, "gantry-wrapper.sh"])
      expect(modes, `${f} is there`).toHaveProperty([f])
    expect(modes).toEqual(allPrivate(modes, s.home))
    expect(mode(s.home), "a data dir that existed is left as it was").toBe("755")
    expect(mode(path.join(s.work, `made-by-${id}`)), "the run's own files keep the runner's umask").toBe("644")
  })

  it("with --db in another folder that already existed with 0755: the same", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const elsewhere = path.join(s.home, "elsewhere")
    fs.mkdirSync(elsewhere, { mode: 0o755 })
    fs.chmodSync(elsewhere, 0o755)
    const db = path.join(elsewhere, "queue.db")
    const serve = s.spawn(["serve", "--db", db])
    await serve.waitOutput("the daemon's ready line", (p) => /serving http/.test(p.stdout), 30_000)
    // `gantry run` submits through the daemon and exits with the run's code once it has ended
    const ran = await s.cli(["run", "--db", db, "--", ...runScript(s)])
    expect(ran.code, ran.stderr).toBe(3)
    const modes = modesUnder(elsewhere, [])
    for (const f of ["queue.db", "queue.db-wal", "queue.db-shm", "exits", "runs", "gantry-spawner.mjs"]) expect(modes, `${f} is there`).toHaveProperty([f])
    expect(Object.keys(modes).some((f) => f.startsWith("exits/") && f.endsWith(".1.json"))).toBe(true)
    expect(modes).toEqual(allPrivate(modes, elsewhere))
    serve.child.kill("SIGTERM")
    expect((await serve.exited).code).toBe(0)
  })
})

describe.concurrent("gantry serve --host", () => {
  it("a host other than loopback: a warning on stderr that it serves plain HTTP to the network; the default 127.0.0.1 says nothing of it", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const open = s.spawn(["serve", "--host", "0.0.0.0"])
    await open.waitOutput("the warning and the ready line", (p) => /serving http/.test(p.stdout) && /plain HTTP/.test(p.stderr), 30_000)
    expect(open.stderr).toMatch(/warning: --host 0\.0\.0\.0 serves plain HTTP to the network/)
    // SIGKILL: a SIGTERM right after the ready line can come before the daemon's handler is installed
    open.child.kill("SIGKILL")
    await open.exited

    const d = await s.serve()
    expect(d.stderr).not.toMatch(/plain HTTP/)
  })
})
