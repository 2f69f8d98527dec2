/**
 * Where the runner keeps its data (SPEC §7): `$GANTRY_HOME`, else `$XDG_DATA_HOME/gantry`,
 * else `~/.local/share/gantry`. The database is `gantry.db` in it; run logs and exit files
 * live under `runs/` and `exits/`. `--db PATH` puts the database elsewhere; the data dir
 * is then the database's directory, so one database always has one set of run files.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export interface Paths {
  readonly dataDir: string
  readonly db: string
}

export const defaultDataDir = (env: NodeJS.ProcessEnv = process.env): string => {
  if (env.GANTRY_HOME !== undefined && env.GANTRY_HOME !== "") return path.resolve(env.GANTRY_HOME)
  if (env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== "") return path.join(path.resolve(env.XDG_DATA_HOME), "gantry")
  return path.join(os.homedir(), ".local", "share", "gantry")
}

export const resolvePaths = (db: string | undefined, env: NodeJS.ProcessEnv = process.env): Paths => {
  if (db !== undefined) {
    const file = path.resolve(db)
    return { dataDir: path.dirname(file), db: file }
  }
  const dataDir = defaultDataDir(env)
  return { dataDir, db: path.join(dataDir, "gantry.db") }
}

/**
 * Creates the data dir readable only by its owner (0700, whatever the umask): the database
 * holds the daemon's token. One that exists is left as it is; what gantry puts in it is
 * private anyway (the database 0600, `exits/` and `runs/` 0700).
 */
export const ensureDataDir = (paths: Paths): void => {
  if (fs.existsSync(paths.dataDir)) return
  fs.mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 })
  fs.chmodSync(paths.dataDir, 0o700)
}
