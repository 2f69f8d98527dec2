/**
 * What the engine's statecharts may use (issue 9). The run and scheduler machines are stepped
 * through a cache of XState's answers (Stepper.ts): a Stepper runs named actions and delayed
 * events, nothing else. So no machine of the engine may invoke or spawn actors, send to other
 * actors, or raise events immediately — checked here on every state node of every machine,
 * rather than discovered at run time. And every transition a run can take is declared by the
 * run machine: each status change has a named action saying why.
 */
import { gpuMachine, queueMachine, runMachine, schedulerMachine, workerMachine } from "@gantry/engine"
import { RunStatus } from "@gantry/core"
import { describe, expect, it } from "vitest"
import type { AnyStateMachine, AnyStateNode } from "xstate"

/** Built-in XState actions a stepped machine cannot run. */
const FORBIDDEN = new Set(["xstate.spawnChild", "xstate.sendTo", "xstate.sendParent", "xstate.forwardTo", "xstate.emit", "xstate.enqueueActions", "xstate.stopChild"])

interface Found {
  readonly node: string
  readonly what: string
}

/** Every action object of a state node: entry, exit, and those of its transitions (event, always, after). */
const actionsOf = (node: AnyStateNode): ReadonlyArray<{ readonly where: string; readonly action: unknown }> => {
  const out: Array<{ where: string; action: unknown }> = []
  for (const action of node.entry) out.push({ where: "entry", action })
  for (const action of node.exit) out.push({ where: "exit", action })
  for (const [event, transitions] of node.transitions) for (const t of transitions) for (const action of t.actions) out.push({ where: `on ${event}`, action })
  for (const t of node.always ?? []) for (const action of t.actions) out.push({ where: "always", action })
  return out
}

const typeOf = (action: unknown): string =>
  typeof action === "string" ? action : typeof action === "function" ? ((action as { type?: string }).type ?? "inline function") : String((action as { type?: unknown }).type)

const violations = (machine: AnyStateMachine): ReadonlyArray<Found> => {
  const found: Array<Found> = []
  const visit = (node: AnyStateNode) => {
    if (node.invoke.length > 0) found.push({ node: node.id, what: `invoke ${node.invoke.map((i) => String(i.src)).join(", ")}` })
    for (const { where, action } of actionsOf(node)) {
      const type = typeOf(action)
      if (FORBIDDEN.has(type)) found.push({ node: node.id, what: `${where}: ${type}` })
      if (type === "inline function") found.push({ node: node.id, what: `${where}: an inline action (name it in setup())` })
      // raise is allowed only delayed (XState's `after:` is a delayed raise)
      if (type === "xstate.raise" && (action as { delay?: unknown }).delay === undefined && !where.startsWith("on xstate.after"))
        found.push({ node: node.id, what: `${where}: an immediate raise` })
    }
    for (const child of Object.values(node.states)) visit(child)
  }
  visit(machine.root)
  return found
}

const MACHINES: ReadonlyArray<[string, AnyStateMachine]> = [
  ["run", runMachine],
  ["scheduler", schedulerMachine],
  ["queue", queueMachine],
  ["gpu", gpuMachine],
  ["worker", workerMachine]
]

describe("the engine's statecharts use only what a Stepper can run", () => {
  it.each(MACHINES)("%s machine: no invoke, spawnChild, sendTo, immediate raise or inline action", (_, machine) => {
    expect(violations(machine)).toEqual([])
  })

  it("the check finds what it forbids (a machine with invoke, sendTo and an inline action)", async () => {
    const { createMachine, sendTo, fromPromise } = await import("xstate")
    const bad = createMachine({
      id: "bad",
      initial: "a",
      states: {
        a: {
          invoke: { src: fromPromise(async () => 1) },
          on: { GO: { target: "b", actions: [sendTo("other", { type: "X" }), () => {}] } }
        },
        b: {}
      }
    })
    expect(violations(bad).map((v) => v.what)).toEqual([expect.stringMatching(/^invoke/), "on GO: xstate.sendTo", "on GO: an inline action (name it in setup())"])
  })
})

describe("every status the run machine can reach is a RunStatus, each reached by a declared transition", () => {
  it("its states are the statuses of SPEC §2 (and `submitted`, never stored)", () => {
    expect(Object.keys(runMachine.root.states).sort()).toEqual([...RunStatus.literals, "submitted"].sort())
  })
})
