/**
 * Following a run's output (`gantry logs -f`, `gantry run`): its log files are tailed as
 * they grow (fs.watch on the attempt's directory), and its status is followed by
 * long-polling the daemon's change counter — no sleep loop anywhere. A retry switches to the
 * new attempt's files after the old ones are drained.
 */
import type { ApiError, RunJson } from "@gantry/api"
import { isTerminal, type RunId } from "@gantry/core"
import { NodeExecutor } from "@gantry/platform-node"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Control } from "./Control.js"

/** Copies what was appended to a file since the last call. */
class Tail {
  private position = 0
  constructor(
    private readonly file: string,
    private readonly out: NodeJS.WritableStream
  ) {}
  drain(): void {
    let fd: number
    try {
      fd = fs.openSync(this.file, "r")
    } catch {
      return
    }
    try {
      const buffer = Buffer.alloc(64 * 1024)
      for (;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, this.position)
        if (n <= 0) break
        this.position += n
        this.out.write(Buffer.from(buffer.subarray(0, n)))
      }
    } finally {
      fs.closeSync(fd)
    }
  }
}

/** Prints a run attempt's stdout and stderr as they are now. */
export const printLogs = (dataDir: string, run: RunJson, attempt: number): void => {
  const files = NodeExecutor.logPaths(dataDir, run.id, attempt)
  new Tail(files.stdout, process.stdout).drain()
  new Tail(files.stderr, process.stderr).drain()
}

/** Streams the run's output until it ends; returns the ended run. */
export const follow = (control: Control, dataDir: string, id: RunId): Effect.Effect<RunJson, ApiError> =>
  Effect.gen(function* () {
    let version = 0
    let attempt = 0
    let tails: Array<Tail> = []
    let watcher: fs.FSWatcher | null = null
    const drain = () => {
      for (const tail of tails) tail.drain()
    }
    const stop = () => {
      watcher?.close()
      watcher = null
    }
    try {
      for (;;) {
        const { run } = yield* control.show(id)
        // the latest attempt that has output: the current one once started, else the one before
        const latest = run.startedAt !== null || run.exitCode !== null || run.signal !== null ? run.attempt : run.attempt - 1
        if (latest > attempt) {
          drain()
          stop()
          // attempts that came and went between two looks are printed whole
          for (let skipped = attempt + 1; skipped < latest; skipped++) printLogs(dataDir, run, skipped)
          attempt = latest
          const files = NodeExecutor.logPaths(dataDir, run.id, attempt)
          tails = [new Tail(files.stdout, process.stdout), new Tail(files.stderr, process.stderr)]
          const dir = path.dirname(files.stdout)
          // the start is committed a moment before the process is spawned and its folder made
          for (let tries = 0; !fs.existsSync(dir) && !isTerminal(run.status) && tries < 200; tries++) yield* Effect.sleep("10 millis")
          if (fs.existsSync(dir)) watcher = fs.watch(dir, drain)
        }
        drain()
        if (isTerminal(run.status)) return run
        version = yield* control.changes(version, 25_000)
      }
    } finally {
      drain()
      stop()
    }
  })
