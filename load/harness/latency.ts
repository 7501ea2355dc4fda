import type { Histogram } from 'hdr-histogram-js'
import * as hdr from 'hdr-histogram-js'
import type pg from 'pg'

export interface Percentiles {
  count: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** Latencies in µs up to an hour, 3 significant digits. */
export function newHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  })
}

/** Milliseconds, one decimal. */
export function percentiles(h: Histogram): Percentiles {
  const ms = (us: number) => Math.round(us / 100) / 10

  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  }
}

/**
 * Publish → visible latency of one probe device that publishes alongside
 * the load: its newest seq is polled every `pollMs` in Postgres (one index
 * lookup) and over HTTP, and every seq that became visible since the last
 * poll is recorded against its publish time. The poll interval bounds the
 * resolution: results are late by up to `pollMs`, about half on average.
 */
export class LatencyProbe {
  readonly db = newHistogram()
  readonly http = newHistogram()
  /** Publish → row, ms, by seconds since start: for the timeline chart. */
  readonly timeline: { t: number; ms: number }[] = []
  #published = new Map<number, number>()
  #seenDb = 0
  #seenHttp = 0
  #running = false
  #loops: Promise<void>[] = []
  #started = performance.now()

  constructor(
    readonly device: string,
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly httpUrl: string,
    private readonly token?: string,
    private readonly pollMs = 10,
  ) {}

  onPublish = (device: string, seq: number): void => {
    if (device === this.device) this.#published.set(seq, performance.now())
  }

  start(): void {
    this.#running = true
    this.#started = performance.now()
    this.#loops = [this.#loop(() => this.#pollDb()), this.#loop(() => this.#pollHttp())]
  }

  async stop(): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
  }

  async #loop(poll: () => Promise<void>): Promise<void> {
    while (this.#running) {
      await poll().catch(() => {})
      await new Promise((r) => setTimeout(r, this.pollMs))
    }
  }

  async #pollDb(): Promise<void> {
    const { rows } = await this.pool.query<{ seq: string }>(
      `SELECT v_int AS seq FROM ${this.schema}.telemetry
       WHERE device_id = $1 AND metric = 'seq' ORDER BY ts DESC LIMIT 1`,
      [this.device],
    )
    const seq = Number(rows[0]?.seq ?? 0)
    this.#seenDb = this.#record(this.#seenDb, seq, this.db, true)
  }

  async #pollHttp(): Promise<void> {
    const headers: Record<string, string> = this.token
      ? { authorization: `Bearer ${this.token}` }
      : {}
    const res = await fetch(
      `${this.httpUrl}/v1/devices/${encodeURIComponent(this.device)}/latest`,
      {
        headers,
      },
    )

    if (!res.ok) {
      await res.body?.cancel()
      return
    }

    const body = (await res.json()) as { metrics?: { seq?: { value: number } } }
    this.#seenHttp = this.#record(
      this.#seenHttp,
      Number(body.metrics?.seq?.value ?? 0),
      this.http,
      false,
    )
  }

  #record(seen: number, visible: number, h: Histogram, timeline: boolean): number {
    const now = performance.now()

    for (let seq = seen + 1; seq <= visible; seq++) {
      const at = this.#published.get(seq)
      if (at === undefined) continue
      h.recordValue(Math.max(1, Math.round((now - at) * 1000)))
      if (timeline) this.timeline.push({ t: (now - this.#started) / 1000, ms: now - at })
    }

    // Forget what both views have seen.
    const both = Math.min(timeline ? visible : this.#seenDb, timeline ? this.#seenHttp : visible)
    for (const seq of this.#published.keys()) {
      if (seq > both) break
      this.#published.delete(seq)
    }

    return Math.max(seen, visible)
  }
}
