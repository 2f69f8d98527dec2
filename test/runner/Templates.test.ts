/**
 * Saved run templates (issue 11: what the common queue API's `config_name` names), through
 * the CLI offline and against a daemon: `config save NAME --file`, `list`, `show`, `delete`;
 * a template holds no submitter, keeps its creator, and only its creator or an admin may
 * replace or delete it; a bad file or name is refused naming the problem, and stores nothing.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"
import { sandbox } from "./Gantry.js"

const isRoot = process.getuid?.() === 0
const mapped = isRoot ? ["--unix-user", "nobody"] : []

describe("issue 11: saved run templates", () => {
  it("save, list, show and delete; its creator or an admin may change it; bad input stores nothing", { timeout: 90_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished, { fakeGpus: 1 })
    const file = (name: string, body: unknown) => {
      const at = path.join(s.work, name)
      fs.writeFileSync(at, typeof body === "string" ? body : JSON.stringify(body))
      return at
    }
    // offline: no daemon serves the database yet
    expect(await s.ok(["config", "save", "train", "--file", file("train.json", { command: ["python", "train.py"], gpus: 1, env: { LR: "0.1" } })])).toBe("template train saved\n")
    const d = await s.serve()
    const ana = await s.token("ana", ["--level", "researcher", ...mapped])
    const bo = await s.token("bo", ["--level", "researcher", ...mapped])
    const as = (token: string) => ({ env: { GANTRY_URL: d.url, GANTRY_TOKEN: token } })

    expect((await s.cli(["config", "save", "eval", "--file", file("eval.json", { command: ["python", "eval.py"] })], as(ana))).code).toBe(0)
    const listed = await s.json<ReadonlyArray<{ name: string; createdBy: string; submission: { command: ReadonlyArray<string> } }>>(["config", "list"])
    expect(listed.map((t) => [t.name, t.createdBy, t.submission.command.join(" ")])).toEqual([
      ["eval", "ana", "python eval.py"],
      ["train", "tester", "python train.py"]
    ])
    expect(await s.ok(["config", "list"])).toMatch(/^eval +python eval\.py +1 +- +ana /m)
    expect(JSON.parse(await s.ok(["config", "show", "train"]))).toEqual({ command: ["python", "train.py"], gpus: 1, env: { LR: "0.1" } })

    // another researcher may neither replace nor delete ana's; ana and an admin may
    const replace = await s.cli(["config", "save", "eval", "--file", file("eval2.json", { command: ["python", "eval.py", "--fast"] })], as(bo))
    expect(replace.code).toBe(77)
    expect(replace.stderr).toMatch(/template eval is ana's: only its creator or an admin may change it/)
    expect((await s.cli(["config", "delete", "eval"], as(bo))).code).toBe(77)
    expect((await s.cli(["config", "save", "eval", "--file", path.join(s.work, "eval2.json")], as(ana))).code).toBe(0)
    const replaced = await s.json<{ createdBy: string; createdAt: string | number; updatedAt: string | number; submission: { command: ReadonlyArray<string> } }>(["config", "show", "eval"])
    expect(replaced.createdBy).toBe("ana")
    expect(replaced.submission.command).toEqual(["python", "eval.py", "--fast"])

    // bad input: named, refused, nothing stored
    const before = await s.ok(["config", "list", "--format", "json"])
    // (each a CLI process of its own: side by side)
    const [withUser, typo, notJson, badName, noCwd, huge] = await Promise.all([
      s.cli(["config", "save", "x", "--file", file("user.json", { command: ["true"], user: "bo" })]),
      s.cli(["config", "save", "x", "--file", file("typo.json", { command: ["true"], gpu: 2 })]),
      s.cli(["config", "save", "x", "--file", file("bad.json", "{ nope")]),
      s.cli(["config", "save", "../x", "--file", path.join(s.work, "train.json")]),
      s.cli(["config", "save", "x", "--file", file("cwd.json", { command: ["true"], cwd: "/no/such/dir" })]),
      s.cli(["config", "save", "x", "--file", file("huge.json", { command: ["echo", "x".repeat(200_000)] })])
    ])
    // over a limit: 65 from the CLI, 413 from the API, naming the field and the limit (never echoing the value)
    expect(huge.code).toBe(65)
    expect(huge.stderr).toMatch(/command\[1\].*128 KiB/)
    expect(huge.stderr.length).toBeLessThan(1000)
    const overHttp = await fetch(`${d.url}/api/configs/x`, {
      method: "PUT",
      headers: { authorization: `Bearer ${ana}`, "content-type": "application/json" },
      body: JSON.stringify({ command: ["echo", "x".repeat(200_000)] })
    })
    expect(overHttp.status).toBe(413)
    expect(((await overHttp.json()) as { code: string }).code).toBe("PAYLOAD_TOO_LARGE")
    expect(withUser.code).toBe(64)
    expect(withUser.stderr).toMatch(/user/)
    expect(typo.code).toBe(64)
    expect(typo.stderr).toMatch(/gpu/)
    expect(notJson.code).toBe(64)
    expect(badName.code).toBe(64)
    expect(badName.stderr).toMatch(/template name/)
    expect(noCwd.code).toBe(64)
    expect(noCwd.stderr).toMatch(/no directory \/no\/such\/dir/)
    expect(await s.ok(["config", "list", "--format", "json"])).toBe(before)
    const missing = await s.cli(["config", "show", "nope"])
    expect(missing.code).toBe(66)
    expect(missing.stderr).toMatch(/no template nope \(gantry config list\)/)

    // gantry's own CLI submits a template too: its fields, the flags on top, its name in the metadata
    const fromTemplate = await s.json<{ _tag: string; run: { command: ReadonlyArray<string>; gpus: number; env: Record<string, string>; status: string; metadata: Record<string, unknown> } }>([
      "submit",
      "--config",
      "train",
      "--hold",
      "--env",
      "SEED=7"
    ])
    expect(fromTemplate.run).toMatchObject({ command: ["python", "train.py"], gpus: 1, env: { LR: "0.1", SEED: "7" }, status: "held", metadata: { config_name: "train" } })
    const unknown = await s.cli(["submit", "--config", "nope"])
    expect(unknown.code).toBe(66)
    expect(unknown.stderr).toMatch(/no template nope/)
    const both = await s.cli(["submit", "--config", "train", "--file", path.join(s.work, "train.json")])
    expect(both.code).toBe(64)
    expect(both.stderr).toMatch(/--file and --config both give the submission/)

    expect(await s.ok(["config", "delete", "eval"])).toBe("template eval deleted\n")
    expect((await s.json<ReadonlyArray<{ name: string }>>(["config", "list"])).map((t) => t.name)).toEqual(["train"])
  })
})
