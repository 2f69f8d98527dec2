/**
 * The published libraries work outside the workspace. @gantry/core, @gantry/engine and
 * @gantry/sim are built (their `build` scripts, tsc into dist/) and packed (`npm pack`); a
 * scratch app under the OS temp dir, far from the workspace's node_modules and its
 * `@gantry/source` condition, installs the three tarballs (effect and xstate from the
 * registry, through the npm cache when it has them) and then:
 *
 * - every import in the installed JavaScript and declarations is relative (`./x.js`, a file the
 *   tarball holds), a node: built-in, or a package the importing package declares;
 * - the README's "Embed the engine" examples, taken from the README at test time so it stays
 *   true, type-check against the installed declarations (the repository's tsc, NodeNext) and,
 *   transpiled to .mjs, run under plain node with the output they promise.
 */
import { execFile, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import ts from "typescript"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const PACKAGES = ["@gantry/core", "@gantry/engine", "@gantry/sim"] as const
const workspaceFlags = PACKAGES.flatMap((name) => ["-w", name])

/** The ```ts blocks of the README section under `## <heading>`, in order. */
const examplesUnder = (markdown: string, heading: string): Array<string> => {
  const start = markdown.indexOf(`\n## ${heading}\n`)
  if (start < 0) throw new Error(`README.md has no "## ${heading}" section`)
  const rest = markdown.slice(start + 1)
  const end = rest.indexOf("\n## ")
  const section = end < 0 ? rest : rest.slice(0, end)
  return [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!)
}

/**
 * The environment for the child processes, without what an enclosing `npm run` or the test
 * runner put there that would change them: npm's per-invocation settings (`-w`, `--prefix`,
 * `--omit`, ...) and node options. The cache, registry and proxy settings stay.
 */
const childEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(lifecycle|package|command|execpath)/i.test(key)) continue
    if (/^npm_config_(workspaces?|include_workspace_root|prefix|global|location|dry_run|json|omit|include|production|only|save.*)$/i.test(key)) continue
    if (key === "NODE_OPTIONS" || key === "NODE_PATH") continue
    env[key] = value
  }
  return env
}

/**
 * Runs a command to its end (asynchronously: the test worker must keep answering vitest while
 * the build runs); a failure throws with everything it printed.
 */
const run = async (command: string, args: ReadonlyArray<string>, cwd: string): Promise<string> => {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd, env: childEnv(), encoding: "utf8", timeout: 240_000, maxBuffer: 64 << 20 })
    return stdout
  } catch (error) {
    const e = error as { message: string; stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(" ")} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`)
  }
}

const examples = examplesUnder(readFileSync(join(root, "README.md"), "utf8"), "Embed the engine")
const typesNodeVersion = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { devDependencies: Record<string, string> })
  .devDependencies["@types/node"]!

const scratch = mkdtempSync(join(tmpdir(), "gantry-pack-"))
const tarballs = join(scratch, "tarballs")
const app = join(scratch, "app")
let packed: Array<{ name: string; filename: string; files: Array<{ path: string }> }> = []

beforeAll(async () => {
  const t0 = performance.now()
  // a clean build: sim's `tsc -b` builds the projects it references (core, engine) first, in
  // the same process, which parses effect's declarations once for all three
  for (const name of PACKAGES) rmSync(join(root, "libs", name.slice("@gantry/".length), "dist"), { recursive: true, force: true })
  await run("npm", ["run", "build", "-w", "@gantry/sim"], root)
  const t1 = performance.now()
  mkdirSync(tarballs)
  packed = JSON.parse(await run("npm", ["pack", ...workspaceFlags, "--pack-destination", tarballs, "--json"], root)) as typeof packed
  const t2 = performance.now()
  mkdirSync(app)
  const dependencies = Object.fromEntries([
    ...packed.map((p) => [p.name, `file:${join(tarballs, p.filename)}`]),
    ["@types/node", typesNodeVersion]
  ])
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "gantry-embedding-app", private: true, type: "module", dependencies }, null, 2))
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--no-package-lock"], app)
  const t3 = performance.now()
  examples.forEach((code, i) => {
    writeFileSync(join(app, `example-${i + 1}.ts`), code)
    const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    writeFileSync(join(app, `example-${i + 1}.mjs`), js)
  })
  const seconds = (a: number, b: number) => `${((b - a) / 1000).toFixed(1)} s`
  console.log(`pack test: build ${seconds(t0, t1)}, pack ${seconds(t1, t2)}, install ${seconds(t2, t3)} (in ${scratch})`)
}, 300_000)

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const installed = (name: string) => join(app, "node_modules", name)
const manifestOf = (name: string) =>
  JSON.parse(readFileSync(join(installed(name), "package.json"), "utf8")) as {
    private?: boolean
    exports: Record<string, Record<string, string>>
    dependencies?: Record<string, string>
  }

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]))

/**
 * The module specifiers of a .js or .d.ts file: static and dynamic imports, re-exports, import
 * types, and files of a package resolved at run time (`createRequire(import.meta.url).resolve("pkg/file")`,
 * how @gantry/sim reads uPlot for its HTML report).
 */
const specifiersOf = (source: string): Array<string> =>
  [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+|\bcreateRequire\([^)]*\)\.resolve\(\s*)["']([^"']+)["']/gm)].map((m) => m[1]!)

const packageOf = (specifier: string): string => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/")

describe("the packed libraries, installed outside the workspace", () => {
  it("the README's Embed section has the two examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(2)
  })

  it.each(PACKAGES)("%s: a publishable tarball of dist/ and src/, without tests or workspace-only files", (name) => {
    const tarball = packed.find((p) => p.name === name)!
    const paths = tarball.files.map((f) => f.path)
    expect(paths).toEqual(expect.arrayContaining(["package.json", "dist/index.js", "dist/index.d.ts", "dist/index.d.ts.map", "dist/index.js.map", "src/index.ts"]))
    expect(paths.filter((p) => !/^(package\.json|(dist|src)\/.+)$/.test(p))).toEqual([])
    expect(paths).not.toContain("src/Testing.ts") // core's test builders stay in the workspace
    expect(paths.filter((p) => p.endsWith(".tsbuildinfo"))).toEqual([])

    const manifest = manifestOf(name)
    expect(manifest.private).toBeUndefined()
    expect(Object.keys(manifest.exports["."]!)).toEqual(["@gantry/source", "types", "import"])
    for (const version of Object.values(manifest.dependencies ?? {})) expect(version).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it.each(PACKAGES)("%s imports only its own files (./x.js), node: built-ins and the dependencies it declares", (name) => {
    const dir = installed(name)
    const declared = new Set(Object.keys(manifestOf(name).dependencies ?? {}))
    const problems: Array<string> = []
    const used = new Set<string>()
    for (const file of filesUnder(join(dir, "dist")).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))) {
      for (const specifier of specifiersOf(readFileSync(file, "utf8"))) {
        const where = `${relative(dir, file)}: "${specifier}"`
        if (specifier.startsWith(".")) {
          const target = resolve(dirname(file), specifier)
          const exists = file.endsWith(".d.ts") ? existsSync(target.replace(/\.js$/, ".d.ts")) : existsSync(target)
          if (!specifier.endsWith(".js") || !exists) problems.push(`${where} is not a file of the package`)
        } else if (!specifier.startsWith("node:")) {
          used.add(packageOf(specifier))
          if (!declared.has(packageOf(specifier))) problems.push(`${where} is not a declared dependency`)
        }
      }
    }
    expect(problems).toEqual([])
    expect([...used].sort()).toEqual([...declared].sort()) // and every declared dependency is used
  })

  it("one copy of effect serves all three packages", () => {
    for (const name of PACKAGES) expect(existsSync(join(installed(name), "node_modules", "effect"))).toBe(false)
    expect(existsSync(installed("effect"))).toBe(true)
  })

  it("the examples type-check against the published declarations", async () => {
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        types: ["node"],
        strict: true,
        noEmit: true,
        skipLibCheck: true
      },
      include: ["example-*.ts"]
    }
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
    await run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", app], app)
  })

  it("the policy comparison prints both policies' p95 wait and fairness", async () => {
    const output = await run(process.execPath, ["example-1.mjs"], app)
    expect(output).toMatch(/^p95 wait: \d+ ms vs \d+ ms$/m)
    expect(output).toMatch(/^Jain's fairness: [01]\.\d{3} vs [01]\.\d{3}$/m)
  })

  it("the hand-built engine runs the submitted job to completion", async () => {
    expect(await run(process.execPath, ["example-2.mjs"], app)).toMatch(/^run \S+: completed at \d+(\.\d+)? s; 4 of 4 GPUs free$/m)
  })

  it("the installed @gantry/sim finds uPlot for its HTML report outside the workspace", () => {
    const code = `import { loadChartAssets } from "@gantry/sim"; const a = loadChartAssets(); process.stdout.write(String(a.js.length > 10000 && a.css.includes(".uplot")))`
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: app, env: childEnv(), encoding: "utf8" })
    expect(result.stderr).toBe("")
    expect(result.stdout.trim()).toBe("true")
  })

  it("core's test builders are not part of the published API", () => {
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", `import("@gantry/core/testing")`], { cwd: app, env: childEnv(), encoding: "utf8" })
    expect(result.status).not.toBe(0)
    expect(result.stderr).toContain("ERR_PACKAGE_PATH_NOT_EXPORTED")
  })
})
