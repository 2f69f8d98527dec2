/**
 * Unix accounts a run can start under (docs/RUNNER.md "Processes").
 *
 * When the runner runs as root, NodeExecutor starts each run under the account its owner is
 * mapped to (`NodeExecutorOptions.accountOf`): uid, gid, the account's supplementary groups,
 * HOME/USER/LOGNAME. This module finds those accounts and says what the switch needs:
 *
 * - `lookupAccount(name)` asks `getent passwd NAME`, so accounts from NSS (LDAP, SSSD, ...)
 *   are found as well as those in /etc/passwd. A name getent could misread (empty, with `:`,
 *   a control character, a leading `-`, longer than 256) is no account, without asking; an
 *   answer for another name (getent also takes a numeric uid for a name) is no account either.
 *   `null` means getent said there is no such account; when getent itself fails (missing,
 *   timed out, an unknown database) the lookup throws AccountLookupError: a run must not
 *   start as the daemon's user because an account could not be looked up.
 * - `canSwitchUser()`: only root can start a process under another account.
 * - `untraversable(dataDir)`: the accounts must reach the data dir (the wrapper script and
 *   their runs' folders are under it); the executor never changes the data dir's own mode or
 *   its ancestors', that is the runner's decision, so this names the first folder on the way
 *   that others cannot search.
 */
import { execFileSync } from "node:child_process"
import { realpathSync, statSync } from "node:fs"
import { resolve, sep } from "node:path"
import { Data } from "effect"

/** A Unix account, as the passwd database has it. */
export interface RunAccount {
  readonly name: string
  readonly uid: number
  readonly gid: number
  readonly home: string
  readonly shell?: string
}

/** getent could not answer (not: the account does not exist, which is `null`). */
export class AccountLookupError extends Data.TaggedError("AccountLookupError")<{ readonly message: string }> {}

/** How long one `getent` may take (an NSS server that does not answer). */
const GETENT_TIMEOUT_MS = 10_000

/** getent's exit status for "no such key". */
const NOT_FOUND = 2

const CONTROL = /[\u0000-\u001f\u007f]/

/** A name getent reads as the name it is: not empty, no `:`, no control character, no leading `-`. */
const isPlainName = (name: string): boolean =>
  name.length > 0 && name.length <= 256 && !name.startsWith("-") && !name.includes(":") && !CONTROL.test(name)

const isId = (n: number): boolean => Number.isSafeInteger(n) && n >= 0 && n <= 0xffff_fffe

/** One passwd line: `name:password:uid:gid:gecos:home:shell`; null when it is not one. */
export const parsePasswdLine = (line: string): RunAccount | null => {
  const fields = line.replace(/\r?\n$/, "").split(":")
  if (fields.length !== 7) return null
  const [name, , uidText, gidText, , home, shell] = fields as [string, string, string, string, string, string, string]
  if (!/^\d{1,10}$/.test(uidText) || !/^\d{1,10}$/.test(gidText)) return null
  const uid = Number(uidText)
  const gid = Number(gidText)
  if (!isId(uid) || !isId(gid) || name === "") return null
  return shell === "" ? { name, uid, gid, home } : { name, uid, gid, home, shell }
}

/** The first line getent prints for `key`, or null when it says there is none. */
const getentPasswd = (key: string): string | null => {
  try {
    const out = execFileSync("getent", ["passwd", key], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: GETENT_TIMEOUT_MS
    })
    return out.split("\n")[0] ?? ""
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { status?: number | null; stderr?: string }
    if (e.status === NOT_FOUND) return null
    const why = e.code === "ENOENT" ? "getent is not on PATH" : e.code === "ETIMEDOUT" ? `no answer within ${GETENT_TIMEOUT_MS} ms` : (e.stderr?.trim() || e.message)
    throw new AccountLookupError({ message: `getent passwd ${key} failed: ${why}` })
  }
}

/**
 * The account called `name` (`getent passwd NAME`); null when there is none or the name is not
 * one getent can be asked for. Throws AccountLookupError when getent cannot answer.
 */
export const lookupAccount = (name: string): RunAccount | null => {
  if (!isPlainName(name)) return null
  const line = getentPasswd(name)
  if (line === null) return null
  const account = parsePasswdLine(line)
  return account !== null && account.name === name ? account : null
}

/** The account with this uid (`getent passwd UID`); null when there is none. Throws like `lookupAccount`. */
export const lookupAccountByUid = (uid: number): RunAccount | null => {
  if (!isId(uid)) return null
  const line = getentPasswd(String(uid))
  if (line === null) return null
  const account = parsePasswdLine(line)
  return account !== null && account.uid === uid ? account : null
}

/** Whether this process can start others under another account: only root can. */
export const canSwitchUser = (): boolean => process.getuid?.() === 0

/** `/`, `/a`, `/a/b`, ... down to `path` (absolute). */
const foldersDownTo = (path: string): Array<string> => {
  const parts = path.split(sep).filter((p) => p !== "")
  return [sep, ...parts.map((_, i) => sep + parts.slice(0, i + 1).join(sep))]
}

/**
 * The first folder, from `/` down to `dataDir`, that others (an account neither its owner nor
 * in its group) cannot search (no `o+x`); null when every one can be. A folder that does not
 * exist counts as one that cannot be searched. When `dataDir` is reached through a symlink,
 * the folders down to its real path are looked at too.
 */
export const untraversable = (dataDir: string): string | null => {
  const full = resolve(dataDir)
  const paths = [full]
  try {
    const real = realpathSync(full)
    if (real !== full) paths.push(real)
  } catch {
    // it does not exist: the loop below says so
  }
  for (const path of paths) {
    for (const folder of foldersDownTo(path)) {
      try {
        const st = statSync(folder)
        if (!st.isDirectory() || (st.mode & 0o001) === 0) return folder
      } catch {
        return folder
      }
    }
  }
  return null
}
