/**
 * SPEC §1 routing and the identity schemas: `routeQueue` picks the submission's own queue,
 * else the project's default, else `default`, and refuses a queue the project may not use;
 * user names that would not print on one line, or read as paths, are refused.
 */
import { fc } from "@fast-check/vitest"
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { atLeast, DEFAULT_QUEUE, IdentityName, Level, type Project, ProjectName, QueueName, routeQueue } from "../src/internal.js"

const q = (name: string) => QueueName.make(name)
const project = (defaultQueue: string, queues: ReadonlyArray<string>): Project => ({ name: ProjectName.make("p"), defaultQueue: q(defaultQueue), queues: queues.map(q) })

describe("routeQueue", () => {
  it("the submission's queue, else the project's default, else default", () => {
    expect(routeQueue(q("r"), project("q", []))).toEqual(Either.right("r"))
    expect(routeQueue(undefined, project("q", ["q", "r"]))).toEqual(Either.right("q"))
    expect(routeQueue(undefined, null)).toEqual(Either.right(DEFAULT_QUEUE))
    expect(routeQueue(q("s"), null)).toEqual(Either.right("s"))
  })

  it("a queue the project may not use is refused, naming both and what it may use", () => {
    const refused = routeQueue(q("s"), project("q", ["q", "r"]))
    expect(Either.isLeft(refused)).toBe(true)
    if (Either.isLeft(refused)) expect(refused.left).toMatchObject({ queue: "s", project: "p", message: "project p may not use queue s (it may use q, r)" })
  })

  it("property: the route is always the most specific queue given, and allowed when it is returned", () => {
    const name = fc.constantFrom("q", "r", "s", "t").map(q)
    fc.assert(
      fc.property(fc.option(name, { nil: undefined }), fc.option(fc.record({ def: name, queues: fc.uniqueArray(name, { maxLength: 3 }) }), { nil: null }), (requested, p) => {
        const proj = p === null ? null : project(p.def, p.queues.includes(p.def) || p.queues.length === 0 ? p.queues : [p.def, ...p.queues])
        const route = routeQueue(requested, proj)
        const expected = requested ?? proj?.defaultQueue ?? DEFAULT_QUEUE
        if (Either.isRight(route)) {
          expect(route.right).toBe(expected)
          expect(proj === null || proj.queues.length === 0 || proj.queues.includes(route.right)).toBe(true)
        } else {
          expect(route.left.queue).toBe(expected)
          expect(proj?.queues.includes(expected)).toBe(false)
        }
      })
    )
  })
})

describe("identities", () => {
  it("levels are ordered viewer < researcher < lead < admin", () => {
    const order = ["viewer", "researcher", "lead", "admin"] as const
    expect([...Level.literals].sort()).toEqual([...order].sort())
    for (const a of order) for (const b of order) expect(atLeast({ level: a }, b), `${a} at least ${b}`).toBe(order.indexOf(a) >= order.indexOf(b))
    expect(atLeast({ level: "lead" }, "researcher")).toBe(true)
    expect(atLeast({ level: "researcher" }, "lead")).toBe(false)
    expect(atLeast({ level: "admin" }, "admin")).toBe(true)
    expect(atLeast({ level: "viewer" }, "researcher")).toBe(false)
  })

  it("a user name prints on one line, has no padding or '/', and is not a path dot", () => {
    const ok = Schema.is(IdentityName)
    for (const name of ["ana", "ana.lima@lab.org", "José", "a b"]) expect(ok(name), name).toBe(true)
    for (const name of ["", " ", " ana", "ana ", "a\nb", "a\u0000b", "a\u001bb", ".", "..", "a/b", "x".repeat(129)]) expect(ok(name), JSON.stringify(name)).toBe(false)
  })
})
