/**
 * The policies a what-if replay compares (issue 12): presets with fixed definitions, and
 * policy files in the format the runner loads (`gantry limits --format json > p.json`,
 * `gantry limits set --file p.json`).
 *
 * Presets:
 * - `fifo`: strict submission order. No count limits, no aging, no fair share, every level at
 *   the same priority, no backfill: a head that does not fit reserves the free GPUs it needs
 *   (the head-of-line reservation), so nothing behind it starts before it.
 * - `priority`: levels' priorities (admin 30, lead 20, researcher 10, viewer 0) with aging
 *   (SPEC §3), no backfill.
 * - `fair-share`: `priority`, ordered within a priority by each user's and team's decayed GPU
 *   usage (half-life 24 h): the lighter user first.
 * - `backfill`: `priority` with EASY backfill (runs with a time limit that ends before the
 *   head's reserved start may use its GPUs meanwhile): gantry's default policy.
 */
import { defaultPolicy, Policy } from "@gantry/core"
import { Either, ParseResult, Schema } from "effect"
import * as fs from "node:fs"

export const PRESETS = ["fifo", "priority", "fair-share", "backfill"] as const
export type PresetName = (typeof PRESETS)[number]

const priority: Policy = { ...defaultPolicy, backfill: false }

export const presetPolicy: Readonly<Record<PresetName, Policy>> = {
  fifo: {
    ...defaultPolicy,
    limits: { maxConcurrent: null, userMaxConcurrent: null, teamMaxConcurrent: null, localGpuMaxConcurrent: null, localJobMaxConcurrent: null },
    aging: null,
    fairShare: { ...defaultPolicy.fairShare, mode: "off" },
    backfill: false,
    levelPriorities: { admin: 0, lead: 0, researcher: 0, viewer: 0 }
  },
  priority,
  "fair-share": { ...priority, fairShare: { mode: "usage", halfLifeMs: 24 * 3_600_000 } },
  backfill: { ...priority, backfill: true }
}

/** A policy to compare: its name in reports, its version label when known, and the policy. */
export interface NamedPolicy {
  readonly name: string
  /** A version label (e.g. a policy history's "v3, 2024-05-01"), shown beside the name. */
  readonly label?: string
  readonly policy: Policy
}

/** A policy that cannot be read: what and where (a key's path, the file). */
export class PolicyInputError extends Error {
  readonly _tag = "PolicyInputError"
}

const decodePolicy = Schema.decodeUnknownEither(Policy, { onExcessProperty: "error", errors: "all" })

/** Every problem of a policy file, one per line, each naming the key's path (never the whole value). */
const problemsOf = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((i) => `${i.path.length === 0 ? "(the file)" : i.path.map(String).join(".")}: ${i._tag === "Unexpected" ? "unknown key" : i.message.slice(0, 200)}`)
    .join("; ")

/** A policy file's text, decoded as the runner decodes it: unknown keys refused, each problem named. */
export const parsePolicyFile = (text: string, file: string): Policy => {
  let json: unknown
  try {
    json = JSON.parse(text) as unknown
  } catch (e) {
    throw new PolicyInputError(`${file}: not JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  const decoded = decodePolicy(json)
  if (Either.isLeft(decoded)) throw new PolicyInputError(`${file}: ${problemsOf(decoded.left)}`)
  return decoded.right
}

/**
 * `--policy SPEC`: a preset's name, else a policy file's path (its base name is its label).
 * Neither is an error naming the presets.
 */
export const resolvePolicy = (spec: string): NamedPolicy => {
  if ((PRESETS as ReadonlyArray<string>).includes(spec)) return { name: spec, policy: presetPolicy[spec as PresetName] }
  let text: string
  try {
    text = fs.readFileSync(spec, "utf8")
  } catch {
    throw new PolicyInputError(`--policy ${spec}: neither a preset (${PRESETS.join(", ")}) nor a readable policy file`)
  }
  return { name: spec.replace(/^.*\//, "").replace(/\.json$/, ""), policy: parsePolicyFile(text, spec) }
}
