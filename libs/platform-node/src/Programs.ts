/**
 * Programs as the shell finds them: a path, or a PATH lookup; and `setpriv` (util-linux), which
 * starts a run under another account (NodeExecutor) and empties an account's folder as that
 * account (RunFiles).
 */
import { accessSync, constants, statSync } from "node:fs"
import { delimiter, resolve } from "node:path"

export const isExecutableFile = (path: string): boolean => {
  try {
    if (!statSync(path).isFile()) return false
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `command` as the shell would find it: a path (relative to cwd) or a PATH lookup. */
export const findExecutable = (command: string, path: string | undefined, cwd: string): string | null => {
  if (command.includes("/")) {
    const full = resolve(cwd, command)
    return isExecutableFile(full) ? full : null
  }
  for (const dir of (path ?? "").split(delimiter)) {
    const full = resolve(cwd, dir === "" ? "." : dir, command)
    if (isExecutableFile(full)) return full
  }
  return null
}

/** `setpriv` on PATH, else /usr/bin/setpriv; null when neither is there. */
export const findSetpriv = (): string | null =>
  findExecutable("setpriv", process.env.PATH, "/") ?? (isExecutableFile("/usr/bin/setpriv") ? "/usr/bin/setpriv" : null)
