import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

/** The README's embedding examples are run as written, so they cannot rot. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const readme = readFileSync(join(root, "README.md"), "utf8")
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
// a folder inside the repository, so the examples resolve @gantry/* like an embedding app
const dir = mkdtempSync(join(root, "test", ".readme-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const runExample = (code: string, index: number): string => {
  const file = join(dir, `example-${index}.ts`)
  writeFileSync(file, code)
  // the @gantry/source condition resolves the libraries to their TypeScript sources (test/pack
  // runs the same examples against the packed libraries, outside the workspace)
  return execFileSync(process.execPath, ["--import", "tsx", "--conditions=@gantry/source", file], { cwd: root, encoding: "utf8", timeout: 120_000 })
}

describe("README examples", () => {
  it("has TypeScript examples to run", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2)
  })

  it("the policy comparison runs and prints both policies' p95 wait and fairness", () => {
    const output = runExample(blocks[0]!, 0)
    expect(output).toMatch(/^p95 wait: \d+ ms vs \d+ ms$/m)
    expect(output).toMatch(/^Jain's fairness: [01]\.\d{3} vs [01]\.\d{3}$/m)
  })

  it("the hand-built engine runs a submitted job to completion", () => {
    expect(runExample(blocks[1]!, 1)).toMatch(/^run \S+: completed at \d+(\.\d+)? s; 4 of 4 GPUs free$/m)
  })
})
