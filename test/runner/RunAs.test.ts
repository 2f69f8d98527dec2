/**
 * Runs as their owner (issue 10): `gantry serve` as root starts a run under the Unix account
 * its owner is mapped to. A throwaway account (and a supplementary group) is made for the
 * test with useradd and removed after it. The test needs root (CI runs as root): without it
 * it fails, it is not skipped.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { processUid } from "@gantry/platform-node"
import { describe, it } from "vitest"
import { HttpError, type RunJson, sandbox } from "./Gantry.js"

interface Account {
  readonly name: string
  readonly uid: number
  readonly gid: number
  readonly home: string
  readonly extraGid: number
}

/** SIGKILL to every process whose real uid is `uid` (what a test's runs left behind). */
const killProcessesOf = (uid: number): void => {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || processUid(Number(entry)) !== uid) continue
    try {
      process.kill(Number(entry), "SIGKILL")
    } catch {
      // gone already
    }
  }
}

/** A throwaway account `gtr<hex>` in a throwaway supplementary group, removed (with its processes) when the test ends. */
const anAccount = (onTestFinished: (fn: () => void) => void): Account => {
  const tag = randomBytes(4).toString("hex")
  const name = `gtr${tag}`
  const group = `gtrg${tag}`
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `gantry-home-${tag}-`))
  execFileSync("groupadd", [group])
  onTestFinished(() => {
    killProcessesOf(Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim()))
    spawnSync("userdel", ["-f", name], { stdio: "ignore" })
    spawnSync("groupdel", [group], { stdio: "ignore" })
    fs.rmSync(home, { recursive: true, force: true })
  })
  execFileSync("useradd", ["-M", "-N", "-s", "/bin/bash", "-d", home, "-G", group, name])
  const [, , uid, gid] = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).trim().split(":")
  const extraGid = Number(execFileSync("getent", ["group", group], { encoding: "utf8" }).split(":")[2])
  fs.chownSync(home, Number(uid), Number(gid))
  return { name, uid: Number(uid), gid: Number(gid), home, extraGid }
}

const owner = (file: string) => {
  const st = fs.statSync(file)
  return { uid: st.uid, gid: st.gid, mode: (st.mode & 0o777).toString(8) }
}

describe.concurrent("issue 10: runs as their owner", () => {
  it("a mapped user's run starts under their account (uid, gid, groups, HOME) and writes files they own; their logs and exit file are theirs", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    expect(process.getuid?.(), "this test starts runs under another account: it must run as root (CI does)").toBe(0)
    const account = anAccount(onTestFinished)
    // something of root's own session the daemon has in its environment
    const s = sandbox(onTestFinished, { env: { ROOT_SECRET: "hunter2" } })
    const d = await s.serve()
    expect(d.stdout).toMatch(/runs as {3}each run's owner's Unix account/)
    const alice = await s.token("alice", ["--unix-user", account.name])
    // a folder only the account can write to
    const out = path.join(s.work, "alice-out")
    fs.mkdirSync(out)
    fs.chownSync(out, account.uid, account.gid)
    fs.chmodSync(out, 0o700)
    const script = 'id -u > uid; id -g > gid; id -G > groups; printf %s "$HOME" > home; printf %s "$USER" > user; printf %s "${ROOT_SECRET-unset}" > secret; printf %s "$PATH" > path; touch made; echo to-stdout; echo to-stderr >&2'
    const submitted = await d.api<{ run: RunJson }>("POST", "/api/runs", { command: ["bash", "-c", script], cwd: out }, { token: alice })
    expect(submitted.run).toMatchObject({ user: "alice", level: "researcher" })
    const [ended] = await d.waitTerminal([submitted.run.id])
    expect(ended, JSON.stringify(ended)).toMatchObject({ status: "completed", exitCode: 0 })

    const read = (f: string) => fs.readFileSync(path.join(out, f), "utf8").trim()
    expect(Number(read("uid"))).toBe(account.uid)
    expect(Number(read("gid"))).toBe(account.gid)
    expect(read("groups").split(" ").map(Number)).toContain(account.extraGid)
    expect(read("groups").split(" ").map(Number)).not.toContain(0)
    expect(read("home")).toBe(account.home)
    expect(read("user")).toBe(account.name)
    expect(read("secret"), "the daemon's own environment stays the daemon's").toBe("unset")
    expect(read("path")).toBe(process.env.PATH)
    expect(owner(path.join(out, "made"))).toMatchObject({ uid: account.uid, gid: account.gid })

    // the logs and the exit file are the account's, private; the daemon (root) read them
    for (const f of [s.logPath(ended!.id, "stdout"), s.logPath(ended!.id, "stderr"), path.join(s.home, "exits", `${ended!.id}.1.json`)])
      expect(owner(f), f).toEqual({ uid: account.uid, gid: account.gid, mode: "600" })
    expect(fs.readFileSync(s.logPath(ended!.id, "stdout"), "utf8")).toBe("to-stdout\n")
    // the account reads its own logs
    const cat = spawnSync("setpriv", ["--reuid", String(account.uid), "--regid", String(account.gid), "--init-groups", "cat", s.logPath(ended!.id, "stderr")], { encoding: "utf8" })
    expect(cat.stdout).toBe("to-stderr\n")

    // the database owner's runs start under the account that made the database: root
    const ownerRun = await s.submit(["bash", "-c", `id -u > "${s.work}/owner-uid"`])
    await d.waitTerminal([ownerRun])
    expect(fs.readFileSync(path.join(s.work, "owner-uid"), "utf8").trim()).toBe("0")
  })

  it("a user with no account here, or whose name is root's without an explicit mapping, is refused at submission", { timeout: 120_000 }, async ({ expect, onTestFinished }) => {
    expect(process.getuid?.(), "this test is about a runner serving as root: it must run as root (CI does)").toBe(0)
    const s = sandbox(onTestFinished)
    const d = await s.serve()
    const ghost = await s.token("ghost-user-without-account")
    const root = await s.token("root")
    for (const [token, pattern] of [
      [ghost, /no Unix account ghost-user-without-account/],
      [root, /would start as root .* gantry user set root --unix-user root/]
    ] as const) {
      try {
        await d.api("POST", "/api/runs", { command: ["true"] }, { token })
        expect.unreachable("the submission was accepted")
      } catch (e) {
        expect(e).toBeInstanceOf(HttpError)
        expect((e as HttpError).status).toBe(403)
        expect((e as HttpError).body).toMatchObject({ code: "PERMISSION_DENIED", message: expect.stringMatching(pattern) })
      }
    }
    expect(await d.list()).toHaveLength(0)
    // mapped explicitly by an admin, root's runs may start as root
    await s.ok(["user", "set", "root", "--unix-user", "root"])
    const r = await d.api<{ run: RunJson }>("POST", "/api/runs", { command: ["true"] }, { token: root })
    expect((await d.waitTerminal([r.run.id]))[0]).toMatchObject({ status: "completed" })
  })
})
