/**
 * Series over time for the what-if report: busy GPUs and queue length, as the time-weighted
 * mean of each over a bounded number of time buckets, recorded as the simulation runs.
 *
 * The recorder holds two levels (busy GPUs, queued runs) that change at transitions, and
 * integrates each over time into buckets of one width starting at the first recorded time.
 * When time passes the last bucket, the width doubles and neighbouring buckets merge in pairs
 * (their areas add), so memory stays at `maxBuckets` whatever the span or the number of
 * transitions (a 1M-job replay included), and a transition costs a few arithmetic operations
 * (amortised: each bucket boundary is crossed once per width it has).
 *
 * Invariant (property-tested): the areas of all buckets add up to the exact integral of each
 * level over [first time, last time]. With whole milliseconds and whole levels every area is a
 * whole number below 2^53 for any realistic replay, so the sum is exact, not approximate.
 *
 * A bucket's mean is its area divided by the part of it that the record covers: the whole
 * width, except for the last bucket, which ends at the last recorded time.
 */

/**
 * A finished series: bucket i covers [startMs + i × bucketMs, startMs + (i + 1) × bucketMs),
 * the last one only up to endMs; `busyGpus[i]` and `queued[i]` are the time-weighted means
 * over the part covered.
 */
export interface SeriesOverTime {
  /** Time of the first recorded change (the origin of the buckets). */
  readonly startMs: number
  /** Time of the last one (or of `finish`). */
  readonly endMs: number
  /** Width of every bucket. */
  readonly bucketMs: number
  readonly busyGpus: ReadonlyArray<number>
  readonly queued: ReadonlyArray<number>
  /** ∫ busy GPUs dt and ∫ queued dt over [startMs, endMs], in level × ms. */
  readonly busyGpuMs: number
  readonly queuedMs: number
}

/** The part of bucket i that the series covers, in ms. */
export const coveredMs = (s: SeriesOverTime, i: number): number => Math.min(s.bucketMs, s.endMs - (s.startMs + i * s.bucketMs))

/**
 * The series in buckets of `bucketMs`, a whole multiple of its own width (to put series of
 * one workload, which share their origin, on one grid): the areas of each run of buckets add.
 */
export const coarsen = (s: SeriesOverTime, bucketMs: number): SeriesOverTime => {
  const factor = bucketMs / s.bucketMs
  if (!(Number.isSafeInteger(factor) && factor >= 1)) throw new RangeError(`coarsen: ${bucketMs} ms is not a whole multiple of ${s.bucketMs} ms`)
  if (factor === 1) return s
  const count = s.endMs > s.startMs ? Math.ceil((s.endMs - s.startMs) / bucketMs) : 0
  const busyGpus: Array<number> = new Array<number>(count).fill(0)
  const queued: Array<number> = new Array<number>(count).fill(0)
  for (let i = 0; i < s.busyGpus.length; i++) {
    const covered = coveredMs(s, i)
    const k = Math.floor(i / factor)
    busyGpus[k]! += s.busyGpus[i]! * covered
    queued[k]! += s.queued[i]! * covered
  }
  const out: SeriesOverTime = { ...s, bucketMs, busyGpus, queued }
  for (let k = 0; k < count; k++) {
    const covered = coveredMs(out, k)
    busyGpus[k]! /= covered
    queued[k]! /= covered
  }
  return out
}

export const DEFAULT_MAX_BUCKETS = 512

export class SeriesRecorder {
  private readonly maxBuckets: number
  private readonly busyArea: Float64Array
  private readonly queuedArea: Float64Array
  private originMs = 0
  private widthMs: number
  private lastMs = 0
  private started = false
  private busy = 0
  private queued = 0

  /**
   * `maxBuckets` (even, ≥ 2; default 512) bounds the memory; `initialBucketMs` (default 1 ms,
   * a whole number) is the finest resolution, reached for spans up to maxBuckets × it.
   */
  constructor(o: { readonly maxBuckets?: number; readonly initialBucketMs?: number } = {}) {
    const maxBuckets = o.maxBuckets ?? DEFAULT_MAX_BUCKETS
    const initial = o.initialBucketMs ?? 1
    if (!(Number.isSafeInteger(maxBuckets) && maxBuckets >= 2 && maxBuckets % 2 === 0))
      throw new RangeError(`SeriesRecorder: maxBuckets must be an even integer >= 2, got ${maxBuckets}`)
    if (!(Number.isSafeInteger(initial) && initial >= 1))
      throw new RangeError(`SeriesRecorder: initialBucketMs must be an integer >= 1, got ${initial}`)
    this.maxBuckets = maxBuckets
    this.widthMs = initial
    this.busyArea = new Float64Array(maxBuckets)
    this.queuedArea = new Float64Array(maxBuckets)
  }

  /** The levels change by `busyDelta` GPUs and `queuedDelta` runs at `atMs` (never earlier than the last change). */
  change(atMs: number, busyDelta: number, queuedDelta: number): void {
    this.advance(atMs)
    this.busy += busyDelta
    this.queued += queuedDelta
  }

  /** Integrates the current levels up to `atMs`. */
  advance(atMs: number): void {
    if (!this.started) {
      this.started = true
      this.originMs = atMs
      this.lastMs = atMs
      return
    }
    if (atMs < this.lastMs) throw new RangeError(`SeriesRecorder: time went back from ${this.lastMs} to ${atMs}`)
    if (atMs === this.lastMs) return
    while (atMs - this.originMs > this.maxBuckets * this.widthMs) this.widen()
    if (this.busy === 0 && this.queued === 0) {
      this.lastMs = atMs
      return
    }
    let from = this.lastMs
    let i = Math.floor((from - this.originMs) / this.widthMs)
    while (from < atMs) {
      const boundary = this.originMs + (i + 1) * this.widthMs
      const to = boundary < atMs ? boundary : atMs
      const dt = to - from
      this.busyArea[i]! += this.busy * dt
      this.queuedArea[i]! += this.queued * dt
      from = to
      i++
    }
    this.lastMs = atMs
  }

  /** Twice the width: bucket k becomes the sum of buckets 2k and 2k+1. */
  private widen(): void {
    const half = this.maxBuckets / 2
    for (const area of [this.busyArea, this.queuedArea]) {
      for (let k = 0; k < half; k++) area[k] = area[2 * k]! + area[2 * k + 1]!
      area.fill(0, half)
    }
    this.widthMs *= 2
  }

  get busyGpus(): number {
    return this.busy
  }

  get queuedRuns(): number {
    return this.queued
  }

  /** The series up to `atMs` (default: the last change); the recorder may go on after it. */
  finish(atMs: number = this.lastMs): SeriesOverTime {
    if (this.started) this.advance(atMs)
    const endMs = this.started ? this.lastMs : 0
    const startMs = this.started ? this.originMs : 0
    const count = endMs > startMs ? Math.ceil((endMs - startMs) / this.widthMs) : 0
    const busyGpus: Array<number> = []
    const queued: Array<number> = []
    let busyGpuMs = 0
    let queuedMs = 0
    for (let i = 0; i < count; i++) {
      const covered = Math.min(this.widthMs, endMs - (startMs + i * this.widthMs))
      busyGpuMs += this.busyArea[i]!
      queuedMs += this.queuedArea[i]!
      busyGpus.push(this.busyArea[i]! / covered)
      queued.push(this.queuedArea[i]! / covered)
    }
    return { startMs, endMs, bucketMs: this.widthMs, busyGpus, queued, busyGpuMs, queuedMs }
  }
}

type Status = string | null

// a run waits to start while held, blocked or pending; it holds its GPUs while running or stopping
const waiting = (s: Status): number => (s === "pending" || s === "held" || s === "blocked" ? 1 : 0)
const holding = (s: Status): number => (s === "running" || s === "stopping" ? 1 : 0)

/**
 * Feeds a recorder from run transitions (a `RunEvent`'s `at`, `from`, `to`, and the run's GPUs):
 * queue length = runs held, blocked or pending; busy GPUs = GPUs of runs running or stopping.
 * An arrival (`from` null) adds one queued run; a start moves one run from the queue to its
 * GPUs; an end frees them.
 */
export const recordTransition = (r: SeriesRecorder, atMs: number, from: Status, to: Status, gpus: number): void => {
  const queuedDelta = waiting(to) - waiting(from)
  const busyDelta = (holding(to) - holding(from)) * gpus
  if (queuedDelta !== 0 || busyDelta !== 0) r.change(atMs, busyDelta, queuedDelta)
}
