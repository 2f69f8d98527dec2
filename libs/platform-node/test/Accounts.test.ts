import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { AccountLookupError, canSwitchUser, lookupAccount, lookupAccountByUid, parsePasswdLine, untraversable } from "../src/Accounts.js"
import { anAccount, cleanupAll, tempDir } from "./helpers.js"

afterEach(cleanupAll)

/** Runs `body` with a fake `getent` first on PATH that logs its arguments and runs `script`. */
const withFakeGetent = <A>(script: string, body: (calls: string) => A): A => {
  const bin = tempDir("gantry-bin-")
  const calls = join(bin, "calls")
  writeFileSync(join(bin, "getent"), `#!/bin/sh\necho "$*" >> "${calls}"\n${script}\n`)
  chmodSync(join(bin, "getent"), 0o755)
  const path = process.env.PATH
  process.env.PATH = `${bin}:${path ?? ""}`
  try {
    return body(calls)
  } finally {
    process.env.PATH = path
  }
}

describe("Accounts: lookupAccount", () => {
  it("finds root through getent: name, uid, gid, home and shell", () => {
    const root = lookupAccount("root")
    expect(root).toMatchObject({ name: "root", uid: 0, gid: 0, home: "/root" })
    expect(root?.shell).toMatch(/^\//)
    expect(lookupAccountByUid(0)).toEqual(root)
  })

  it("finds an account made by useradd, with its home", () => {
    const { account } = anAccount()
    expect(account.name).toMatch(/^gty[0-9a-f]{8}$/)
    expect(account.uid).toBeGreaterThan(0)
    expect(account.shell).toBe("/bin/bash")
    expect(lookupAccountByUid(account.uid)).toEqual(account)
  })

  it("answers null for a name getent does not know, and for a uid no account has", () => {
    expect(lookupAccount("gantry-no-such-user-xyz")).toBeNull()
    expect(lookupAccountByUid(4_000_000_000)).toBeNull()
    for (const uid of [-1, 1.5, Number.NaN, 2 ** 40]) expect(lookupAccountByUid(uid)).toBeNull()
  })

  it("never asks getent about a hostile name (`:`, control characters, a leading `-`, empty), and refuses an answer for another name", () => {
    const hostile = ["", "-s", "--help", "root:x", "ro\nt", "root\n", "a\u0000b", "tab\there", "del\u007f", "x".repeat(257)]
    withFakeGetent('echo "root:x:0:0:root:/root:/bin/bash"', (calls) => {
      for (const name of hostile) expect(lookupAccount(name), JSON.stringify(name)).toBeNull()
      expect(existsSync(calls), "getent was called").toBe(false)
      // a plain name that getent answers for another (as it does for a numeric uid): no account
      expect(lookupAccount("toor")).toBeNull()
      expect(existsSync(calls)).toBe(true)
    })
    expect(lookupAccount("0"), "getent reads a number as a uid: root is not called \"0\"").toBeNull()
  })

  it("throws AccountLookupError when getent cannot answer (not: no such account)", () => {
    withFakeGetent("echo 'nss: database down' >&2; exit 1", () => {
      expect(() => lookupAccount("someone")).toThrow(AccountLookupError)
      expect(() => lookupAccount("someone")).toThrow(/database down/)
    })
    withFakeGetent("exit 2", () => expect(lookupAccount("someone")).toBeNull())
  })

  it("parses passwd lines of seven fields only", () => {
    expect(parsePasswdLine("ana:x:1001:100:Ana,,,:/home/ana:/bin/zsh\n")).toEqual({ name: "ana", uid: 1001, gid: 100, home: "/home/ana", shell: "/bin/zsh" })
    expect(parsePasswdLine("ana:x:1001:100::/home/ana:")).toEqual({ name: "ana", uid: 1001, gid: 100, home: "/home/ana" })
    for (const bad of ["ana:x:1001:100:/home/ana:/bin/sh", "ana:x:-1:100::/h:/s", "ana:x:1001:g::/h:/s", ":x:1:1::/h:/s", "ana:x:99999999999:1::/h:/s", ""]) {
      expect(parsePasswdLine(bad), bad).toBeNull()
    }
  })
})

describe("Accounts: canSwitchUser and untraversable", () => {
  it("can switch user exactly when root", () => {
    expect(canSwitchUser()).toBe(process.getuid?.() === 0)
  })

  it("names the first folder from / down to the data dir that others cannot search", () => {
    const top = tempDir() // mkdtemp: 0700
    const data = join(top, "a", "data")
    mkdirSync(data, { recursive: true, mode: 0o755 })
    chmodSync(join(top, "a"), 0o755)
    chmodSync(data, 0o755)
    expect(untraversable(data)).toBe(top)
    chmodSync(top, 0o711)
    expect(untraversable(data)).toBeNull()
    chmodSync(data, 0o750)
    expect(untraversable(data), "the data dir itself").toBe(data)
    chmodSync(data, 0o701)
    expect(untraversable(data)).toBeNull()
    expect(untraversable(join(data, "missing")), "a folder that does not exist").toBe(join(data, "missing"))
    // through a symlink: the real path's folders count too
    const hidden = tempDir()
    mkdirSync(join(hidden, "real"), { mode: 0o755 })
    chmodSync(join(hidden, "real"), 0o755)
    symlinkSync(join(hidden, "real"), join(data, "link"))
    expect(untraversable(join(data, "link"))).toBe(hidden)
  })
})
