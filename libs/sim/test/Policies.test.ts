/**
 * The presets a what-if replay compares, checked by what they do on small workloads through
 * the full engine (fifo keeps submission order behind a head that waits; priority lets a
 * higher level go first; backfill lets a short run with a time limit use the head's GPUs
 * meanwhile), and policy files read as the runner reads them (unknown keys named).
 */
import { defaultPolicy, Policy } from "@gantry/core"
import { Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { PolicyInputError, PRESETS, presetPolicy, resolvePolicy } from "../src/Policies.js"
import { simulate } from "../src/Simulate.js"
import type { WorkloadJob } from "../src/Workload.js"

const job = (o: Partial<WorkloadJob> & Pick<WorkloadJob, "id" | "arrivalMs" | "user" | "gpus">): WorkloadJob => ({ durationMs: 10_000, exitCode: 0, level: "researcher", ...o })

/** c's wait under each preset: a head of 4 GPUs waits behind a run of 3 on 4 GPUs; c asks for 1. */
const waitOfC = (c: Partial<WorkloadJob>) =>
  Object.fromEntries(
    PRESETS.map((name) => {
      const jobs = [
        job({ id: "j1", arrivalMs: 0, user: "a", gpus: 3, durationMs: 100_000, timeLimitMs: 100_000 }),
        job({ id: "j2", arrivalMs: 1_000, user: "b", gpus: 4 }),
        job({ id: "j3", arrivalMs: 2_000, user: "c", gpus: 1, durationMs: 5_000, ...c })
      ]
      const report = simulate({ seed: 1, workload: { name: "three", description: "", jobs }, gpus: 4, policy: presetPolicy[name], eventLog: false })
      return [name, report.metrics.byUser["c"]!.waitP50Ms]
    })
  )

describe("policy presets", () => {
  it("are policies the runner would accept", () => {
    for (const name of PRESETS) expect(Schema.decodeUnknownSync(Policy)(presetPolicy[name]), name).toEqual(presetPolicy[name])
  })

  it("fifo keeps submission order behind a waiting head; backfill lets a short run with a time limit go first", () => {
    // c, a researcher with a time limit that ends long before the head can start
    expect(waitOfC({ timeLimitMs: 10_000 })).toEqual({ fifo: 108_000, priority: 108_000, "fair-share": 108_000, backfill: 0 })
  })

  it("priority lets a higher level go before an earlier head; fifo does not", () => {
    expect(waitOfC({ level: "admin" })).toEqual({ fifo: 108_000, priority: 0, "fair-share": 0, backfill: 0 })
  })
})

describe("policy files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gantry-policies-"))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, text: string) => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, text)
    return file
  }

  it("a file as `gantry limits --format json` writes one is read back whole, named by its base name", () => {
    const policy = { ...defaultPolicy, version: 7, limits: { ...defaultPolicy.limits, userMaxConcurrent: 2 } }
    expect(resolvePolicy(write("two-per-user.json", JSON.stringify(policy)))).toEqual({ name: "two-per-user", policy })
  })

  it("a preset's name is the preset", () => {
    for (const name of PRESETS) expect(resolvePolicy(name)).toEqual({ name, policy: presetPolicy[name] })
  })

  it("refuses an unknown key, a bad value, JSON that is not, and a name that is neither a preset nor a file, naming each", () => {
    const refusal = (spec: string) => {
      try {
        resolvePolicy(spec)
      } catch (e) {
        expect(e).toBeInstanceOf(PolicyInputError)
        return (e as Error).message
      }
      throw new Error(`${spec} was accepted`)
    }
    const typo = write("typo.json", JSON.stringify({ ...defaultPolicy, limits: { ...defaultPolicy.limits, maxConcurent: 3 } }))
    expect(refusal(typo)).toBe(`${typo}: limits.maxConcurent: unknown key`)
    expect(refusal(write("bad.json", JSON.stringify({ ...defaultPolicy, backfill: "yes" })))).toMatch(/bad\.json: backfill: Expected boolean/)
    expect(refusal(write("broken.json", "{ nope"))).toMatch(/broken\.json: not JSON/)
    expect(refusal("strict")).toBe("--policy strict: neither a preset (fifo, priority, fair-share, backfill) nor a readable policy file")
  })
})
