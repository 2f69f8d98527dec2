// ESLint flat config for the gantry monorepo (ESLint 10, typescript-eslint 8).
//
// Besides typescript-eslint's recommended rules (syntax-only, no type information, so lint
// stays fast) this file enforces the architecture of docs/ARCHITECTURE.md and DESIGN.md:
//
//   1. Rings, arrows point inward (`no-restricted-imports`):
//        libs/core    may import only `effect` and its own relative files;
//        libs/engine  may import @gantry/core, effect, xstate: no adapter, no app, no node: builtin;
//        adapters     (libs/sim, libs/store-sqlite, libs/platform-node, libs/api) may import
//                     @gantry/core, @gantry/engine and third-party packages, never an app
//                     (@gantry/runner) nor a sibling adapter;
//        apps/, benchmarks/, test/ are the outermost ring and may import anything.
//   2. A relative import never leaves its lib's folder (`gantry/relative-import-stays-in-lib`):
//      `../../engine/src/x` bypasses the package boundary, so use `@gantry/engine` instead.
//   4. The run statechart is the only authority on a run's status: no code in libs/core/src or
//      libs/engine/src assigns a `status` field (`no-restricted-syntax`), except the one place
//      in libs/engine/src/RunLifecycle.ts that applies the state a transition answered (marked with
//      an eslint-disable comment that says so).
//   3. One clock, one random: libs/core/src and libs/engine/src may not read wall-clock time,
//      start timers or draw unseeded randomness (`no-restricted-properties`,
//      `no-restricted-globals`, `no-restricted-syntax`).
//
// test/lint/LintRules.test.ts proves that each of these rules fires (and that allowed code passes).

import { builtinModules } from "node:module"
import path from "node:path"
import { defineConfig, globalIgnores } from "eslint/config"
import tseslint from "typescript-eslint"

const repoRoot = import.meta.dirname

const TS_FILES = ["**/*.ts", "**/*.mts", "**/*.cts"]
const ADAPTERS = ["sim", "store-sqlite", "platform-node", "api"]
const SEE = "(arrows point inward, see DESIGN.md 'The house: four rings')"

/** Escapes a string for use inside a RegExp. */
const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

// `fs`, `fs/promises`, `node:fs`, ... (bare names too: `import fs from "fs"` is the same module).
const NODE_BUILTIN_REGEX = `^(node:|(${builtinModules
  .filter((m) => !m.startsWith("_"))
  .map(escapeRegex)
  .join("|")})(/|$))`

/** A pattern for `no-restricted-imports` matching a package and its subpaths. */
const pkg = (name, message) => ({ regex: `^${escapeRegex(name)}(/|$)`, message })

/** Any @gantry/* package except the allowed ones (and their subpaths). */
const gantryExcept = (allowed, message) => ({
  regex: `^@gantry/(?!(${allowed.map(escapeRegex).join("|")})(/|$))`,
  message
})

const nodeBuiltins = (ring) => ({
  regex: NODE_BUILTIN_REGEX,
  message: `${ring} does no I/O: it may not import node: builtins; take a port (Effect service) instead ${SEE}`
})

const restrictImports = (...patterns) => ["error", { patterns }]

// ---------------------------------------------------------------------------------------------
// Rule 2: relative imports stay inside their lib. `no-restricted-imports` only sees the import
// string, not where it resolves, so `../../x` can be fine at one depth and an escape at another.
// This tiny local rule resolves the specifier against the importing file instead.
// ---------------------------------------------------------------------------------------------
const relativeImportStaysInLib = {
  meta: {
    type: "problem",
    docs: { description: "A relative import must not leave the folder of the lib that contains it" },
    schema: [],
    messages: {
      escapes:
        "Relative import '{{source}}' leaves {{lib}}/: import the other lib by its package name (@gantry/…) instead; a lib's relative imports stay inside its own folder (DESIGN.md rings)"
    }
  },
  create(context) {
    const file = context.physicalFilename ?? context.filename
    const rel = path.relative(repoRoot, file).split(path.sep)
    if (rel[0] !== "libs" || rel.length < 3) return {}
    const libRoot = path.join(repoRoot, "libs", rel[1])
    const check = (sourceNode) => {
      if (!sourceNode || sourceNode.type !== "Literal" || typeof sourceNode.value !== "string") return
      const source = sourceNode.value
      if (!source.startsWith(".")) return
      const target = path.resolve(path.dirname(file), source)
      const inside = path.relative(libRoot, target)
      if (inside === ".." || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) {
        context.report({
          node: sourceNode,
          messageId: "escapes",
          data: { source, lib: `libs/${rel[1]}` }
        })
      }
    }
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      TSImportEqualsDeclaration: (node) =>
        node.moduleReference?.type === "TSExternalModuleReference" && check(node.moduleReference.expression)
    }
  }
}

const gantryPlugin = { meta: { name: "gantry" }, rules: { "relative-import-stays-in-lib": relativeImportStaysInLib } }

// ---------------------------------------------------------------------------------------------
// Rule 3: one clock, one random.
// ---------------------------------------------------------------------------------------------
const CLOCK = "wall-clock time in libs/core and libs/engine: use Effect's Clock (DESIGN.md 'One clock, one random')"
const TIMER =
  "real timers in libs/core and libs/engine: schedule through Effect (Clock / Effect.sleep / Schedule) or XState `after:` on the bridged clock (DESIGN.md 'One clock, one random')"
const RANDOM =
  "unseeded randomness: use a seeded PRNG passed in (Effect's Random.make(seed) or your own) (DESIGN.md 'One clock, one random')"

const STATUS =
  "A run's status changes only by a transition of the run statechart (RunMachine.ts): send it an event through the Kernel (step, an actor's send), never assign `status` (issue 9)"

const timeAndRandomRules = {
  "no-restricted-properties": [
    "error",
    { object: "Date", property: "now", message: CLOCK },
    { object: "performance", property: "now", message: CLOCK },
    { object: "process", property: "hrtime", message: CLOCK },
    { object: "Math", property: "random", message: RANDOM },
    { object: "crypto", property: "getRandomValues", message: RANDOM },
    { object: "crypto", property: "randomUUID", message: RANDOM },
    ...["setTimeout", "setInterval", "setImmediate", "performance", "Date"].map((property) => ({
      object: "globalThis",
      property,
      message: property === "performance" || property === "Date" ? CLOCK : TIMER
    }))
  ],
  "no-restricted-globals": [
    "error",
    ...["setTimeout", "setInterval", "setImmediate"].map((name) => ({ name, message: TIMER }))
  ],
  "no-restricted-syntax": [
    "error",
    // `new Date()` reads the clock; `new Date(ms)` only formats a given instant and is allowed.
    { selector: "NewExpression[callee.type='Identifier'][callee.name='Date'][arguments.length=0]", message: CLOCK },
    // `Date()` called as a function returns the current time as a string.
    { selector: "CallExpression[callee.type='Identifier'][callee.name='Date']", message: CLOCK },
    // Rule 4: a run's status changes only by a statechart transition.
    { selector: "AssignmentExpression[left.type='MemberExpression'][left.property.name='status']", message: STATUS },
    { selector: "UpdateExpression[argument.type='MemberExpression'][argument.property.name='status']", message: STATUS }
  ]
}

// ---------------------------------------------------------------------------------------------

export default defineConfig(
  globalIgnores(["**/node_modules/", "**/dist/", "**/.nx/", "**/coverage/"]),

  {
    name: "gantry/typescript",
    files: TS_FILES,
    extends: [tseslint.configs.recommended],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }
      ]
    }
  },

  // Rule 2, every lib.
  {
    name: "gantry/relative-imports-stay-in-lib",
    files: ["libs/*/**/*.{ts,mts,cts}"],
    plugins: { gantry: gantryPlugin },
    rules: { "gantry/relative-import-stays-in-lib": "error" }
  },

  // Rule 1, ring by ring. Each file gets exactly one `no-restricted-imports` entry (flat config
  // replaces a rule's options rather than merging them), so the file sets below are disjoint.
  {
    name: "gantry/ring-core-src",
    files: ["libs/core/src/**/*.{ts,mts,cts}"],
    rules: {
      "no-restricted-imports": restrictImports(
        gantryExcept([], `libs/core is the pure domain: it may not import any other @gantry package ${SEE}`),
        pkg("xstate", `libs/core is the pure domain: it may not import xstate, actors live in libs/engine ${SEE}`),
        nodeBuiltins("libs/core is the pure domain and"),
        {
          // The allowlist: anything that is not `effect`, a relative file, or already named above.
          regex: `^(?!\\.|effect(/|$)|@gantry/|xstate(/|$)|${NODE_BUILTIN_REGEX.slice(1)})`,
          message: `libs/core is the pure domain: it may import only 'effect' and its own relative files ${SEE}`
        }
      )
    }
  },
  {
    name: "gantry/ring-core-tests",
    files: ["libs/core/**/*.{ts,mts,cts}"],
    ignores: ["libs/core/src/**"],
    rules: {
      "no-restricted-imports": restrictImports(
        gantryExcept(["core"], `libs/core's tests test the pure domain alone: no other @gantry package; cross-lib tests go in test/ ${SEE}`),
        pkg("xstate", `libs/core is the pure domain: its tests may not import xstate ${SEE}`)
      )
    }
  },
  {
    name: "gantry/ring-engine-src",
    files: ["libs/engine/src/**/*.{ts,mts,cts}"],
    rules: {
      "no-restricted-imports": restrictImports(
        gantryExcept(
          ["core"],
          `libs/engine may import only @gantry/core of the gantry packages, not adapters (@gantry/sim, @gantry/store-sqlite, @gantry/platform-node, @gantry/api) nor apps (@gantry/runner): adapters implement engine's ports, not the reverse ${SEE}`
        ),
        nodeBuiltins("libs/engine")
      )
    }
  },
  {
    name: "gantry/ring-engine-tests",
    files: ["libs/engine/**/*.{ts,mts,cts}"],
    ignores: ["libs/engine/src/**"],
    rules: {
      "no-restricted-imports": restrictImports(
        gantryExcept(
          ["core", "engine"],
          `libs/engine's tests may import only @gantry/core and @gantry/engine: an adapter (e.g. @gantry/sim) depends on engine, so tests that need one go in test/ ${SEE}`
        )
      )
    }
  },
  ...ADAPTERS.map((name) => ({
    name: `gantry/ring-adapter-${name}`,
    files: [`libs/${name}/**/*.{ts,mts,cts}`],
    rules: {
      "no-restricted-imports": restrictImports(
        pkg("@gantry/runner", `libs/${name} is an adapter: it may not import an app (@gantry/runner); apps import adapters ${SEE}`),
        ...(name === "sim"
          ? [
              pkg(
                "@gantry/store-sqlite",
                `libs/sim must not import @gantry/store-sqlite: the simulator provides MemoryStore, the runner provides SqliteStore ${SEE}`
              ),
              pkg(
                "@gantry/platform-node",
                `libs/sim must not import @gantry/platform-node: the simulator provides SimExecutor/SimGpus/SimClock, never Node layers ${SEE}`
              )
            ]
          : []),
        // Every other @gantry package is a sibling adapter (or one not yet named above).
        gantryExcept(
          ["core", "engine", name, "runner", ...(name === "sim" ? ["store-sqlite", "platform-node"] : [])],
          `libs/${name} is an adapter: it may import @gantry/core and @gantry/engine, not a sibling adapter ${SEE}`
        )
      )
    }
  })),

  // Rule 3.
  {
    name: "gantry/one-clock-one-random",
    files: ["libs/core/src/**/*.{ts,mts,cts}", "libs/engine/src/**/*.{ts,mts,cts}"],
    rules: timeAndRandomRules
  }
)
