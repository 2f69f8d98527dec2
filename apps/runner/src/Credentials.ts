/**
 * The CLI's stored tokens (`gantry login URL`): `credentials.json` in `$GANTRY_CONFIG`, else
 * `$XDG_CONFIG_HOME/gantry`, else `~/.config/gantry`; the folder 0700 and the file 0600
 * (it holds bearer tokens), written atomically. It maps each daemon URL to a token and
 * remembers the last URL logged in to, which commands use when given neither `--url` nor
 * `--db` (and no `$GANTRY_URL`).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export interface Credentials {
  /** The URL commands use when none is given. */
  readonly current: string | null
  readonly tokens: Readonly<Record<string, string>>
}

const EMPTY: Credentials = { current: null, tokens: {} }

export const configDir = (env: NodeJS.ProcessEnv = process.env): string => {
  if (env.GANTRY_CONFIG !== undefined && env.GANTRY_CONFIG !== "") return path.resolve(env.GANTRY_CONFIG)
  if (env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== "") return path.join(path.resolve(env.XDG_CONFIG_HOME), "gantry")
  return path.join(os.homedir(), ".config", "gantry")
}

export const credentialsFile = (env: NodeJS.ProcessEnv = process.env): string => path.join(configDir(env), "credentials.json")

/** A URL as the key it is stored under: no trailing slash. */
export const normalizeUrl = (url: string): string => url.replace(/\/+$/, "")

/** The stored credentials; none when the file is missing or unreadable as such. */
export const readCredentials = (env: NodeJS.ProcessEnv = process.env): Credentials => {
  let text: string
  try {
    text = fs.readFileSync(credentialsFile(env), "utf8")
  } catch {
    return EMPTY
  }
  try {
    const value = JSON.parse(text) as Partial<Credentials>
    const tokens: Record<string, string> = {}
    for (const [url, token] of Object.entries(value.tokens ?? {})) if (typeof token === "string") tokens[url] = token
    return { current: typeof value.current === "string" ? value.current : null, tokens }
  } catch {
    return EMPTY
  }
}

/** Writes the credentials: folder 0700, file 0600 whatever the umask, replaced atomically. */
export const writeCredentials = (credentials: Credentials, env: NodeJS.ProcessEnv = process.env): string => {
  const dir = configDir(env)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.chmodSync(dir, 0o700)
  const file = credentialsFile(env)
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 })
  fs.chmodSync(tmp, 0o600)
  fs.renameSync(tmp, file)
  return file
}

/** The token stored for `url`, if any. */
export const tokenFor = (url: string, env: NodeJS.ProcessEnv = process.env): string | undefined => readCredentials(env).tokens[normalizeUrl(url)]
