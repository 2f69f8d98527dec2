/**
 * Which Unix account a run starts under (SPEC §8, docs/RUNNER.md "Runs as their owner").
 *
 * - A runner serving as **root** starts each run under its owner's account: the account the
 *   user is mapped to (`gantry user set NAME --unix-user ACCOUNT`), else the account of the
 *   user's own name. Never root, unless an admin mapped the user to root by name (the
 *   database's owner is mapped to the account that created it). A user with no account here
 *   cannot submit: the submission is refused now, not failed when it would start.
 * - A runner serving as anyone else starts every run under its own account, and says so.
 */
import type { Identity } from "@gantry/core"
import { canSwitchUser, lookupAccount, type RunAccount } from "@gantry/platform-node"

export interface RunAs {
  /** Whether runs start under their owners' accounts (the runner is root). */
  readonly switching: boolean
  /** Why this user's runs could not start here, or null when they can. */
  readonly problem: (identity: Identity) => string | null
  /** The account a run of this user starts under (throws when there is none: the run fails to start, never runs as root instead). */
  readonly accountOf: (identity: Identity | undefined, user: string) => RunAccount | null
}

/** How long a looked-up account is trusted: a found one for a minute, a missing one for 5 s. */
const FOUND_MS = 60_000
const MISSING_MS = 5_000

/**
 * `lookupAccount`, remembered for a while: it runs `getent` (NSS may ask a directory server),
 * a child process the daemon would otherwise wait for at every submission and every start.
 */
const cachedLookup = (() => {
  const seen = new Map<string, { readonly at: number; readonly account: RunAccount | null }>()
  return (name: string, now: number = Date.now()): RunAccount | null => {
    const hit = seen.get(name)
    if (hit !== undefined && now - hit.at < (hit.account === null ? MISSING_MS : FOUND_MS)) return hit.account
    const account = lookupAccount(name)
    if (seen.size > 10_000) seen.clear()
    seen.set(name, { at: now, account })
    return account
  }
})()

/** The account a user's runs start under, or why there is none. Throws when the accounts cannot be looked up at all. */
export const accountFor = (identity: Identity): RunAccount | string => {
  const name = identity.unixUser ?? identity.name
  const account = cachedLookup(name)
  const how = identity.unixUser === null ? `the account of the same name` : `the account it is mapped to`
  if (account === null)
    return `${identity.name}'s runs cannot start on this machine: no Unix account ${name} (${how}); an admin maps one: gantry user set ${identity.name} --unix-user ACCOUNT`
  if (account.uid === 0 && identity.unixUser === null)
    return `${identity.name}'s runs would start as root (the account ${name} has uid 0); runs start as root only for a user an admin maps to it explicitly: gantry user set ${identity.name} --unix-user ${name}`
  return account
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** The runner's rule, for this process (root or not). */
export const runAs = (switching: boolean = canSwitchUser()): RunAs => ({
  switching,
  problem: (identity) => {
    if (!switching) return null
    try {
      const found = accountFor(identity)
      return typeof found === "string" ? found : null
    } catch (error) {
      return `${identity.name}'s Unix account could not be looked up: ${describe(error)}`
    }
  },
  accountOf: (identity, user) => {
    if (!switching) return null
    if (identity === undefined) throw new Error(`no user ${user} in the directory: a run starts as root only for a user mapped to it`)
    const found = accountFor(identity)
    if (typeof found === "string") throw new Error(found)
    return found
  }
})
