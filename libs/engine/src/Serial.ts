/**
 * One command or cycle at a time. A command validates against memory, commits, then changes
 * memory (Commit.ts); a cycle snapshots, decides, commits its starts, then spawns. Each is
 * atomic only if nothing else runs between its reading memory and its commit — with an
 * asynchronous store (SQLite yields) two submissions with one idempotency key would both find
 * no run and both be stored, and two commits could reach the store in the other order than
 * their changes reached memory. So every command and every cycle holds this lock from its
 * first read to its last change.
 *
 * Uncontended (always, in the simulator: its store is synchronous), taking it costs a flag;
 * a waiter is resumed in arrival order when the holder releases it. A command, once it holds
 * the lock, is uninterruptible: stopping it between its commit and its change to memory would
 * part the two. Waiting for the lock can be interrupted.
 */
import { Effect } from "effect"

export class Serial {
  private busy = false
  private readonly waiting: Array<() => void> = []

  /**
   * Calls `start` now when the lock is free, else once every holder before it has released
   * it; whoever `start` hands the lock to must call `release()` exactly once.
   */
  enter(start: () => void): void {
    if (this.busy) {
      this.waiting.push(start)
      return
    }
    this.busy = true
    start()
  }

  /** Takes the lock if it is free (true), else leaves it (false): for a command that runs now or not at all. */
  tryEnter(): boolean {
    if (this.busy) return false
    this.busy = true
    return true
  }

  /** Hands the lock to the next waiter, or frees it. */
  release(): void {
    const next = this.waiting.shift()
    if (next === undefined) this.busy = false
    else next()
  }

  /** `effect` under the lock, uninterruptible once it holds it. */
  run<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (!this.busy) {
          this.busy = true
          return Effect.ensuring(effect, Effect.sync(() => this.release()))
        }
        return Effect.zipRight(restore(this.wait()), Effect.ensuring(effect, Effect.sync(() => this.release())))
      })
    )
  }

  /** Resumes when the lock is handed over; interrupted before that, it leaves the queue (or passes the lock on). */
  private wait(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      let granted = false
      const waiter = () => {
        granted = true
        resume(Effect.void)
      }
      this.waiting.push(waiter)
      return Effect.sync(() => {
        if (granted) this.release()
        else this.waiting.splice(this.waiting.indexOf(waiter), 1)
      })
    })
  }
}
