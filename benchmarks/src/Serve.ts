/**
 * A fresh `gantry serve` for a benchmark: its URL, the headers that carry its token (read
 * from the lease row of its database), and `stop` (SIGTERM, then the data dir is removed).
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const OWN_GANTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../apps/runner/bin/gantry")

/**
 * The gantry to serve: this checkout's, or `GANTRY_BENCH_BIN` (another checkout's
 * apps/runner/bin/gantry), read at each start, so a script can alternate two builds.
 */
export const gantryBin = (): string => process.env.GANTRY_BENCH_BIN ?? OWN_GANTRY

export interface Served {
  readonly home: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** GET (or `init.method`) a JSON route; fails on a non-2xx answer. */
  readonly call: <A>(route: string, init?: { readonly method?: string; readonly body?: unknown }) => Promise<A>
  readonly stop: () => Promise<void>
}

export const serve = async (name: string, env: NodeJS.ProcessEnv = {}): Promise<Served> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `gantry-${name}-`))
  const bin = gantryBin()
  const daemon = spawn(bin, ["serve"], { env: { ...process.env, GANTRY_HOME: home, ...env }, stdio: ["ignore", "pipe", "inherit"] })
  const stop = async () => {
    daemon.kill("SIGTERM")
    await new Promise((resolve) => (daemon.exitCode !== null ? resolve(null) : daemon.once("exit", resolve)))
    fs.rmSync(home, { recursive: true, force: true })
  }
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = ""
      daemon.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const m = /serving (http:\/\/\S+)/.exec(out)
        if (m !== null) resolve(m[1]!)
      })
      daemon.once("exit", (code) => reject(new Error(`gantry serve exited ${code}`)))
    })
    const { token } = JSON.parse(
      execFileSync("node", ["-e", `const D=require("better-sqlite3");console.log(new D(process.argv[1],{readonly:true}).prepare("select holder from lease").get().holder)`, path.join(home, "gantry.db")], {
        cwd: path.dirname(bin)
      }).toString()
    ) as { token: string }
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" }
    const call = async <A>(route: string, init: { readonly method?: string; readonly body?: unknown } = {}): Promise<A> => {
      const response = await fetch(`${url}${route}`, { method: init.method ?? "GET", headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) })
      if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`)
      return (await response.json()) as A
    }
    return { home, url, headers, call, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
