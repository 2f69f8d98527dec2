/**
 * More of SPEC §2, §4 and §8 on the real runner: hold/release, approval, priority overrides,
 * queue management, GPU drain, cleanup, stats/gpus, and the HTTP API's bearer token.
 *
 * "Not started" is shown without waiting for nothing to happen: a later, ordinary run is
 * submitted and waited for to the end, so at least one scheduling cycle saw the held /
 * blocked / paused run and left it alone.
 */
import { describe, expect, it } from "vitest"
import { type Daemon, HttpError, ms, type RunDetail, type RunJson, type Sandbox, sandbox } from "./Gantry.js"


/** Submits an ordinary run and waits for its end: proof that the daemon ran cycles meanwhile. */
const cycleWitness = async (s: Sandbox, d: Daemon, flags: ReadonlyArray<string> = []): Promise<void> => {
  const id = await s.submit(s.script(), flags)
  const [run] = await d.waitTerminal([id])
  expect(run?.status).toBe("completed")
}

const statusOf = async (d: Daemon, id: string): Promise<RunJson["status"] | undefined> => (await d.list()).find((r) => r.id === id)?.status

describe.concurrent("SPEC §2 held runs", () => {
  it("--hold keeps a run out of scheduling until release; then it runs", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const held = await s.submit(s.script(), ["--hold"])
    await cycleWitness(s, d)
    expect(await statusOf(d, held)).toBe("held")
    expect(s.starts(held)).toBe(0)

    expect(await s.ok(["release", held])).toMatch(new RegExp(`^${held} (pending|running|completed)\\n$`))
    const [run] = await d.waitTerminal([held])
    expect(run?.status).toBe("completed")
    expect(s.starts(held)).toBe(1)
    const detail = await d.show(held)
    expect(detail.timeline.map((e) => [e.from, e.to, e.reason]).slice(0, 2)).toEqual([
      [null, "held", expect.any(String)],
      ["held", "pending", "released"]
    ])
  })
})

describe.concurrent("SPEC §4 approval", () => {
  it("--requires-approval blocks a run: approve lets it run, reject --reason ends it rejected with the reason", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const approved = await s.submit(s.script(), ["--requires-approval"])
    const rejected = await s.submit(s.script(), ["--requires-approval"])
    await cycleWitness(s, d)
    expect(await statusOf(d, approved)).toBe("blocked")
    expect(await statusOf(d, rejected)).toBe("blocked")

    await s.ok(["approve", approved])
    const [ran] = await d.waitTerminal([approved])
    expect(ran?.status).toBe("completed")
    expect((await d.show(approved)).timeline.find((e) => e.from === "blocked")).toMatchObject({ to: "pending", reason: "approved" })

    expect(await s.ok(["reject", rejected, "--reason", "too big"])).toBe(`${rejected} rejected(too big)\n`)
    const detail = await s.json<RunDetail>(["runs", "show", rejected])
    expect(detail.run).toMatchObject({ status: "rejected", rejectReason: "too big", startedAt: null })
    expect(s.starts(rejected)).toBe(0)

    // a rejected run cannot be approved any more (65: not allowed now)
    const again = await s.cli(["approve", rejected])
    expect(again.code).toBe(65)
    expect(again.stderr).toMatch(new RegExp(`run ${rejected} is rejected`))
  })
})

describe.concurrent("SPEC §3 priority ID P", () => {
  it("an override set with gantry priority moves a waiting run ahead of earlier ones", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    await s.ok(["limits", "set", "max-concurrent=1"])
    const ids: Array<string> = []
    for (let i = 0; i < 3; i++) ids.push(await s.submit(s.script()))
    const [a, b, c] = ids as [string, string, string]
    const set = await s.json<RunJson>(["priority", c, "50"])
    expect(set.priorityOverride).toBe(50)
    expect(await s.ok(["priority", b, "none"])).toBe(`${b} priority 30 (base)\n`)

    const d = await s.serve()
    await d.waitTerminal(ids)
    const startAt = async (id: string) => ms((await d.show(id)).timeline.find((e) => e.to === "running")!.at)
    const [ta, tb, tc] = await Promise.all([startAt(a), startAt(b), startAt(c)])
    expect(tc).toBeLessThan(ta)
    expect(ta).toBeLessThan(tb)
  })
})

describe.concurrent("SPEC §1/§4 queues", () => {
  it("queue create, update --pause/--resume, delete: a paused queue starts nothing until resumed", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    expect(await s.ok(["queue", "create", "q", "--priority", "5", "--max-concurrent", "2"])).toBe("queue q created\n")
    const queues = await s.json<Array<{ config: { name: string; priority: number; maxConcurrent: number | null; paused: boolean }; state: string }>>(["queues"])
    expect(queues.find((q) => q.config.name === "q")).toMatchObject({ config: { priority: 5, maxConcurrent: 2, paused: false }, state: "open" })

    expect(await s.ok(["queue", "update", "q", "--pause"])).toBe("queue q updated\n")
    const waiting = await s.submit(s.script(), ["--queue", "q"])
    await cycleWitness(s, d)
    const detail = await s.json<RunDetail>(["runs", "show", waiting])
    expect(detail.run.status).toBe("pending")
    expect(detail.position?.reason).toBe("queue-paused")
    expect(s.starts(waiting)).toBe(0)
    expect((await s.json<Array<{ config: { name: string }; state: string }>>(["queues"])).find((q) => q.config.name === "q")?.state).toBe("paused")

    await s.ok(["queue", "update", "q", "--resume"])
    const [run] = await d.waitTerminal([waiting])
    expect(run?.status).toBe("completed")

    expect(await s.ok(["queue", "delete", "q"])).toBe("queue q deleted\n")
    expect((await s.json<Array<{ config: { name: string } }>>(["queues"])).map((q) => q.config.name)).toEqual(["default"])
    const gone = await s.cli(["submit", "--queue", "q", "--", "true"])
    expect(gone.code).toBe(66)
  })
})

describe.concurrent("SPEC §1 GPU drain", () => {
  it("a drained GPU is not allocated; undrain makes it allocatable again", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    const d = await s.serve()
    expect(await s.ok(["gpu", "drain", "0"])).toBe("GPU 0 drained\n")
    const gpus = await s.json<Array<{ index: number; drained: boolean }>>(["gpus"])
    expect(gpus.map((g) => [g.index, g.drained])).toEqual([
      [0, true],
      [1, false]
    ])

    const first = await s.submit(s.script({ gate: true }), ["--gpus", "1"])
    await s.waitStarted([first], { daemon: d })
    const second = await s.submit(s.script({ gate: true }), ["--gpus", "1"])
    const waiting = await s.json<RunDetail>(["runs", "show", second])
    expect(waiting.run.status).toBe("pending")
    expect(waiting.position?.reason).toMatch(/^gpu-/)
    expect((await d.list()).find((r) => r.id === first)?.assignedGpus).toEqual([1])

    await s.ok(["gpu", "undrain", "0"])
    await s.waitStarted([second], { daemon: d })
    expect((await d.list()).find((r) => r.id === second)?.assignedGpus).toEqual([0])
    s.release(first)
    s.release(second)
    const runs = await d.waitTerminal([first, second])
    expect(runs.map((r) => r.status)).toEqual(["completed", "completed"])
  })
})

describe.concurrent("SPEC §8 cleanup, stats, gpus", () => {
  it("cleanup --days 1 with nothing old removes nothing", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    // (with no database at all, cleanup says so and creates none: Hostile.test.ts)
    const id = await s.submit(["true"])
    expect(await s.json<unknown>(["cleanup", "--days", "1"])).toEqual({ removed: 0 })
    expect(await s.ok(["cleanup", "--days", "1"])).toBe("removed 0 finished runs older than 1 days\n")
    expect((await s.runs()).map((r) => r.id)).toEqual([id])
  })

  it("process runs a cycle and names the runs it started (the common queue API's process); user list numbers the users", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    await s.submit(["true"], ["--hold"])
    expect(await s.ok(["process"])).toBe("cycle run: started nothing\n")
    expect(await s.json<unknown>(["process"])).toEqual({ started: [] })
    expect(await d.api("POST", "/api/queue/process")).toEqual({ success: true, dispatched: 0, job_ids: [] })
    const viewer = await s.token("vic", ["--level", "viewer"])
    const refused = await s.cli(["process"], { env: { GANTRY_URL: d.url, GANTRY_TOKEN: viewer } })
    expect([refused.code, refused.stderr]).toEqual([77, expect.stringMatching(/^gantry: vic is a viewer: only an admin may run a scheduling cycle/)])

    const users = await s.json<ReadonlyArray<{ id: number; identity: { name: string } }>>(["user", "list"])
    expect(users.map((u) => u.identity.name).sort()).toEqual(["tester", "vic"])
    const table = await s.ok(["user", "list"])
    expect(table.split("\n")[0]).toMatch(/^#\s+user\s+level\s+team\s+projects\s+unix account\s+created$/i)
    for (const u of users) expect(table).toMatch(new RegExp(`^${u.id}\\s+${u.identity.name}\\b`, "m"))
    expect(new Set(users.map((u) => u.id)).size).toBe(users.length)
  })

  it("stats and gpus report counts, GPUs and who holds them", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    const d = await s.serve()
    const running = await s.submit(s.script({ gate: true }), ["--gpus", "1"])
    await s.waitStarted([running], { daemon: d })
    await s.submit(["true"], ["--hold"])

    const stats = await s.json<{ pending: number; held: number; blocked: number; active: number; gpus: Record<string, number>; cycles: number; policyVersion: number }>(["stats"])
    expect(stats).toMatchObject({ pending: 0, held: 1, blocked: 0, active: 1, gpus: { total: 2, free: 1, allocated: 1, drained: 0 }, policyVersion: 1 })
    expect(stats.cycles).toBeGreaterThan(0)
    const table = await s.ok(["stats"])
    expect(table).toMatch(/^running\s+1$/m)
    expect(table).toMatch(/^gpus\s+2 \(1 free, 1 allocated, 0 drained\)$/m)

    const gpus = await s.json<Array<{ index: number; uuid: string; heldBy: string | null; drained: boolean }>>(["gpus"])
    expect(gpus).toEqual([
      expect.objectContaining({ index: 0, uuid: "GPU-fake-0", heldBy: running, drained: false }),
      expect.objectContaining({ index: 1, uuid: "GPU-fake-1", heldBy: null, drained: false })
    ])
    expect(await s.ok(["gpus"])).toMatch(new RegExp(`^0\\s+Fake GPU\\s+81920 MiB\\s+GPU-fake-0\\s+allocated\\s+${running}$`, "m"))
    s.release(running)
    await d.waitTerminal([running])
  })
})

describe.concurrent("SPEC §8 HTTP API", () => {
  it("the API refuses a wrong or missing bearer token with 401 and answers the right one", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    for (const token of ["wrong", null]) {
      const refused = await d.api("GET", "/api/queue", undefined, { token }).then(
        () => null,
        (e: unknown) => e
      )
      expect(refused, `token ${token}`).toBeInstanceOf(HttpError)
      expect((refused as HttpError).status).toBe(401)
      expect((refused as HttpError).body).toMatchObject({ code: "UNAUTHENTICATED" })
    }
    const refusedSubmit = await d.api("POST", "/api/runs", { command: ["true"], user: "mallory" }, { token: "wrong" }).catch((e: unknown) => e)
    expect((refusedSubmit as HttpError).status).toBe(401)
    const refusedTemplate = await d.api("POST", "/api/queue/submit", { config_name: "anything" }, { token: "wrong" }).catch((e: unknown) => e)
    expect((refusedTemplate as HttpError).status).toBe(401)
    expect(await d.list()).toEqual([])

    const cli = await s.cli(["runs", "--url", d.url, "--token", "wrong"])
    expect(cli.code).toBe(77)
    expect(cli.stderr).toMatch(/bearer token/)
    expect(await s.json<unknown>(["runs", "--url", d.url, "--token", d.token])).toEqual([])
  })

  it("the common queue API submits a saved template: as saved, on any GPUs (as many as it names), for approval; a refusal is a 200 that says so", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    const d = await s.serve()
    // two named GPUs, no count: the count is the names'
    expect(await d.api("PUT", "/api/configs/pair", { command: ["true"], deviceIds: [0, 1], hold: true })).toMatchObject({ name: "pair", createdBy: "tester" })
    const submit = (body: Record<string, unknown>) => d.api<{ success: boolean; job_id: string | null; status: string | null; reason: string | null }>("POST", "/api/queue/submit", body)
    const asSaved = await submit({ config_name: "pair" })
    const anyGpu = await submit({ config_name: "pair", any_gpu: true })
    const approval = await submit({ config_name: "pair", for_approval: true })
    for (const answer of [asSaved, anyGpu, approval]) expect(answer).toMatchObject({ success: true, job_id: expect.any(String), status: "queued" })
    const runOf = async (id: string | null) => (await d.show(id!)).run as RunJson & { readonly anyGpu: boolean; readonly requiresApproval: boolean }
    expect(await runOf(asSaved.job_id)).toMatchObject({ status: "held", gpus: 2, deviceIds: [0, 1], anyGpu: false, metadata: { config_name: "pair" } })
    expect(await runOf(anyGpu.job_id)).toMatchObject({ status: "held", gpus: 2, anyGpu: true })
    expect(await runOf(approval.job_id)).toMatchObject({ gpus: 2, requiresApproval: true })
    // refused: a 200 with success false, and nothing stored
    expect(await submit({ config_name: "missing" })).toMatchObject({ success: false, job_id: null, reason: "NOT_FOUND", error: expect.stringMatching(/Config 'missing' not found/) })
    expect(await submit({ config_name: "pair", target: "worker" })).toMatchObject({ success: false, job_id: null, reason: "NO_WORKERS" })
    expect(await d.list()).toHaveLength(3)
  })

  it("the API answers every route of SPEC §8 and refuses bad input like the CLI does", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const blocked = await s.submit(["true"], ["--requires-approval"])
    const failures: Array<string> = []
    const attempt = async (what: string, call: () => Promise<unknown>, want: number) => {
      const status = await call().then(
        () => 200,
        (e: unknown) => (e instanceof HttpError ? e.status : -1)
      )
      if (status !== want) failures.push(`${what}: HTTP ${status}, want ${want}`)
    }
    // SPEC §8 lists GET /api/queue/me (the caller's runs)
    await attempt("GET /api/queue/me", () => d.api("GET", "/api/queue/me"), 200)
    await attempt("GET /api/queue/position/{id}", () => d.api("GET", `/api/queue/position/${blocked}`), 200)
    await attempt("GET /api/runs/{id}/position", () => d.api("GET", `/api/runs/${blocked}/position`), 200)
    await attempt("GET /api/system/status?include_allocation=true", () => d.api("GET", "/api/system/status?include_allocation=true"), 200)
    await attempt("GET /api/system", () => d.api("GET", "/api/system"), 200)
    await attempt("GET /api/cloud/jobs/{id}", () => d.api("GET", `/api/cloud/jobs/${blocked}`), 200)
    // what the CLI refuses (64) is refused here too (422, as the common queue API's validation errors), and nothing is stored
    await attempt("submit with an empty command", () => d.api("POST", "/api/runs", { command: [], user: "ana" }), 422)
    await attempt("submit with an empty program name", () => d.api("POST", "/api/runs", { command: [""], user: "ana" }), 422)
    await attempt("a template with an empty command", () => d.api("PUT", "/api/configs/empty", { command: [] }), 422)
    await attempt("submit from a template with an empty name", () => d.api("POST", "/api/queue/submit", { config_name: "" }), 422)
    await attempt("reject with an empty reason", () => d.api("POST", `/api/queue/${blocked}/reject?reason=`), 422)
    await attempt("reject with an empty reason (gantry's route)", () => d.api("POST", `/api/runs/${blocked}/reject`, { reason: "" }), 422)
    await attempt("reject with a blank reason (gantry's route)", () => d.api("POST", `/api/runs/${blocked}/reject`, { reason: "  " }), 422)
    await attempt("cleanup?days=0", () => d.api("POST", "/api/queue/cleanup?days=0"), 422)
    await attempt("cleanup?days=366", () => d.api("POST", "/api/queue/cleanup?days=366"), 422)
    expect.soft(failures).toEqual([])
    expect((await d.list()).map((r) => [r.id, r.status])).toEqual([[blocked, "blocked"]])
    expect(await d.api("GET", "/api/configs")).toEqual([])
  })
})
