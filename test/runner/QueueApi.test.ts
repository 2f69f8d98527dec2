/**
 * The common GPU-server queue API as its clients call it (issue 11): every path of it, called
 * over real HTTP with the request that API documents, authenticated by `X-API-Key` as its CLI
 * does; each answer's status code, and every field's name and type against the shapes of that
 * API's server (Shapes.ts), written out here by hand and not taken from gantry's schemas.
 * Then the fair-share example: limits 6 / 2 per user / 3 per team give 5 running and 2
 * waiting, and `/api/queue/stats` says so, per user.
 */
import { OpenApi } from "@effect/platform"
import { GantryApi } from "@gantry/api"
import { describe, it } from "vitest"
import { type Daemon, type Sandbox, sandbox } from "./Gantry.js"
import { problems, type Shape } from "./Shapes.js"

const isRoot = process.getuid?.() === 0
/** Users other than the owner start their runs as `nobody` when the daemon is root. */
const mapped = isRoot ? ["--unix-user", "nobody"] : []

const ENTRY: Shape = {
  id: "int",
  job_id: "string",
  user_id: "int|null",
  provider: "string",
  config_name: "string|null",
  priority: "int",
  priority_name: "string",
  priority_override: "int|null",
  effective_priority: "int",
  status: "string",
  position: "int",
  queued_at: "string",
  started_at: "string|null",
  completed_at: "string|null",
  estimated_cost: "number",
  requires_approval: "boolean",
  attempt: "int",
  error_message: "string|null"
}
const QUEUE_LIST: Shape = { entries: { list: ENTRY }, total_pending: "int", total_running: "int" }
const STATS: Shape = {
  by_status: "map<int>",
  by_user: "map<int>",
  queue_depth: "int",
  running: "int",
  avg_wait_seconds: "number|null",
  max_concurrent: "int",
  user_max_concurrent: "int|null",
  team_max_concurrent: "int|null",
  enable_fair_share: "boolean",
  local_gpu_max_concurrent: "int|null",
  local_job_max_concurrent: "int|null",
  local: {
    running_jobs: "int",
    pending_jobs: "int",
    allocated_gpus: "int[]",
    available_gpus: "int[]",
    total_gpus: "int",
    max_concurrent_gpus: "int|null",
    max_concurrent_jobs: "int|null"
  },
  workers: { total_workers: "int", idle_workers: "int", busy_workers: "int", offline_workers: "int", draining_workers: "int" }
}
const USER_QUEUE: Shape = {
  pending_count: "int",
  running_count: "int",
  blocked_count: "int",
  best_position: "int|null",
  pending_jobs: { list: ENTRY },
  running_jobs: { list: ENTRY }
}
const POSITION: Shape = { job_id: "string", position: "int", status: "string", priority: "string", queued_at: "string", estimated_wait_seconds: "number|null" }
const SUBMITTED: Shape = {
  success: "boolean",
  job_id: "string|null",
  status: "string|null",
  allocated_gpus: "int[]|null",
  allocated_worker_id: "string|null",
  queue_position: "int|null",
  requires_approval: "boolean",
  error: "string|null",
  reason: "string|null"
}
const CONCURRENCY: Shape = {
  success: "boolean",
  max_concurrent: "int",
  user_max_concurrent: "int|null",
  team_max_concurrent: "int|null",
  enable_fair_share: "boolean",
  local_gpu_max_concurrent: "int|null",
  local_job_max_concurrent: "int|null"
}
const SYSTEM: Shape = {
  timestamp: "number",
  load_avg_5min: "number|null",
  memory_percent: "number|null",
  gpus: { list: { index: "int", name: "string", backend: "string|null", utilization_percent: "number|null", memory_percent: "number|null" } },
  gpu_inventory: { backend: "string|null", count: "int", capabilities: { supports_cuda: "boolean", supports_mps: "boolean", supports_rocm: "boolean" } },
  gpu_allocation: {
    optional: {
      allocated_gpus: "int[]",
      available_gpus: "int[]",
      running_local_jobs: "int",
      devices: { list: { index: "int", name: "string", memory_gb: "number|null", allocated: "boolean", job_id: "string|null" } }
    }
  }
}
const JOB: Shape = {
  job_id: "string",
  job_type: "string",
  provider: "string|null",
  status: "string",
  config_name: "string|null",
  created_at: "string",
  started_at: "string|null",
  completed_at: "string|null",
  finished_at: "string|null",
  cost_usd: "number|null",
  hardware_type: "string|null",
  error_message: "string|null",
  output_url: "string|null",
  user_id: "int|null",
  metadata: "object",
  is_terminal: "boolean",
  is_active: "boolean",
  duration_seconds: "number|null",
  queue_position: "int|null",
  allocated_gpus: "int[]"
}
const ERROR: Shape = { detail: "string", code: "string", error: "string", message: "string", exit: "int", _tag: "string" }
const VALIDATION: Shape = { detail: { list: { loc: "array", msg: "string", type: "string" } }, code: "string", error: "string", message: "string", exit: "int", _tag: "string" }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

interface Answer {
  readonly status: number
  readonly body: Record<string, unknown>
}

/** A request as the common API's clients send it: the token as `X-API-Key`, JSON in and out. */
const call = async (d: Daemon, method: string, route: string, key: string | null, body?: unknown): Promise<Answer> => {
  const headers: Record<string, string> = { accept: "application/json" }
  if (key !== null) headers["x-api-key"] = key
  if (body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(`${d.url}${route}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const text = await response.text()
  return { status: response.status, body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

const tokens = async (s: Sandbox, users: ReadonlyArray<readonly [string, ReadonlyArray<string>]>) =>
  Object.fromEntries(await Promise.all(users.map(async ([name, flags]) => [name, await s.token(name, [...flags, ...mapped])] as const)))

describe("issue 11: the common queue API as its clients call it", () => {
  it("every path: the documented request, every field's name and type, the status codes, X-API-Key", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 2 })
    const d = await s.serve()
    const t = await tokens(s, [
      ["ada", ["--level", "admin"]],
      ["lena", ["--level", "lead", "--team", "alpha"]],
      ["ana", ["--level", "researcher", "--team", "alpha"]],
      ["bo", ["--level", "researcher", "--team", "beta"]],
      ["vic", ["--level", "viewer"]]
    ])
    const users = await s.json<ReadonlyArray<{ id: number; identity: { name: string } }>>(["user", "list"])
    const number = (name: string) => users.find((u) => u.identity.name === name)!.id
    const ok = async (method: string, route: string, key: string, shape: Shape, body?: unknown) => {
      const a = await call(d, method, route, key, body)
      expect(a.status, `${method} ${route}: ${JSON.stringify(a.body)}`).toBe(200)
      expect(problems(a.body, shape), `${method} ${route}`).toEqual([])
      return a.body
    }
    const refused = async (method: string, route: string, key: string | null, status: number, body?: unknown) => {
      const a = await call(d, method, route, key, body)
      expect(a.status, `${method} ${route}: ${JSON.stringify(a.body)}`).toBe(status)
      expect(problems(a.body, status === 422 && Array.isArray(a.body.detail) ? VALIDATION : ERROR), `${method} ${route}`).toEqual([])
      return a.body
    }

    // the template the common API's submit names, saved by gantry's CLI
    const task = `${s.work}/train.json`
    const fs = await import("node:fs")
    fs.writeFileSync(task, JSON.stringify({ command: ["sleep", "600"], gpus: 1, name: "resnet" }))
    await s.ok(["config", "save", "train", "--file", task])

    // X-API-Key: no key, a wrong key, a good one (and the bearer header too)
    expect((await refused("GET", "/api/queue", null, 401)).detail).toMatch(/X-API-Key/)
    await refused("GET", "/api/queue", "gantry_000000000000_nope", 401)
    await ok("GET", "/api/queue", t.vic!, QUEUE_LIST)
    expect((await fetch(`${d.url}/api/queue`, { headers: { authorization: `Bearer ${t.vic}` } })).status).toBe(200)

    // POST /api/queue/submit: running with its GPU, then queued with its place, refusals as 200 success:false
    const first = await ok("POST", "/api/queue/submit", t.ana!, SUBMITTED, { config_name: "train", no_wait: false, any_gpu: false, for_approval: false, target: "auto" })
    expect(first).toMatchObject({ success: true, status: "running", allocated_gpus: [0], queue_position: null, requires_approval: false })
    const second = await ok("POST", "/api/queue/submit", t.ana!, SUBMITTED, { config_name: "train" })
    expect(second).toMatchObject({ success: true, status: "running", allocated_gpus: [1] })
    const queued = await ok("POST", "/api/queue/submit", t.bo!, SUBMITTED, { config_name: "train", target: "local" })
    expect(queued).toMatchObject({ success: true, status: "queued", allocated_gpus: null, queue_position: 0 })
    const blocked = await ok("POST", "/api/queue/submit", t.bo!, SUBMITTED, { config_name: "train", for_approval: true })
    expect(blocked).toMatchObject({ success: true, status: "blocked", requires_approval: true })
    const noWait = await ok("POST", "/api/queue/submit", t.bo!, SUBMITTED, { config_name: "train", no_wait: true })
    expect(noWait).toMatchObject({ success: false, status: "rejected", job_id: null })
    expect((await ok("POST", "/api/queue/submit", t.ana!, SUBMITTED, { config_name: "nope" })).error).toMatch(/Config 'nope' not found/)
    expect((await ok("POST", "/api/queue/submit", t.ana!, SUBMITTED, { config_name: "train", target: "worker" })).success).toBe(false)
    expect(await ok("POST", "/api/queue/submit", t.vic!, SUBMITTED, { config_name: "train" })).toMatchObject({ success: false, reason: "PERMISSION_DENIED" })
    const missing = await refused("POST", "/api/queue/submit", t.ana!, 422, {})
    expect(missing.detail).toEqual([{ loc: ["body", "config_name"], msg: "is missing", type: "missing" }])
    await refused("POST", "/api/queue/submit", t.ana!, 422, { config_name: "train", target: "moon" })
    await refused("POST", "/api/queue/submit", null, 401, { config_name: "train" })
    const [runA, runB, waiting, held] = [first.job_id, second.job_id, queued.job_id, blocked.job_id] as Array<string>

    // GET /api/queue: entries of waiting and running runs, paged; terminal ones only when asked
    const list = await ok("GET", "/api/queue?limit=50&offset=0", t.vic!, QUEUE_LIST)
    expect(list).toMatchObject({ total_pending: 1, total_running: 2 })
    const entries = list.entries as ReadonlyArray<Record<string, unknown>>
    expect(entries.map((e) => [e.job_id, e.status])).toEqual([
      [held, "blocked"],
      [waiting, "pending"],
      [runB, "running"],
      [runA, "running"]
    ])
    expect(entries[1]).toMatchObject({ id: Number(waiting), user_id: number("bo"), provider: "local", config_name: "train", priority: 10, priority_name: "normal", effective_priority: 10, position: 0, attempt: 1 })
    expect(entries[3]!.queued_at).toMatch(ISO)
    expect(entries[3]!.started_at).toMatch(ISO)
    expect(((await ok("GET", "/api/queue?limit=1&offset=1", t.vic!, QUEUE_LIST)).entries as ReadonlyArray<{ job_id: string }>).map((e) => e.job_id)).toEqual([waiting])
    expect(((await ok("GET", "/api/queue?status=running", t.vic!, QUEUE_LIST)).entries as ReadonlyArray<unknown>).length).toBe(2)
    for (const bad of ["limit=0", "limit=201", "offset=-1", "include_completed=maybe", "status=waiting"]) await refused("GET", `/api/queue?${bad}`, t.vic!, 422)

    // GET /api/queue/stats, /me, /user/{id}, /position/{id}
    const stats = await ok("GET", "/api/queue/stats", t.vic!, STATS)
    expect(stats).toMatchObject({ by_status: { running: 2, pending: 1, blocked: 1 }, by_user: { ana: 2 }, queue_depth: 1, running: 2, max_concurrent: 2, enable_fair_share: false })
    expect(stats.local).toMatchObject({ running_jobs: 2, pending_jobs: 1, allocated_gpus: [0, 1], available_gpus: [], total_gpus: 2 })
    expect(stats.workers).toEqual({ total_workers: 1, idle_workers: 0, busy_workers: 1, offline_workers: 0, draining_workers: 0 })
    expect(await ok("GET", "/api/queue/me", t.ana!, USER_QUEUE)).toMatchObject({ pending_count: 0, running_count: 2, blocked_count: 0, best_position: null })
    expect(await ok("GET", `/api/queue/user/${number("bo")}`, t.lena!, USER_QUEUE)).toMatchObject({ pending_count: 1, running_count: 0, blocked_count: 1, best_position: 0 })
    await ok("GET", `/api/queue/user/${number("ana")}`, t.ana!, USER_QUEUE)
    await refused("GET", `/api/queue/user/${number("bo")}`, t.ana!, 403)
    await refused("GET", "/api/queue/user/999", t.lena!, 404)
    expect(await ok("GET", `/api/queue/position/${waiting}`, t.vic!, POSITION)).toMatchObject({ job_id: waiting, position: 0, status: "pending", priority: "normal", estimated_wait_seconds: 0 })
    expect((await refused("GET", "/api/queue/position/404", t.vic!, 404)).detail).toMatch(/no run 404/)

    // priority, approve, reject: their shapes, and who may
    const PRIORITY: Shape = { success: "boolean", job_id: "string", previous_effective_priority: "int", new_effective_priority: "int", priority_override: "int|null" }
    expect(await ok("POST", `/api/queue/${waiting}/priority`, t.lena!, PRIORITY, { priority: 30 })).toEqual({
      success: true,
      job_id: waiting,
      previous_effective_priority: 10,
      new_effective_priority: 30,
      priority_override: 30
    })
    await refused("POST", `/api/queue/${waiting}/priority`, t.ana!, 403, { priority: 40 })
    await refused("POST", `/api/queue/${waiting}/priority`, t.lena!, 422, { priority: 51 })
    await refused("POST", `/api/queue/${held}/approve`, t.ana!, 403)
    expect(await ok("POST", `/api/queue/${held}/approve`, t.ada!, { success: "boolean", job_id: "string", approved_by: "int|null" })).toEqual({ success: true, job_id: held, approved_by: number("ada") })
    await refused("POST", `/api/queue/${held}/approve`, t.ada!, 409)
    const toReject = (await ok("POST", "/api/queue/submit", t.bo!, SUBMITTED, { config_name: "train", for_approval: true })).job_id as string
    await refused("POST", `/api/queue/${toReject}/reject`, t.ada!, 422)
    await refused("POST", `/api/queue/${toReject}/reject?reason=`, t.ada!, 422)
    await refused("POST", `/api/queue/${toReject}/reject?reason=%20%20`, t.ada!, 422)
    expect(await ok("POST", `/api/queue/${toReject}/reject?reason=too%20big`, t.ada!, { success: "boolean", job_id: "string", rejected_by: "int|null", reason: "string" })).toEqual({
      success: true,
      job_id: toReject,
      rejected_by: number("ada"),
      reason: "too big"
    })

    // concurrency: GET and a POST of any subset (admin), the six fields back
    expect(await ok("GET", "/api/queue/concurrency", t.vic!, CONCURRENCY)).toMatchObject({ max_concurrent: 2, user_max_concurrent: null, enable_fair_share: false })
    await refused("POST", "/api/queue/concurrency", t.lena!, 403, { max_concurrent: 3 })
    await refused("POST", "/api/queue/concurrency", t.ada!, 422, { max_concurrent: 0 })
    await refused("POST", "/api/queue/concurrency", t.ada!, 422, { max_concurent: 3 })
    expect(await ok("POST", "/api/queue/concurrency", t.ada!, CONCURRENCY, { max_concurrent: 3, user_max_concurrent: 2 })).toEqual({
      success: true,
      max_concurrent: 3,
      user_max_concurrent: 2,
      team_max_concurrent: null,
      enable_fair_share: false,
      local_gpu_max_concurrent: null,
      local_job_max_concurrent: null
    })
    expect(await ok("POST", "/api/queue/concurrency", t.ada!, CONCURRENCY, { team_max_concurrent: 3, enable_fair_share: true, local_gpu_max_concurrent: 2, local_job_max_concurrent: 4 })).toEqual({
      success: true,
      max_concurrent: 3,
      user_max_concurrent: 2,
      team_max_concurrent: 3,
      enable_fair_share: true,
      local_gpu_max_concurrent: 2,
      local_job_max_concurrent: 4
    })

    // cancel (its owner; another researcher may not), process, cleanup
    await refused("POST", `/api/queue/${runA}/cancel`, t.bo!, 403)
    expect(await ok("POST", `/api/queue/${runA}/cancel`, t.ana!, { success: "boolean", job_id: "string" })).toEqual({ success: true, job_id: runA })
    await d.waitRuns(`run ${runA} to end`, (runs) => runs.find((r) => r.id === runA && r.status === "cancelled"))
    await refused("POST", `/api/queue/${runA}/cancel`, t.ana!, 409)
    await refused("POST", "/api/queue/process", t.lena!, 403)
    const processed = await ok("POST", "/api/queue/process", t.ada!, { success: "boolean", dispatched: "int", job_ids: "string[]" })
    expect(processed.dispatched).toBe((processed.job_ids as ReadonlyArray<string>).length)
    await refused("POST", "/api/queue/cleanup", t.lena!, 403)
    expect(await ok("POST", "/api/queue/cleanup", t.ada!, { success: "boolean", deleted: "int", days: "int" })).toEqual({ success: true, deleted: 0, days: 30 })
    expect(await ok("POST", "/api/queue/cleanup?days=7", t.ada!, { success: "boolean", deleted: "int", days: "int" })).toMatchObject({ days: 7 })
    for (const bad of ["days=0", "days=366", "days=x"]) await refused("POST", `/api/queue/cleanup?${bad}`, t.ada!, 422)
    // the terminal runs show with include_completed, with their end and why
    const all = (await ok("GET", "/api/queue?include_completed=true", t.vic!, QUEUE_LIST)).entries as ReadonlyArray<Record<string, unknown>>
    expect(all.find((e) => e.job_id === runA)).toMatchObject({ status: "cancelled", error_message: null })
    expect(all.find((e) => e.job_id === runA)!.completed_at).toMatch(ISO)
    expect(all.find((e) => e.job_id === toReject)).toMatchObject({ status: "rejected", error_message: "too big" })

    // GET /api/system/status, with and without the allocation
    const system = await ok("GET", "/api/system/status", t.vic!, SYSTEM)
    expect(system).not.toHaveProperty("gpu_allocation")
    expect(system.gpu_inventory).toEqual({ backend: "cuda", count: 2, capabilities: { supports_cuda: true, supports_mps: false, supports_rocm: false } })
    // fake GPUs have no load to read
    expect((system.gpus as ReadonlyArray<{ utilization_percent: number | null }>).map((g) => g.utilization_percent)).toEqual([null, null])
    const allocation = (await ok("GET", "/api/system/status?include_allocation=true", t.vic!, SYSTEM)).gpu_allocation as Record<string, unknown>
    expect(allocation).toMatchObject({ running_local_jobs: 2 })
    expect((allocation.devices as ReadonlyArray<{ job_id: string | null }>).map((g) => g.job_id).sort()).toEqual([runB, waiting].sort())
    await refused("GET", "/api/system/status?include_allocation=maybe", t.vic!, 422)

    // the CLI's jobs commands: GET /api/cloud/jobs?limit&status&offset, GET one, cancel
    const JOBS: Shape = { jobs: { list: JOB }, total: "int" }
    const jobs = await ok("GET", "/api/cloud/jobs?limit=20", t.vic!, JOBS)
    expect((jobs.jobs as ReadonlyArray<{ job_id: string }>).length).toBe(jobs.total)
    const running = await ok("GET", "/api/cloud/jobs?status=running&limit=500&offset=0", t.vic!, JOBS)
    expect((running.jobs as ReadonlyArray<{ job_id: string }>).map((j) => j.job_id).sort()).toEqual([runB, waiting].sort())
    expect(await ok("GET", "/api/cloud/jobs?job_type=cloud", t.vic!, JOBS)).toEqual({ jobs: [], total: 0 })
    for (const bad of ["limit=0", "limit=501", "status=queued", "job_type=remote"]) await refused("GET", `/api/cloud/jobs?${bad}`, t.vic!, 422)
    const one = (await ok("GET", `/api/cloud/jobs/${runB}`, t.vic!, { job: JOB })).job as Record<string, unknown>
    expect(one).toMatchObject({ job_id: runB, job_type: "local", status: "running", config_name: "train", user_id: number("ana"), metadata: { run_name: "resnet", config_name: "train" }, is_terminal: false, is_active: true, allocated_gpus: [1], hardware_type: "Fake GPU" })
    expect(one.duration_seconds).toBeGreaterThanOrEqual(0)
    await refused("GET", "/api/cloud/jobs/404", t.vic!, 404)
    await refused("POST", `/api/cloud/jobs/${runB}/cancel`, t.bo!, 403)
    expect(await ok("POST", `/api/cloud/jobs/${runB}/cancel`, t.ana!, { success: "boolean", job_id: "string", status: "string" })).toEqual({ success: true, job_id: runB, status: "cancelled" })

    // one OpenAPI document for all (the API's own: both families), and the docs page, without a token
    const openapi = await fetch(`${d.url}/api/openapi.json`)
    expect(openapi.status).toBe(200)
    const served = Object.keys(((await openapi.json()) as { paths: Record<string, unknown> }).paths).sort()
    expect(served).toEqual(Object.keys(OpenApi.fromApi(GantryApi).paths).sort())
    expect(served).toEqual(expect.arrayContaining(["/api/queue/submit", "/api/cloud/jobs/{job_id}/cancel", "/api/system/status", "/api/runs", "/api/configs/{name}"]))
    const docs = await fetch(`${d.url}/docs`)
    expect(docs.status).toBe(200)
    expect(await docs.text()).toMatch(/<html/i)
  })

  it("the fair-share example: max 6, 2 per user, 3 per team: 5 running, 2 waiting, by user", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 8 })
    const d = await s.serve()
    const t = await tokens(s, [
      ["ada", ["--level", "admin"]],
      ["ana", ["--level", "researcher", "--team", "vision"]],
      ["al", ["--level", "researcher", "--team", "vision"]],
      ["bo", ["--level", "researcher", "--team", "speech"]]
    ])
    const task = `${s.work}/job.json`
    const fs = await import("node:fs")
    fs.writeFileSync(task, JSON.stringify({ command: ["sleep", "600"], gpus: 1 }))
    await s.ok(["config", "save", "job", "--file", task])
    const limits = await call(d, "POST", "/api/queue/concurrency", t.ada!, { max_concurrent: 6, user_max_concurrent: 2, team_max_concurrent: 3, enable_fair_share: true })
    expect(limits.status).toBe(200)
    const answers: Array<string> = []
    for (const user of ["ana", "ana", "ana", "al", "al", "bo", "bo"]) {
      const a = await call(d, "POST", "/api/queue/submit", t[user]!, { config_name: "job" })
      expect(a.body.success, JSON.stringify(a.body)).toBe(true)
      answers.push(`${user}:${String(a.body.status)}`)
    }
    // ana's third waits on her own cap (2), al's second on the team's (vision: ana 2 + al 1 = 3)
    expect(answers).toEqual(["ana:running", "ana:running", "ana:queued", "al:running", "al:queued", "bo:running", "bo:running"])
    const stats = await call(d, "GET", "/api/queue/stats", t.ada!)
    expect(problems(stats.body, STATS)).toEqual([])
    expect(stats.body).toMatchObject({
      running: 5,
      queue_depth: 2,
      by_user: { ana: 2, al: 1, bo: 2 },
      by_status: { running: 5, pending: 2 },
      max_concurrent: 6,
      user_max_concurrent: 2,
      team_max_concurrent: 3,
      enable_fair_share: true
    })
    expect(Object.keys(stats.body.by_user as object).sort()).toEqual(["al", "ana", "bo"])
    const waiting = (await call(d, "GET", "/api/queue?status=pending", t.ada!)).body.entries as ReadonlyArray<{ user_id: number; position: number }>
    expect(waiting.map((e) => e.position).sort()).toEqual([0, 1])
  })

  it("/api/system/status reads each GPU's load from nvidia-smi (a fake one on PATH: the hardware edge)", { timeout: 60_000 }, async ({ expect, onTestFinished }) => {
    const fs = await import("node:fs")
    const path = await import("node:path")
    const bin = fs.mkdtempSync(path.join((await import("node:os")).tmpdir(), "gantry-smi-"))
    onTestFinished(() => fs.rmSync(bin, { recursive: true, force: true }))
    // nvidia-smi's two queries: the inventory (once, at start) and the load (per status, cached 2 s)
    fs.writeFileSync(
      path.join(bin, "nvidia-smi"),
      `#!/bin/sh
case "$1" in
  --query-gpu=index,uuid,name,memory.total) printf '0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559\n1, GPU-bbbb, NVIDIA H100 80GB HBM3, 81559\n' ;;
  --query-gpu=index,utilization.gpu,memory.used,memory.total) printf '0, 97, 40779, 81559\n1, [N/A], [N/A], 81559\n' ;;
  *) echo "unexpected: $*" >&2; exit 64 ;;
esac
`,
      { mode: 0o755 }
    )
    const s = sandbox(onTestFinished, { env: { GANTRY_FAKE_GPUS: "", PATH: `${bin}:${process.env.PATH ?? ""}` } })
    const d = await s.serve()
    const a = await call(d, "GET", "/api/system/status", d.token)
    expect(a.status).toBe(200)
    expect(problems(a.body, SYSTEM)).toEqual([])
    expect(a.body.gpus).toEqual([
      { index: 0, name: "NVIDIA H100 80GB HBM3", backend: "cuda", utilization_percent: 97, memory_percent: 50 },
      { index: 1, name: "NVIDIA H100 80GB HBM3", backend: "cuda", utilization_percent: null, memory_percent: null }
    ])
  })
})
