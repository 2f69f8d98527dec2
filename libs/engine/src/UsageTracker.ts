/**
 * Decayed GPU-milliseconds per user and team for fair-share `usage` mode (SPEC §3):
 * a run's GPU time is added when it ends, and all usage halves every half-life.
 */
import type { TeamName, UsageView, UserName } from "@gantry/core"

interface Decayed {
  value: number
  at: number
}

const decay = (entry: Decayed | undefined, now: number, halfLifeMs: number): number =>
  entry === undefined ? 0 : entry.value * Math.pow(2, -(now - entry.at) / halfLifeMs)

export class UsageTracker {
  private readonly users = new Map<UserName, Decayed>()
  private readonly teams = new Map<TeamName, Decayed>()

  add(user: UserName, team: TeamName | null, gpuMs: number, now: number, halfLifeMs: number): void {
    if (gpuMs <= 0) return
    this.users.set(user, { value: decay(this.users.get(user), now, halfLifeMs) + gpuMs, at: now })
    if (team !== null) this.teams.set(team, { value: decay(this.teams.get(team), now, halfLifeMs) + gpuMs, at: now })
  }

  view(now: number, halfLifeMs: number): UsageView {
    return {
      user: (user) => decay(this.users.get(user), now, halfLifeMs),
      team: (team) => decay(this.teams.get(team), now, halfLifeMs)
    }
  }
}
