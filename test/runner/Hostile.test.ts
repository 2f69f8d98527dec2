/**
 * The runner against hostile input (issue 9): piped output that is cut short, cancelling a
 * finished run, unknown options taken for the command, no size limits, read commands that
 * create a database, and unchecked fields of a submission. Bad input gets a clear, typed
 * error (HTTP 4xx with a code, a CLI message and exit code) and changes nothing.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { describe, it } from "vitest"
import { BIN, type Daemon, HttpError, type RunJson, type Sandbox, sandbox } from "./Gantry.js"

/** `bash -c SCRIPT` in the sandbox's work folder, with its environment ($GANTRY = the binary). */
const bash = (s: Sandbox, script: string): Promise<{ readonly code: number; readonly stdout: string; readonly stderr: string }> =>
  new Promise((resolve) => {
    execFile("bash", ["-c", script], { cwd: s.work, env: { ...s.env, GANTRY: BIN }, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
    )
  })

/** The HTTP error of `d.api(...)`, which must fail. */
const refusal = async (d: Daemon, route: string, body: unknown): Promise<{ readonly status: number; readonly body: Record<string, unknown> }> => {
  try {
    await d.api("POST", route, body)
  } catch (e) {
    if (e instanceof HttpError) return { status: e.status, body: e.body as Record<string, unknown> }
    throw e
  }
  throw new Error(`POST ${route} was accepted`)
}

/** A POST with a raw body (`chunked`: no Content-Length), answered or cut off. */
const rawPost = (d: Daemon, route: string, body: Buffer, chunked: boolean): Promise<{ readonly status: number; readonly text: string } | { readonly error: string }> =>
  new Promise((resolve) => {
    const request = http.request(`${d.url}${route}`, {
      method: "POST",
      headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json", ...(chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(body.length) }) }
    })
    request.on("response", (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (text += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text }))
      response.on("error", (e) => resolve({ error: e.message }))
    })
    request.on("error", (e) => resolve({ error: e.message }))
    for (let at = 0; at < body.length; at += 64 * 1024) request.write(body.subarray(at, at + 64 * 1024))
    request.end()
  })

/** A JSON file in the sandbox's work folder (a --file task); its path. */
const jsonFile = (s: Sandbox, name: string, value: unknown): string => {
  const f = path.join(s.work, name)
  fs.writeFileSync(f, JSON.stringify(value))
  return f
}

const submitBody = (extra: Record<string, unknown> = {}) => ({ command: ["true"], user: "tester", hold: true, ...extra })

// ------------------------------------------------------------------ 7: piped output

describe.concurrent("issue 9.7 piped output", () => {
  it("runs -l 0 --format json through a pipe is whole (the file-redirected size, valid JSON); a reader that goes away (| head) ends it quietly", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    // 300 held runs with a 1 KiB argument each: about 450 KiB of JSON, seven 64 KiB pipe buffers
    const arg = "x".repeat(1024)
    for (let i = 0; i < 300; i += 25) await Promise.all(Array.from({ length: 25 }, () => d.api("POST", "/api/runs", submitBody({ command: ["true", arg] }))))
    await d.terminate()

    // offline, as the issue found it: the database alone
    const file = await bash(s, `"$GANTRY" runs -l 0 --format json > runs.json`)
    expect(file.code, file.stderr).toBe(0)
    const size = fs.statSync(path.join(s.work, "runs.json")).size
    expect(size).toBeGreaterThan(400 * 1024)
    expect((JSON.parse(fs.readFileSync(path.join(s.work, "runs.json"), "utf8")) as ReadonlyArray<RunJson>).length).toBe(300)

    const piped = await bash(s, `set -o pipefail; "$GANTRY" runs -l 0 --format json | cat | wc -c`)
    expect(piped.code, piped.stderr).toBe(0)
    expect(Number(piped.stdout.trim())).toBe(size)
    // and the bytes themselves: a slow reader (one line at a time) gets the same JSON
    const slow = await bash(s, `"$GANTRY" runs -l 0 --format json | while IFS= read -r line; do printf '%s\\n' "$line"; done > slow.json; echo "\${PIPESTATUS[0]}"`)
    expect(slow.stdout.trim(), slow.stderr).toBe("0")
    expect(fs.readFileSync(path.join(s.work, "slow.json"), "utf8")).toBe(fs.readFileSync(path.join(s.work, "runs.json"), "utf8"))

    // the reader stops after 100 bytes: no crash, no message, 141 like any tool killed by SIGPIPE
    const head = await bash(s, `"$GANTRY" runs -l 0 --format json | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`)
    expect(head.stderr).toBe("")
    expect(head.stdout.trim()).toBe("141")
  })
})

// ------------------------------------------------------------------ 9: cancelling a finished run

describe.concurrent.each(["offline", "daemon"] as const)("issue 9.9 cancelling a finished run (%s)", (mode) => {
  it("is refused: exit 65 naming the run and its status, HTTP 409 FAILED_PRECONDITION; a bulk cancel still cancels the live ones", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = mode === "daemon" ? await s.serve() : undefined
    const ended = await s.submit(["true"], ["--hold"])
    await s.ok(["cancel", ended])
    const finished: Array<[string, string]> = [[ended, "cancelled"]]
    if (d !== undefined) {
      const completed = await s.submit(["true"])
      await d.waitTerminal([completed])
      finished.push([completed, "completed"])
    }
    const before = await s.runs()

    for (const [id, status] of finished) {
      const r = await s.cli(["cancel", id])
      expect(r.code, r.stderr).toBe(65)
      expect(r.stderr).toBe(`gantry: run ${id} is ${status}: cannot cancel\n`)
      expect(r.stdout).toBe("")
      if (d !== undefined) {
        for (const [route, body] of [[`/api/queue/${id}/cancel`, undefined], [`/api/cloud/jobs/${id}/cancel`, undefined], ["/api/runs/cancel", { ids: [id] }]] as const) {
          const refused = await refusal(d, route, body)
          const message = `run ${id} is ${status}: cannot cancel`
          expect(refused).toEqual({ status: 409, body: { _tag: "Conflict", code: "FAILED_PRECONDITION", error: "IllegalTransition", message, exit: 65, detail: message } })
        }
      }
    }
    expect(await s.runs()).toEqual(before)

    // with a live run among them, the ended one is skipped and the live one cancelled
    const live = await s.submit(["true"], ["--hold"])
    expect(await s.ok(["cancel", ended, live])).toBe(`cancelling ${live}\n`)
    expect((await s.runs()).find((r) => r.id === live)?.status).toBe("cancelled")
  })
})

// ------------------------------------------------------------------ 10: options before --

describe.concurrent("issue 9.10 unknown options and bad option values", () => {
  it("are refused with exit 64 and a message naming the option; nothing is stored", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const first = await s.submit(["true"], ["--hold"])
    const cases: ReadonlyArray<{ readonly args: ReadonlyArray<string>; readonly stderr: RegExp }> = [
      { args: ["submit", "--frobnicate", "--", "true"], stderr: /^gantry: submit: unknown option --frobnicate/ },
      { args: ["submit", "--hold", "maybe", "--", "true"], stderr: /^gantry: submit: --hold is a flag and takes no value, not "maybe"/ },
      { args: ["submit", "--hold=maybe", "--", "true"], stderr: /^gantry: submit: --hold is a flag and takes no value, not "maybe"/ },
      { args: ["submit", "-x", "--", "true"], stderr: /^gantry: submit: unknown option -x/ },
      { args: ["submit", "--gpus", "two", "--", "true"], stderr: /^gantry: submit: --gpus takes a whole number, not "two"/ },
      { args: ["submit", "--level", "boss", "--", "true"], stderr: /^gantry: submit: --level is no longer accepted: a run's level comes from your identity/ },
      { args: ["submit", "--format", "xml", "--", "true"], stderr: /^gantry: submit: --format is one of table, json, not "xml"/ },
      { args: ["submit", "--frobnicate", "true"], stderr: /^gantry: submit: unknown option --frobnicate/ },
      { args: ["submit", "--name", "x", "stray", "--", "true"], stderr: /^gantry: submit: unexpected "stray" before --/ },
      { args: ["run", "--frobnicate", "--", "true"], stderr: /^gantry: run: unknown option --frobnicate/ },
      { args: ["runs", "--frobnicate"], stderr: /^gantry: runs: unknown option --frobnicate/ },
      { args: ["runs", "-l", "many"], stderr: /^gantry: runs: -l takes a whole number, not "many"/ },
      { args: ["cancel", "--all=maybe"], stderr: /^gantry: cancel: --all is a flag and takes no value, not "maybe"/ },
      { args: ["queue", "create", "q", "--bogus"], stderr: /^gantry: queue create: unknown option --bogus/ }
    ]
    const failures: Array<string> = []
    for (const c of cases) {
      const r = await s.cli(c.args)
      if (r.code !== 64 || !c.stderr.test(r.stderr) || r.stdout !== "") failures.push(`gantry ${c.args.join(" ")} → exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`)
    }
    expect(failures).toEqual([])
    expect((await s.runs()).map((r) => [r.id, r.command])).toEqual([[first, ["true"]]])
    expect(await s.json<ReadonlyArray<{ config: { name: string } }>>(["queues"]).then((qs) => qs.map((q) => q.config.name))).toEqual(["default"])
    // the flags themselves still work, and words after -- are the command's own
    const held = await s.json<{ run: RunJson }>(["submit", "--hold", "--gpus=0", "--", "echo", "--hold", "maybe", "-x"])
    expect([held.run.status, held.run.command]).toEqual(["held", ["echo", "--hold", "maybe", "-x"]])
  })
})

// ------------------------------------------------------------------ 11: size limits

describe.concurrent("issue 9.11 size limits", () => {
  it("over HTTP: a body over 4 MiB and each field over its limit get 413 PAYLOAD_TOO_LARGE naming the field and the limit; nothing is stored", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const kib = (n: number, c = "x") => c.repeat(n * 1024)
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>, RegExp]> = [
      ["a 257-character name", { name: "n".repeat(257) }, /^name is 257 characters; the limit is 256$/],
      ["a 1 MB name", { name: "n".repeat(1_000_000) }, /^name is 1000000 characters; the limit is 256$/],
      ["an argument over 128 KiB", { command: ["true", kib(128) + "x"] }, /^command\[1\] is 131073 bytes; the limit is 128 KiB$/],
      ["a 2 MB argument", { command: ["true", kib(2048)] }, /^command\[1\] is 2097152 bytes; the limit is 128 KiB$/],
      ["a 200,000-element command", { command: Array.from({ length: 200_000 }, () => "a") }, /^command has 200000 items; the limit is 4096$/],
      ["a command over 1 MiB", { command: ["true", ...Array.from({ length: 9 }, () => kib(120))] }, /^command is \d+ bytes; the limit is 1 MiB$/],
      ["1025 env variables", { env: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`V${i}`, "1"])) }, /^env has 1025 variables; the limit is 1024$/],
      ["an env variable over 128 KiB", { env: { BIG: kib(128) } }, /^env\.BIG \(as KEY=VALUE\) is 131076 bytes; the limit is 128 KiB$/],
      ["env over 256 KiB", { env: { A: kib(100), B: kib(100), C: kib(100) } }, /^env is \d+ bytes; the limit is 256 KiB$/],
      ["an env key over 256 bytes", { env: { ["K".repeat(257)]: "1" } }, /^env key "K+"… is 257 bytes; the limit is 256 bytes$/],
      ["metadata over 64 KiB", { metadata: { note: kib(64) } }, /^metadata \(as JSON\) is \d+ bytes; the limit is 64 KiB$/],
      ["an idempotency key of 257", { idempotencyKey: "k".repeat(257) }, /^idempotencyKey is 257 characters; the limit is 256$/],
      ["a project of 129", { project: "p".repeat(129) }, /^project is 129 characters; the limit is 128$/],
      ["a user of 129", { user: "u".repeat(129) }, /^user is 129 characters; the limit is 128$/],
      ["a cwd over 4096 bytes", { cwd: `/${"d".repeat(4096)}` }, /^cwd is 4097 bytes; the limit is 4 KiB$/]
    ]
    const failures: Array<string> = []
    for (const [name, extra, message] of cases) {
      const refused = await refusal(d, "/api/runs", submitBody(extra))
      if (refused.status !== 413 || refused.body.code !== "PAYLOAD_TOO_LARGE" || refused.body.exit !== 65 || !message.test(String(refused.body.message)))
        failures.push(`${name}: ${refused.status} ${JSON.stringify(refused.body).slice(0, 300)}`)
    }
    expect(failures).toEqual([])

    // the body: refused from its Content-Length (30 MB, a 30 MB name) or as it streams (chunked)
    const huge = Buffer.from(JSON.stringify(submitBody({ name: "n".repeat(30_000_000) })))
    const declared = await rawPost(d, "/api/runs", huge, false)
    expect(declared).toMatchObject({ status: 413 })
    const message = `the request body is ${huge.length} bytes; the limit is 4 MiB`
    expect(JSON.parse((declared as { text: string }).text)).toEqual({ _tag: "TooLarge", code: "PAYLOAD_TOO_LARGE", error: "TooLarge", message, exit: 65, detail: message })
    const streamed = await rawPost(d, "/api/runs", Buffer.from(JSON.stringify(submitBody({ name: "n".repeat(5 * 1024 * 1024) }))), true)
    expect(streamed).toMatchObject({ status: 413 })
    expect(JSON.parse((streamed as { text: string }).text)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", message: "the request body is over the limit of 4 MiB", exit: 65 })
    // other routes with a body too
    expect(await rawPost(d, "/api/queue/concurrency", huge, false)).toMatchObject({ status: 413 })

    // what is just inside the limits is taken, streamed or not (and the daemon still answers after all that)
    const fits = await d.api<{ _tag: string; run: RunJson }>("POST", "/api/runs", submitBody({ name: "n".repeat(256), command: ["true", kib(128)], metadata: { note: kib(60) } }))
    expect(fits._tag).toBe("Accepted")
    const streamedOk = await rawPost(d, "/api/runs", Buffer.from(JSON.stringify(submitBody({ name: "streamed", command: ["true", kib(128)] }))), true)
    expect(streamedOk).toMatchObject({ status: 200 })
    const streamedRun = (JSON.parse((streamedOk as { text: string }).text) as { run: RunJson }).run
    expect([streamedRun.name, streamedRun.command[1]?.length]).toEqual(["streamed", 128 * 1024])
    expect((await d.list()).map((r) => r.id).sort()).toEqual([fits.run.id, streamedRun.id].sort())
  })
})

describe.concurrent.each(["offline", "daemon"] as const)("issue 9.11 size limits from the CLI (%s)", (mode) => {
  it("over a limit is exit 65 naming the field and the limit; nothing is stored", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    if (mode === "daemon") await s.serve()
    const first = await s.submit(["true"], ["--hold"])
    const file = (name: string, value: unknown) => jsonFile(s, name, value)
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["submit", "--name", "n".repeat(300), "--", "true"], /^gantry: name is 300 characters; the limit is 256\n$/],
      [["submit", "--file", file("arg.json", { command: ["true", "x".repeat(2 * 1024 * 1024)] })], /^gantry: command\[1\] is 2097152 bytes; the limit is 128 KiB\n$/],
      [["submit", "--file", file("items.json", { command: Array.from({ length: 200_000 }, () => "a") })], /^gantry: command has 200000 items; the limit is 4096\n$/],
      [["submit", "--metadata", `note=${"m".repeat(70 * 1024)}`, "--", "true"], /^gantry: metadata \(as JSON\) is \d+ bytes; the limit is 64 KiB\n$/],
      [["submit", "--file", file("env.json", { command: ["true"], env: { BIG: "e".repeat(128 * 1024) } })], /^gantry: env\.BIG \(as KEY=VALUE\) is 131076 bytes; the limit is 128 KiB\n$/],
      [["submit", "--idempotency-key", "k".repeat(300), "--", "true"], /^gantry: idempotencyKey is 300 characters; the limit is 256\n$/]
    ]
    const failures: Array<string> = []
    for (const [args, stderr] of cases) {
      const r = await s.cli(args)
      if (r.code !== 65 || !stderr.test(r.stderr) || r.stdout !== "") failures.push(`${args.join(" ").slice(0, 80)} → exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`)
    }
    expect(failures).toEqual([])
    expect((await s.runs()).map((r) => r.id)).toEqual([first])
  })
})

// ------------------------------------------------------------------ 12: reads of a missing database

describe.concurrent("issue 9.12 a read command never creates a database", () => {
  it("each read of a missing database exits 66 saying so and creates nothing; a write creates it", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const missingDir = path.join(s.home, "missing", "dir")
    const db = path.join(missingDir, "x.db")
    const reads: ReadonlyArray<ReadonlyArray<string>> = [
      ["runs"],
      ["runs", "show", "1"],
      ["logs", "1"],
      ["stats"],
      ["gpus"],
      ["queues"],
      ["limits"],
      ["cancel", "1"],
      ["cancel", "--all"],
      ["release", "1"],
      ["approve", "1"],
      ["reject", "1", "--reason", "no"],
      ["priority", "1", "5"],
      ["queue", "delete", "q"],
      ["cleanup", "--days", "1"],
      ["process"]
    ]
    const failures: Array<string> = []
    // three at a time: they change nothing
    const queue = [...reads]
    const worker = async () => {
      for (let args = queue.shift(); args !== undefined; args = queue.shift()) {
        const r = await s.cli([...args, "--db", db])
        if (r.code !== 66 || !r.stderr.startsWith(`gantry: no database at ${db}`) || r.stdout !== "") failures.push(`${args.join(" ")} → exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`)
      }
    }
    await Promise.all([worker(), worker(), worker()])
    expect(failures).toEqual([])
    expect(fs.existsSync(path.join(s.home, "missing"))).toBe(false)

    // the default data dir ($GANTRY_HOME) that does not exist yet: not created either
    const home = path.join(s.home, "fresh-home")
    const r = await s.cli(["runs"], { env: { GANTRY_HOME: home } })
    expect([r.code, r.stderr]).toEqual([66, `gantry: no database at ${path.join(home, "gantry.db")} (gantry serve or gantry submit creates it; --db PATH to use another)\n`])
    expect(fs.existsSync(home)).toBe(false)

    // a write creates it (folder included), and then reads work
    const id = await s.submit(["true"], ["--db", db])
    expect(fs.existsSync(db)).toBe(true)
    expect(await s.ok(["runs", "-o", "id", "--db", db])).toBe(`ID\n${id}\n`)
  })
})

// ------------------------------------------------------------------ 13: unchecked fields

describe.concurrent("issue 9.13 malformed fields of a submission", () => {
  it("over HTTP: 422 INVALID_ARGUMENT naming the field, its detail each problem with its location; nothing is stored", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const notADir = path.join(s.work, "file")
    fs.writeFileSync(notADir, "")
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>, RegExp]> = [
      ["a cwd that does not exist", { cwd: "/does/not/exist" }, /cwd: no directory \/does\/not\/exist on the runner's machine/],
      ["a cwd that is a file", { cwd: notADir }, /cwd: .* is not a directory/],
      ["a relative cwd", { cwd: "relative/dir" }, /\["cwd"\] cwd must be an absolute path, not "relative\/dir"/],
      ["an empty env key", { env: { "": "x" } }, /\["env"\] an env key must not be empty/],
      ["an env key with =", { env: { "A=B": "x" } }, /\["env"\] env key "A=B" must not contain '='/],
      ["an env key with NUL", { env: { "A\u0000B": "x" } }, /\["env"\] an env key must not contain a NUL character/],
      ["an env value with NUL", { env: { A: "x\u0000y" } }, /\["env"\]\["A"\] an env value must not contain a NUL character/],
      ["a NUL in the user name", { user: "ana\u0000root" }, /\["user"\] user must not contain control characters/],
      ["a newline in the team name", { team: "a\nb" }, /\["team"\] team must not contain control characters/],
      ["a NUL in an argument", { command: ["echo", "a\u0000b"] }, /\["command"\]\[1\] an argument must not contain a NUL character/],
      ["maxAttempts 10^9", { maxAttempts: 1_000_000_000 }, /\["maxAttempts"\] maxAttempts is 1000000000; the limit is 100/]
    ]
    const failures: Array<string> = []
    for (const [name, extra, message] of cases) {
      const refused = await refusal(d, "/api/runs", submitBody(extra))
      if (refused.status !== 422 || !Array.isArray(refused.body.detail) || refused.body.code !== "INVALID_ARGUMENT" || refused.body.exit !== 64 || !message.test(String(refused.body.message)))
        failures.push(`${name}: ${refused.status} ${JSON.stringify(refused.body).slice(0, 300)}`)
    }
    expect(failures).toEqual([])
    expect(await d.list()).toEqual([])
    // at the limits, and a real directory, it is taken
    const ok = await d.api<{ _tag: string; run: RunJson }>("POST", "/api/runs", submitBody({ cwd: s.work, maxAttempts: 100, env: { A: "1" } }))
    expect(ok._tag).toBe("Accepted")
  })
})

describe.concurrent.each(["offline", "daemon"] as const)("issue 9.13 malformed fields from the CLI (%s)", (mode) => {
  it("exit 64 naming the field; nothing is stored", { timeout: 180_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    if (mode === "daemon") await s.serve()
    const first = await s.submit(["true"], ["--hold"])
    const file = (name: string, value: unknown) => jsonFile(s, name, value)
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["submit", "--cwd", "/does/not/exist", "--", "true"], /^gantry: cwd: no directory \/does\/not\/exist on the runner's machine\n$/],
      [["submit", "--cwd", "nope", "--", "true"], new RegExp(`^gantry: cwd: no directory ${fs.realpathSync(s.work)}/nope on the runner's machine\\n$`)],
      [["submit", "--file", file("env.json", { command: ["true"], env: { "": "x" } })], /^gantry: submission: \["env"\] an env key must not be empty\n$/],
      [["submit", "--file", file("user.json", { command: ["true"], user: "ana\u0000root" })], /^gantry: submission: \["user"\] user must not contain control characters/],
      [["submit", "--user", "ana\nroot", "--", "true"], /^gantry: submission: \["user"\] user must not contain control characters/],
      [["submit", "--file", file("arg.json", { command: ["echo", "a\u0000b"] })], /^gantry: submission: \["command"\]\[1\] an argument must not contain a NUL character\n$/],
      [["submit", "--max-attempts", "1000000000", "--", "true"], /^gantry: submission: \["maxAttempts"\] maxAttempts is 1000000000; the limit is 100\n$/]
    ]
    const failures: Array<string> = []
    for (const [args, stderr] of cases) {
      const r = await s.cli(args)
      if (r.code !== 64 || !stderr.test(r.stderr) || r.stdout !== "") failures.push(`${args.join(" ")} → exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`)
    }
    expect(failures).toEqual([])
    expect((await s.runs()).map((r) => r.id)).toEqual([first])
    // --cwd relative to where the command is typed, when it is a directory, is taken
    fs.mkdirSync(path.join(s.work, "sub"))
    const taken = await s.json<{ run: { cwd: string } }>(["submit", "--hold", "--cwd", "sub", "--", "true"])
    expect(taken.run.cwd).toBe(fs.realpathSync(path.join(s.work, "sub")))
  })
})
