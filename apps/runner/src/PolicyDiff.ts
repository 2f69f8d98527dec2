/**
 * What differs between two policies, field by field, as dotted key paths of the policy file
 * (`limits.userMaxConcurrent: 2 → none`). The `version` is left out: it names a policy, it
 * does not change what the policy does. Two policies with no change are the same policy
 * (`policy apply` of the live one makes no new version).
 */
import type { Policy } from "@gantry/core"

/** One field that differs: its path and its two values (null is "none"). */
export interface PolicyChange {
  readonly key: string
  readonly from: unknown
  readonly to: unknown
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Equal as JSON values, whatever the order of their keys. */
const same = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys].every((k) => same(a[k], b[k]))
  }
  return false
}

/**
 * The fields of `b` that differ from `a`, in the order of the policy's keys. Objects on both
 * sides are walked into; anything else (a value, a list, an object against null) is one change.
 */
export const policyChanges = (a: Policy, b: Policy): ReadonlyArray<PolicyChange> => {
  const out: Array<PolicyChange> = []
  const walk = (x: unknown, y: unknown, prefix: string) => {
    if (isRecord(x) && isRecord(y)) {
      const keys = [...Object.keys(x), ...Object.keys(y).filter((k) => !(k in x))]
      for (const k of keys) {
        if (prefix === "" && k === "version") continue
        walk(x[k], y[k], prefix === "" ? k : `${prefix}.${k}`)
      }
      return
    }
    if (!same(x, y)) out.push({ key: prefix, from: x, to: y })
  }
  walk(a, b, "")
  return out
}

/** The same policy, but for its version. */
export const samePolicy = (a: Policy, b: Policy): boolean => policyChanges(a, b).length === 0

/** A value as the diff shows it: null (and a field absent) is "none", anything else as JSON. */
export const valueText = (v: unknown): string => (v === null || v === undefined ? "none" : typeof v === "string" ? v : JSON.stringify(v))

/** `limits.userMaxConcurrent: 2 → none` */
export const changeText = (c: PolicyChange): string => `${c.key}: ${valueText(c.from)} → ${valueText(c.to)}`
