/**
 * Process identity on Linux, read from /proc.
 *
 * A pid alone does not name a process: after it exits the kernel hands the same number to
 * another one, and after a reboot every number means something else. So whoever records a
 * pid to find the process again later (the executor's run wrapper, the runner's lease) also
 * records the process's start time (field 22 of `/proc/<pid>/stat`, in clock ticks since
 * boot) and the boot id (`/proc/sys/kernel/random/boot_id`). The same pid with the same start
 * time in the same boot is the same process; anything else is a stranger.
 *
 * `processUid` gives the account a process runs for (its real uid): a run under another
 * account records its own processes, so what it names is checked against it before root
 * signals it (NodeExecutor).
 */
import { readdirSync, readFileSync } from "node:fs"

/** Enough to find one process again, even after its pid was handed to another one. */
export interface ProcessIdentity {
  readonly pid: number
  /** Field 22 of /proc/<pid>/stat when it was recorded. */
  readonly processStart: string
  /** The boot id when it was recorded; when given, a process of another boot is never alive. */
  readonly bootId?: string | null
}

/** /proc/<pid>/<file> as text; null for no such process (or a pid that is not one). */
const procFile = (pid: number, file: "stat" | "status"): string | null => {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8")
  } catch {
    return null
  }
}

/**
 * The fields of /proc/<pid>/stat after `comm`, so index 0 is field 3 (state). `comm` is the
 * executable's name in parentheses and may itself hold spaces and parentheses, so the fields
 * start after the last ')' of the line.
 */
const statFields = (pid: number): ReadonlyArray<string> | null => {
  const stat = procFile(pid, "stat")
  if (stat === null) return null
  const close = stat.lastIndexOf(")")
  if (close < 0) return null
  return stat.slice(close + 1).trim().split(/\s+/)
}

/** Index of field 22 (starttime) among the fields after comm (which start at field 3). */
const START_TIME = 22 - 3

/** The start time of a live (or zombie) process, as the kernel reports it; null when there is none. */
export const processStartTime = (pid: number): string | null => statFields(pid)?.[START_TIME] ?? null

let cachedBootId: string | undefined

/** This boot's id: it changes at every reboot, so a recorded pid from another boot is void. */
export const currentBootId = (): string => {
  if (cachedBootId === undefined) cachedBootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
  return cachedBootId
}

/**
 * True when the process is still running: the pid exists, it is not a zombie, it started at
 * the recorded time, and (when a boot id was recorded) the machine has not rebooted since.
 */
export const isProcessAlive = (identity: ProcessIdentity): boolean => {
  if (identity.bootId != null && identity.bootId !== currentBootId()) return false
  const fields = statFields(identity.pid)
  if (fields === null) return false
  const state = fields[0]
  if (state === "Z" || state === "X" || state === "x") return false
  return fields[START_TIME] === identity.processStart
}

/** A live process as /proc shows it: its pid, process group, session and start time. */
export interface ProcessEntry {
  readonly pid: number
  readonly pgid: number
  readonly session: number
  readonly processStart: string
}

/** The live (not zombie) processes whose stat fields (after comm) pass `keep`, from a scan of /proc. */
const liveProcesses = (keep: (fields: ReadonlyArray<string>) => boolean): Array<ProcessEntry> => {
  let names: Array<string>
  try {
    names = readdirSync("/proc")
  } catch {
    return []
  }
  const out: Array<ProcessEntry> = []
  for (const name of names) {
    const first = name.charCodeAt(0)
    if (first < 48 || first > 57) continue
    const pid = Number(name)
    const fields = statFields(pid)
    if (fields === null) continue
    const state = fields[0]
    if (state === "Z" || state === "X" || state === "x") continue
    if (!keep(fields)) continue
    out.push({ pid, pgid: Number(fields[2]), session: Number(fields[3]), processStart: fields[START_TIME] ?? "" })
  }
  return out
}

/**
 * The live (not zombie) processes of session `sid`, from a scan of /proc. A session id, like
 * a group id, is not handed to a new process while any process of that session is alive, so
 * while one is, these are its members and no one else.
 */
export const sessionMembers = (sid: number): Array<ProcessEntry> =>
  Number.isSafeInteger(sid) && sid > 0 ? liveProcesses((fields) => Number(fields[3]) === sid) : []

/** The live (not zombie) processes of process group `pgid`, from a scan of /proc. */
export const groupMembers = (pgid: number): Array<ProcessEntry> =>
  Number.isSafeInteger(pgid) && pgid > 0 ? liveProcesses((fields) => Number(fields[2]) === pgid) : []

/**
 * The real uid of a process (the first field of the `Uid:` line of /proc/<pid>/status: the
 * account it runs for, which a setuid program does not change); null when there is no such
 * process.
 */
export const processUid = (pid: number): number | null => {
  const status = procFile(pid, "status")
  if (status === null) return null
  const real = /^Uid:\s+(\d+)/m.exec(status)?.[1]
  return real === undefined ? null : Number(real)
}
