/**
 * `gantry policy` (issue 12): roll out what was tested. The policy file is the one the runner
 * loads, `gantry limits --format json` writes and `gantry sim --policy FILE` replays.
 * - `policy apply FILE [--note TEXT]` (admin): the file becomes the live policy, as a new
 *   version, recorded with who, when and how; it prints the version and what changed. A file
 *   that changes nothing makes no version, and says so.
 * - `policy history [--limit N]`: the versions, newest first, each with what it changed.
 * - `policy diff A B`: A and B each a version number, `current` or a policy file.
 * - `policy show [VERSION]`: one version (default: the live one) and who applied it.
 *
 * A file that cannot be read is exit 66; one that is not a policy (not JSON, an unknown key,
 * a wrong value) is exit 65 naming the key; wrong options are 64. A version that does not
 * exist is the runner's 404 (exit 66).
 */
import { Args, Command, Options } from "@effect/cli"
import { type ApiError, PolicyVersionJson } from "@gantry/api"
import type { Policy } from "@gantry/core"
import { parsePolicyFile, PolicyInputError } from "@gantry/sim"
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import { print, withControl } from "./CliCommon.js"
import type { Control } from "./Control.js"
import * as F from "./Format.js"
import { CliError, common, usage } from "./Input.js"
import { changeText, type PolicyChange, policyChanges } from "./PolicyDiff.js"

/** The longest note kept with a version. */
const NOTE_MAX = 1000
const HISTORY_MAX = 1000

/** A policy file, read and decoded as the runner and the simulator decode it: unknown keys refused, each problem named. */
export const readPolicyFile = (file: string): Effect.Effect<Policy, CliError> =>
  Effect.gen(function* () {
    const text = yield* Effect.try({
      try: () => fs.readFileSync(file, "utf8"),
      catch: (e) => new CliError({ message: `${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, exit: 66 })
    })
    return yield* Effect.try({
      try: () => parsePolicyFile(text, file),
      catch: (e) => new CliError({ message: e instanceof PolicyInputError ? e.message : String(e), exit: 65 })
    })
  })

/** A change as JSON: the key and its two values (null is none). */
const changeJson = (c: PolicyChange) => ({ key: c.key, from: c.from ?? null, to: c.to ?? null })

const encodeVersion = Schema.encodeSync(PolicyVersionJson)

// ------------------------------------------------------------------ apply

const applyOptions = {
  ...common,
  note: Options.text("note").pipe(Options.optional, Options.withDescription(`why: kept with the version (gantry policy history shows it); ${NOTE_MAX} characters at most`)),
  file: Args.text({ name: "file" }).pipe(
    Args.withDescription("a policy file, as `gantry limits --format json` writes it and `gantry sim --policy` replays it; an unknown key is an error naming it")
  )
}
const applyCommand = Command.make("apply", applyOptions, (a) =>
  Effect.gen(function* () {
    const note = Option.getOrUndefined(a.note)?.trim()
    if (note !== undefined && note.length > NOTE_MAX) return yield* usage(`--note: ${NOTE_MAX} characters at most, not ${note.length}`)
    const policy = yield* readPolicyFile(a.file)
    yield* withControl(
      a,
      (control) =>
        Effect.gen(function* () {
          const before = yield* control.limits
          const after = yield* control.setLimits(policy, { source: "apply", ...(note !== undefined && note !== "" ? { note } : {}) })
          if (after.version === before.version) {
            if (a.format === "json") return yield* print(F.json({ applied: false, version: after.version, previous: before.version, changes: [] }))
            return yield* print(`no change: ${a.file} is the live policy (version ${after.version}); no new version`)
          }
          // what it replaced: the version before it (another change may have come in between)
          const previous = yield* control.policyVersion(after.version - 1).pipe(
            Effect.map((v) => v.policy),
            Effect.orElseSucceed(() => before)
          )
          const changes = policyChanges(previous, after)
          if (a.format === "json") return yield* print(F.json({ applied: true, version: after.version, previous: previous.version, changes: changes.map(changeJson) }))
          yield* print([`applied ${a.file} as policy version ${after.version} (was version ${previous.version}):`, ...changes.map((c) => `  ${changeText(c)}`)].join("\n"))
        }),
      { create: true }
    )
  })
).pipe(Command.withDescription("make a policy file the live policy, as a new version (admins); prints what changed"))

// ------------------------------------------------------------------ history

/** The first version shown has no predecessor here: where history began. */
const beginning = (v: PolicyVersionJson): string =>
  v.source === "default" ? "the built-in default" : v.source === "migration" ? "the policy in force when history began" : "the first version recorded"

const historyOptions = {
  ...common,
  limit: Options.integer("limit").pipe(Options.withAlias("l"), Options.withDefault(20), Options.withDescription(`the newest N versions (1-${HISTORY_MAX})`))
}
const historyCommand = Command.make("history", historyOptions, (a) =>
  Effect.gen(function* () {
    if (a.limit < 1 || a.limit > HISTORY_MAX) return yield* usage(`--limit must be from 1 to ${HISTORY_MAX}, not ${a.limit}`)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        // one more than shown: the oldest shown is compared with the one before it
        const asked = Math.min(a.limit + 1, HISTORY_MAX)
        const versions = yield* control.policyHistory(asked)
        const shown = versions.slice(0, a.limit)
        const changesOf = (i: number): ReadonlyArray<PolicyChange> | null => {
          const older = versions[i + 1]
          return older === undefined ? null : policyChanges(older.policy, versions[i]!.policy)
        }
        if (a.format === "json")
          return yield* print(F.json(shown.map((v, i) => ({ ...encodeVersion(v), changes: changesOf(i)?.map(changeJson) ?? null }))))
        if (shown.length === 0) return yield* print("no policy versions recorded")
        const summary = (v: PolicyVersionJson, i: number): string => {
          const changes = changesOf(i)
          if (changes === null) return versions.length < asked ? beginning(v) : "-"
          return changes.length === 0 ? "no change" : F.truncate(changes.map(changeText).join("; "), 100)
        }
        yield* print(
          F.table(
            ["version", "applied", "by", "how", "note", "changes"],
            shown.map((v, i) => [v.version, F.localTime(v.appliedAt), v.appliedBy ?? "system", v.source, v.note === null ? "-" : F.truncate(v.note, 40), summary(v, i)])
          )
        )
      })
    )
  })
).pipe(Command.withDescription("the policy's versions, newest first: when, by whom, how, why and what each changed"))

// ------------------------------------------------------------------ diff and show

/** A policy to compare, and how the report names it. */
interface Side {
  readonly label: string
  readonly policy: Policy
}

const isVersion = (spec: string) => /^\d{1,15}$/.test(spec)

/** A version number or `current` (the runner's), else a policy file (read here). */
const sideOf = (spec: string, control: Control | null): Effect.Effect<Side, ApiError | CliError> => {
  if (control !== null && isVersion(spec)) return Effect.map(control.policyVersion(Number(spec)), (v) => ({ label: `version ${v.version}`, policy: v.policy }))
  if (control !== null && spec === "current") return Effect.map(control.limits, (p) => ({ label: `current (version ${p.version})`, policy: p }))
  return Effect.map(
    readPolicyFile(spec).pipe(
      Effect.mapError((e) => (e.exit === 66 && !spec.includes("/") && !spec.includes(".") ? new CliError({ message: `${e.message}: neither a version number, current, nor a policy file`, exit: 66 }) : e))
    ),
    (policy) => ({ label: `${spec} (version ${policy.version} in the file)`, policy })
  )
}

const diffOptions = {
  ...common,
  a: Args.text({ name: "a" }).pipe(Args.withDescription("the first policy: a version number (gantry policy history), current, or a policy file")),
  b: Args.text({ name: "b" }).pipe(Args.withDescription("the second policy: a version number, current, or a policy file"))
}
const diffCommand = Command.make("diff", diffOptions, (a) =>
  Effect.gen(function* () {
    const compare = (control: Control | null) =>
      Effect.gen(function* () {
        const first = yield* sideOf(a.a, control)
        const second = yield* sideOf(a.b, control)
        const changes = policyChanges(first.policy, second.policy)
        if (a.format === "json") return yield* print(F.json({ a: first.label, b: second.label, identical: changes.length === 0, changes: changes.map(changeJson) }))
        if (changes.length === 0) return yield* print(`${first.label} and ${second.label} are identical`)
        yield* print([`${first.label} → ${second.label}:`, ...changes.map((c) => `  ${changeText(c)}`)].join("\n"))
      })
    // two files need no runner
    const needsRunner = [a.a, a.b].some((spec) => isVersion(spec) || spec === "current")
    yield* needsRunner ? withControl(a, (control) => compare(control)) : compare(null)
  })
).pipe(Command.withDescription("what differs between two policies: versions, current, or policy files (exit 0 either way)"))

const showOptions = {
  ...common,
  version: Args.text({ name: "version" }).pipe(Args.optional, Args.withDescription("a version number (gantry policy history), or current (the default)"))
}
const showCommand = Command.make("show", showOptions, (a) =>
  Effect.gen(function* () {
    const spec = Option.getOrElse(a.version, () => "current")
    if (spec !== "current" && !isVersion(spec)) return yield* usage(`policy show: a version number or current, not "${spec}"`)
    yield* withControl(a, (control) =>
      Effect.gen(function* () {
        const version = yield* control.policyVersion(spec === "current" ? (yield* control.limits).version : Number(spec))
        if (a.format === "json") return yield* print(F.json(encodeVersion(version)))
        const { gpus } = yield* control.status
        yield* print(
          [
            `policy version ${version.version}: applied ${F.localTime(version.appliedAt)} by ${version.appliedBy ?? "system"} (${version.source})${version.note === null ? "" : `: ${version.note}`}`,
            "",
            F.policyTable(version.policy, gpus.length)
          ].join("\n")
        )
      })
    )
  })
).pipe(Command.withDescription("one version of the policy (default: the live one), who applied it and when"))

export const policyCommand = Command.make("policy").pipe(
  Command.withSubcommands([applyCommand, historyCommand, diffCommand, showCommand]),
  Command.withDescription("the policy's versions: apply a file, history, diff, show")
)

export const policySpecs = [
  ["policy apply", applyOptions],
  ["policy history", historyOptions],
  ["policy diff", diffOptions],
  ["policy show", showOptions]
] as const
