/**
 * Response shapes written out by hand, as the common GPU-server queue API's clients read them
 * (its server's response models), independent of gantry's own schemas: `problems` lists every
 * field that is missing, extra, or of another type, so a contract test can assert there are
 * none.
 */

/** A field's type: a JSON type, "int" (a whole number), a "|null" variant, a list, a string-keyed map, or a nested shape. */
export type Kind =
  | "string"
  | "int"
  | "number"
  | "boolean"
  | "string|null"
  | "int|null"
  | "number|null"
  | "int[]"
  | "int[]|null"
  | "string[]"
  | "map<int>"
  | "array"
  | "object"
  | Shape
  | { readonly list: Shape }
  | { readonly optional: Kind }

export interface Shape {
  readonly [field: string]: Kind
}

const typeOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value === "number" && Number.isInteger(value) ? "int" : typeof value

const fits = (value: unknown, kind: string): boolean => {
  const actual = typeOf(value)
  switch (kind) {
    case "number":
      return actual === "int" || actual === "number"
    case "int[]":
      return Array.isArray(value) && value.every((v) => typeOf(v) === "int")
    case "string[]":
      return Array.isArray(value) && value.every((v) => typeof v === "string")
    case "array":
      return Array.isArray(value)
    case "map<int>":
      return actual === "object" && Object.values(value as object).every((v) => typeOf(v) === "int")
    default:
      return actual === kind
  }
}

/** Every way `value` differs from `shape` (empty when it fits), each naming the field's path. */
export const problems = (value: unknown, shape: Shape, at = "$"): ReadonlyArray<string> => {
  if (typeOf(value) !== "object") return [`${at}: expected an object, got ${JSON.stringify(value)}`]
  const record = value as Record<string, unknown>
  const found: Array<string> = []
  for (const key of Object.keys(record)) if (!(key in shape)) found.push(`${at}.${key}: not in the shape`)
  for (const [key, kind] of Object.entries(shape)) {
    const path = `${at}.${key}`
    if (typeof kind === "object" && "optional" in kind) {
      if (key in record) found.push(...problemsOfKind(record[key], kind.optional as Kind, path))
      continue
    }
    if (!(key in record)) {
      found.push(`${path}: missing`)
      continue
    }
    found.push(...problemsOfKind(record[key], kind, path))
  }
  return found
}

const problemsOfKind = (value: unknown, kind: Kind, path: string): ReadonlyArray<string> => {
  if (typeof kind === "string") {
    const ok = kind.split("|").some((k) => (k === "null" ? value === null : fits(value, k)))
    return ok ? [] : [`${path}: expected ${kind}, got ${JSON.stringify(value)}`]
  }
  if ("list" in kind) {
    if (!Array.isArray(value)) return [`${path}: expected a list, got ${JSON.stringify(value)}`]
    return value.flatMap((item, i) => problems(item, kind.list as Shape, `${path}[${i}]`))
  }
  return problems(value, kind as Shape, path)
}
