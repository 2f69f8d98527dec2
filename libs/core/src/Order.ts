/**
 * The order of SPEC §3, as a key computed at `now`:
 * queue priority (higher first), effective priority = (override ?? base) + aging boost
 * (higher first), in fair-share `usage` mode the user's then the team's decayed usage
 * (lower first), eligible time (earlier first), submission sequence (lower first).
 */
import { agingBoost } from "./Policy.js"
import type { Run } from "./Run.js"
import type { Snapshot } from "./Snapshot.js"

export interface OrderKey {
  readonly queuePriority: number
  readonly effectivePriority: number
  readonly userUsage: number
  readonly teamUsage: number
  readonly eligibleAt: number
  readonly seq: number
}

export const usageModeOn = (snapshot: Snapshot): boolean =>
  snapshot.policy.fairShare.mode === "usage" && snapshot.usage !== null

export const effectivePriority = (snapshot: Snapshot, run: Run): number =>
  (run.priorityOverride ?? run.basePriority) + agingBoost(snapshot.policy.aging, snapshot.now - run.eligibleAt)

export const orderKeyOf = (snapshot: Snapshot, run: Run): OrderKey => {
  const usage = usageModeOn(snapshot) ? snapshot.usage : null
  return {
    queuePriority: snapshot.queues.get(run.queue)?.priority ?? 0,
    effectivePriority: effectivePriority(snapshot, run),
    userUsage: usage === null ? 0 : usage.user(run.user),
    teamUsage: usage === null || run.team === null ? 0 : usage.team(run.team),
    eligibleAt: run.eligibleAt,
    seq: run.seq
  }
}

/** True when `a` goes before `b`. */
export const precedes = (a: OrderKey, b: OrderKey): boolean => {
  if (a.queuePriority !== b.queuePriority) return a.queuePriority > b.queuePriority
  if (a.effectivePriority !== b.effectivePriority) return a.effectivePriority > b.effectivePriority
  if (a.userUsage !== b.userUsage) return a.userUsage < b.userUsage
  if (a.teamUsage !== b.teamUsage) return a.teamUsage < b.teamUsage
  if (a.eligibleAt !== b.eligibleAt) return a.eligibleAt < b.eligibleAt
  return a.seq < b.seq
}

export const compareOrderKeys = (a: OrderKey, b: OrderKey): number => (precedes(a, b) ? -1 : precedes(b, a) ? 1 : 0)
