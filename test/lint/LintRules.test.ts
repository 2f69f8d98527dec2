// Proves that the architecture rules in eslint.config.mjs fire on deliberate violations and stay
// quiet on allowed code. Each case lints a snippet as if it lived at `file` (the file need not
// exist: ESLint 10 looks the config up from the file's directory, i.e. the repo root's config).
import path from "node:path"
import { fileURLToPath } from "node:url"
import { ESLint } from "eslint"
import { beforeAll, describe, expect, it } from "vitest"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

interface Violation {
  readonly name: string
  readonly file: string
  readonly code: string
  readonly ruleId: string
  /** A fragment the message must contain, so the error explains itself. */
  readonly says: string
}

interface Allowed {
  readonly name: string
  readonly file: string
  readonly code: string
}

const violations: ReadonlyArray<Violation> = [
  {
    name: "rejects libs/engine assigning a run's status outside a statechart transition",
    file: "libs/engine/src/Violation.ts",
    code: `export const cheat = (run: { status: string }) => {\n  run.status = "running"\n}\n`,
    ruleId: "no-restricted-syntax",
    says: "only by a transition of the run statechart"
  },
  {
    name: "rejects libs/core assigning a status through a computed copy",
    file: "libs/core/src/Violation.ts",
    code: `export const cheat = (runs: Array<{ status: string }>) => {\n  runs[0]!.status = "failed"\n}\n`,
    ruleId: "no-restricted-syntax",
    says: "only by a transition of the run statechart"
  },
  {
    name: "rejects libs/core importing @gantry/engine",
    file: "libs/core/src/Violation.ts",
    code: `import { Engine } from "@gantry/engine"\nexport const e = Engine\n`,
    ruleId: "no-restricted-imports",
    says: "libs/core is the pure domain"
  },
  {
    name: "rejects libs/core importing a type from @gantry/engine",
    file: "libs/core/src/Violation.ts",
    code: `import type { Engine } from "@gantry/engine"\nexport type E = Engine\n`,
    ruleId: "no-restricted-imports",
    says: "libs/core is the pure domain"
  },
  {
    name: "rejects libs/core importing xstate",
    file: "libs/core/src/Violation.ts",
    code: `import { setup } from "xstate"\nexport const s = setup\n`,
    ruleId: "no-restricted-imports",
    says: "xstate"
  },
  {
    name: "rejects libs/core importing node:fs",
    file: "libs/core/src/Violation.ts",
    code: `import * as fs from "node:fs"\nexport const f = fs\n`,
    ruleId: "no-restricted-imports",
    says: "node: builtins"
  },
  {
    name: "rejects libs/core importing a bare builtin (fs/promises)",
    file: "libs/core/src/Violation.ts",
    code: `import { readFile } from "fs/promises"\nexport const r = readFile\n`,
    ruleId: "no-restricted-imports",
    says: "node: builtins"
  },
  {
    name: "rejects libs/core/src importing a third-party package other than effect",
    file: "libs/core/src/Violation.ts",
    code: `import * as fc from "fast-check"\nexport const f = fc\n`,
    ruleId: "no-restricted-imports",
    says: "only 'effect'"
  },
  {
    name: "rejects libs/engine importing @gantry/sim",
    file: "libs/engine/src/Violation.ts",
    code: `import { SimClock } from "@gantry/sim"\nexport const c = SimClock\n`,
    ruleId: "no-restricted-imports",
    says: "libs/engine may import only @gantry/core"
  },
  {
    name: "rejects libs/engine importing @gantry/store-sqlite",
    file: "libs/engine/src/Violation.ts",
    code: `import { SqliteStore } from "@gantry/store-sqlite"\nexport const s = SqliteStore\n`,
    ruleId: "no-restricted-imports",
    says: "libs/engine may import only @gantry/core"
  },
  {
    name: "rejects libs/engine importing the runner app",
    file: "libs/engine/src/Violation.ts",
    code: `import { main } from "@gantry/runner"\nexport const m = main\n`,
    ruleId: "no-restricted-imports",
    says: "apps (@gantry/runner)"
  },
  {
    name: "rejects libs/engine importing node:child_process",
    file: "libs/engine/src/Violation.ts",
    code: `import { spawn } from "node:child_process"\nexport const s = spawn\n`,
    ruleId: "no-restricted-imports",
    says: "node: builtins"
  },
  {
    name: "rejects libs/engine tests importing an adapter (@gantry/sim)",
    file: "libs/engine/test/Violation.test.ts",
    code: `import { SimClock } from "@gantry/sim"\nexport const c = SimClock\n`,
    ruleId: "no-restricted-imports",
    says: "go in test/"
  },
  {
    name: "rejects libs/sim importing @gantry/store-sqlite",
    file: "libs/sim/src/Violation.ts",
    code: `import { SqliteStore } from "@gantry/store-sqlite"\nexport const s = SqliteStore\n`,
    ruleId: "no-restricted-imports",
    says: "libs/sim must not import @gantry/store-sqlite"
  },
  {
    name: "rejects libs/sim importing @gantry/platform-node",
    file: "libs/sim/src/Violation.ts",
    code: `import { NodeExecutor } from "@gantry/platform-node"\nexport const n = NodeExecutor\n`,
    ruleId: "no-restricted-imports",
    says: "libs/sim must not import @gantry/platform-node"
  },
  {
    name: "rejects an adapter (libs/store-sqlite) importing the runner app",
    file: "libs/store-sqlite/src/Violation.ts",
    code: `import { main } from "@gantry/runner"\nexport const m = main\n`,
    ruleId: "no-restricted-imports",
    says: "may not import an app"
  },
  {
    name: "rejects a lib's relative import escaping its folder (engine reaching into core/src)",
    file: "libs/engine/src/Violation.ts",
    code: `import { decide } from "../../core/src/Decide"\nexport const d = decide\n`,
    ruleId: "gantry/relative-import-stays-in-lib",
    says: "leaves libs/engine/"
  },
  {
    name: "rejects a relative re-export escaping its lib from a nested folder",
    file: "libs/sim/src/deep/nested/Violation.ts",
    code: `export * from "../../../../engine/src/index"\n`,
    ruleId: "gantry/relative-import-stays-in-lib",
    says: "leaves libs/sim/"
  },
  {
    name: "rejects Date.now() in libs/core",
    file: "libs/core/src/Violation.ts",
    code: `export const nowMs = Date.now()\n`,
    ruleId: "no-restricted-properties",
    says: "use Effect's Clock"
  },
  {
    name: "rejects new Date() in libs/engine",
    file: "libs/engine/src/Violation.ts",
    code: `export const now = new Date()\n`,
    ruleId: "no-restricted-syntax",
    says: "use Effect's Clock"
  },
  {
    name: "rejects Date() called as a function in libs/core",
    file: "libs/core/src/Violation.ts",
    code: `export const nowText = Date()\n`,
    ruleId: "no-restricted-syntax",
    says: "use Effect's Clock"
  },
  {
    name: "rejects Math.random() in libs/engine",
    file: "libs/engine/src/Violation.ts",
    code: `export const pick = Math.random()\n`,
    ruleId: "no-restricted-properties",
    says: "unseeded randomness"
  },
  {
    name: "rejects setTimeout in libs/core",
    file: "libs/core/src/Violation.ts",
    code: `setTimeout(() => undefined, 10)\n`,
    ruleId: "no-restricted-globals",
    says: "real timers"
  },
  {
    name: "rejects setInterval in libs/engine",
    file: "libs/engine/src/Violation.ts",
    code: `export const timer = setInterval(() => undefined, 10)\n`,
    ruleId: "no-restricted-globals",
    says: "real timers"
  },
  {
    name: "rejects setImmediate in libs/engine",
    file: "libs/engine/src/Violation.ts",
    code: `setImmediate(() => undefined)\n`,
    ruleId: "no-restricted-globals",
    says: "real timers"
  },
  {
    name: "rejects globalThis.setTimeout in libs/engine",
    file: "libs/engine/src/Violation.ts",
    code: `globalThis.setTimeout(() => undefined, 10)\n`,
    ruleId: "no-restricted-properties",
    says: "real timers"
  },
  {
    name: "rejects performance.now() in libs/engine",
    file: "libs/engine/src/Violation.ts",
    code: `export const t0 = performance.now()\n`,
    ruleId: "no-restricted-properties",
    says: "use Effect's Clock"
  },
  {
    name: "rejects process.hrtime.bigint() in libs/engine",
    file: "libs/engine/src/Violation.ts",
    code: `export const t0 = process.hrtime.bigint()\n`,
    ruleId: "no-restricted-properties",
    says: "use Effect's Clock"
  },
  {
    name: "rejects an explicit any anywhere (test/)",
    file: "test/Violation.test.ts",
    code: `export const loose: any = 1\n`,
    ruleId: "@typescript-eslint/no-explicit-any",
    says: "Unexpected any"
  },
  {
    name: "rejects an unused variable not prefixed with _",
    file: "libs/sim/src/Violation.ts",
    code: `export function f(): number {\n  const unused = 1\n  return 2\n}\n`,
    ruleId: "@typescript-eslint/no-unused-vars",
    says: "is assigned a value but never used"
  }
]

const allowed: ReadonlyArray<Allowed> = [
  {
    name: "allows libs/engine reading a run's status and a record literal naming one",
    file: "libs/engine/src/Allowed.ts",
    code: `export const f = (run: { status: string }) => (run.status === "pending" ? { ...run, status: "held" } : run)\n`
  },
  {
    name: "allows libs/core importing effect (and effect/* subpaths)",
    file: "libs/core/src/Allowed.ts",
    code: `import { Effect } from "effect"\nimport * as Schema from "effect/Schema"\nexport const x = [Effect.succeed(1), Schema.String]\n`
  },
  {
    name: "allows libs/core relative imports that stay inside libs/core",
    file: "libs/core/src/policy/Allowed.ts",
    code: `import { a } from "./A"\nimport { b } from "../B"\nimport { c } from "../../test/fixtures/C"\nexport const x = [a, b, c]\n`
  },
  {
    name: "allows libs/engine importing @gantry/core and xstate",
    file: "libs/engine/src/Allowed.ts",
    code: `import { decide } from "@gantry/core"\nimport { setup } from "xstate"\nimport { Effect } from "effect"\nexport const x = [decide, setup, Effect.void]\n`
  },
  {
    name: "allows libs/sim importing @gantry/engine and @gantry/core",
    file: "libs/sim/src/Allowed.ts",
    code: `import { Engine } from "@gantry/engine"\nimport { decide } from "@gantry/core"\nexport const x = [Engine, decide]\n`
  },
  {
    name: "allows new Date(0).toISOString() in libs/core (formatting a given instant)",
    file: "libs/core/src/Allowed.ts",
    code: `export const epoch = new Date(0).toISOString()\nexport const format = (ms: number): string => new Date(ms).toISOString()\n`
  },
  {
    name: "allows Date.now() and setTimeout in libs/sim/src (adapters may touch the real clock)",
    file: "libs/sim/src/Allowed.ts",
    code: `export const nowMs = Date.now()\nsetTimeout(() => undefined, 1)\n`
  },
  {
    name: "allows libs/core tests to use vitest, fast-check and node builtins",
    file: "libs/core/test/Allowed.test.ts",
    code: `import { it } from "vitest"\nimport * as fc from "fast-check"\nimport * as path from "node:path"\nimport { decide } from "@gantry/core"\nexport const x = [it, fc, path, decide]\n`
  },
  {
    name: "allows root test/ to import any ring, including adapters",
    file: "test/Allowed.test.ts",
    code: `import { decide } from "@gantry/core"\nimport { Engine } from "@gantry/engine"\nimport { SimClock } from "@gantry/sim"\nimport * as fs from "node:fs"\nexport const x = [decide, Engine, SimClock, fs, Date.now()]\n`
  },
  {
    name: "allows unused names prefixed with _",
    file: "libs/core/src/Allowed.ts",
    code: `export function f(_ignored: number): number {\n  const _unused = 1\n  return 2\n}\n`
  }
]

describe("eslint.config.mjs architecture rules", () => {
  let eslint: ESLint

  beforeAll(() => {
    eslint = new ESLint({ cwd: repoRoot })
  })

  const lint = async (file: string, code: string): Promise<ESLint.LintResult> => {
    const results = await eslint.lintText(code, { filePath: path.join(repoRoot, file) })
    expect(results).toHaveLength(1)
    const [result] = results
    if (result === undefined) throw new Error(`no lint result for ${file}`)
    return result
  }

  it("finds the repo root's config for a file under libs/core", async () => {
    const config: unknown = await eslint.calculateConfigForFile(path.join(repoRoot, "libs/core/src/Violation.ts"))
    expect(JSON.stringify(config)).toContain("no-restricted-imports")
  })

  describe("violations", () => {
    for (const { name, file, code, ruleId, says } of violations) {
      it(`${name} (${ruleId})`, async () => {
        const result = await lint(file, code)
        const matching = result.messages.filter((m) => m.severity === 2 && m.ruleId === ruleId)
        expect(matching.map((m) => m.ruleId), JSON.stringify(result.messages, null, 2)).toContain(ruleId)
        expect(matching.some((m) => m.message.includes(says)), JSON.stringify(matching, null, 2)).toBe(true)
      })
    }
  })

  describe("allowed code", () => {
    for (const { name, file, code } of allowed) {
      it(name, async () => {
        const result = await lint(file, code)
        expect(result.messages, JSON.stringify(result.messages, null, 2)).toEqual([])
        expect(result.errorCount).toBe(0)
      })
    }
  })
})
