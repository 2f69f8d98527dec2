/**
 * A CLI people can read (issue 11): every command's `--help`, read through a pipe as a script
 * or `less` would, has no colour codes, and every option and argument it lists says what it is
 * for (not only @effect/cli's "A user-defined piece of text.").
 */
import { describe, it } from "vitest"
import { sandbox } from "./Gantry.js"

/** Every command of `gantry` (checked below against the commands its own help lists). */
const COMMANDS = [
  "serve",
  "submit",
  "run",
  "runs",
  "runs show",
  "logs",
  "cancel",
  "release",
  "approve",
  "reject",
  "priority",
  "queues",
  "queue create",
  "queue update",
  "queue delete",
  "limits",
  "limits set",
  "policy apply",
  "policy history",
  "policy diff",
  "policy show",
  "gpus",
  "gpu drain",
  "gpu undrain",
  "stats",
  "cleanup",
  "process",
  "token create",
  "token list",
  "token revoke",
  "user list",
  "user set",
  "whoami",
  "login",
  "logout",
  "projects",
  "project create",
  "project update",
  "project delete",
  "config save",
  "config list",
  "config show",
  "config delete",
  "sim",
  "sim mmc"
]

/** What @effect/cli prints for any option: its type and whether it is optional, not what it is for. */
const BOILERPLATE = [
  /^A user-defined piece of text\.$/,
  /^A true or false value\.$/,
  /^An integer\.$/,
  /^One of the following: /,
  /^This setting is optional\.$/,
  /^This option may be repeated/,
  /^This argument may be repeated/,
  /^This setting is optional/,
  /^This setting has a default value/,
  /^This option has a default/
]

/** The option and argument blocks of a help text: the name line and its paragraphs. */
const blocks = (help: string): Array<{ readonly name: string; readonly paragraphs: Array<string> }> => {
  const out: Array<{ name: string; paragraphs: Array<string> }> = []
  let section = ""
  for (const line of help.split("\n")) {
    if (/^[A-Z][A-Z ]+$/.test(line)) {
      section = line
      continue
    }
    if (section !== "OPTIONS" && section !== "ARGUMENTS") continue
    if (line === "") continue
    if (!line.startsWith(" ")) out.push({ name: line, paragraphs: [] })
    else out.at(-1)?.paragraphs.push(line.trim())
  }
  return out
}

describe("issue 11: every command's help", () => {
  it("has no colour codes through a pipe, and every option and argument says what it is for", { timeout: 300_000 }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished)
    const top = await s.cli(["--help"])
    const listed = [...top.stdout.matchAll(/^ {2}- (\S+)/gm)].map((m) => m[1]!)
    expect(new Set(listed)).toEqual(new Set(COMMANDS.map((c) => c.split(" ")[0]!)))
    const commands = ["", ...COMMANDS]
    const bare: Array<string> = []
    // a few at a time: each is a node process of its own
    const helps: Array<{ readonly command: string; readonly r: Awaited<ReturnType<typeof s.cli>> }> = []
    for (let i = 0; i < commands.length; i += 6)
      helps.push(...(await Promise.all(commands.slice(i, i + 6).map(async (command) => ({ command, r: await s.cli([...command.split(" ").filter((w) => w !== ""), "--help"]) })))))
    for (const { command, r } of helps) {
      expect(r.code, `gantry ${command} --help: ${r.stderr}`).toBe(0)
      expect(r.stdout + r.stderr, `gantry ${command} --help`).not.toMatch(/\x1b\[/)
      if (command === "") continue
      const found = blocks(r.stdout)
      expect(found.length, `gantry ${command} --help lists its options`).toBeGreaterThan(0)
      for (const b of found) if (!b.paragraphs.some((p) => !BOILERPLATE.some((re) => re.test(p)))) bare.push(`${command}: ${b.name}`)
    }
    expect(bare).toEqual([])
    // a refused command line is printed without colour too
    const refused = await s.cli(["runs", "--limit"])
    expect(refused.code).toBe(64)
    expect(refused.stderr).not.toMatch(/\x1b\[/)
  })
})
