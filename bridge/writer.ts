import type pg from 'pg'
import type { Logger } from '../common/logger.js'
import type { BridgeMetrics } from './metrics.js'
import type { Reading } from './reading.js'
import { backoffMs, sleep } from './retry.js'
import { copyBatch } from './store/copy-writer.js'
import type { DeadLetter } from './store/dead-letters.js'
import { valueJson } from './store/last-values.js'
import { classify, sqlstateOf } from './store/sqlstate.js'

export interface StoreResult {
  inserted: number
  duplicates: number
  /** Readings Postgres itself refused, isolated by bisection. */
  refused: DeadLetter[]
  /** The readings that are now in the table (new or already there). */
  stored: Reading[]
}

export interface WriterOptions {
  copyTimeoutMs: number
  retryBaseMs: number
  retryCapMs: number
}

/**
 * Writes readings so that none is lost: transient failures are retried with
 * backoff until they pass (or the signal aborts), and a batch Postgres
 * refuses for its content is halved until the bad rows stand alone.
 */
export class BatchWriter {
  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: WriterOptions,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {}

  async store(readings: Reading[], signal: AbortSignal): Promise<StoreResult> {
    const result: StoreResult = { inserted: 0, duplicates: 0, refused: [], stored: [] }
    await this.#storeInto(readings, signal, result)
    return result
  }

  async #storeInto(readings: Reading[], signal: AbortSignal, out: StoreResult): Promise<void> {
    if (readings.length === 0) return

    const err = await this.#tryUntilNotTransient(readings, signal, out)

    if (err === undefined) return

    if (readings.length === 1) {
      out.refused.push(refusal(readings[0] as Reading, err))
      return
    }

    const half = readings.length >>> 1
    await this.#storeInto(readings.slice(0, half), signal, out)
    await this.#storeInto(readings.slice(half), signal, out)
  }

  /** Undefined on success; the error when the rows themselves are the problem. */
  async #tryUntilNotTransient(
    readings: Reading[],
    signal: AbortSignal,
    out: StoreResult,
  ): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now()

      try {
        const r = await copyBatch(this.pool, readings, this.opts.copyTimeoutMs)
        this.metrics.copySeconds.observe((performance.now() - started) / 1000)
        this.metrics.batchRows.observe(readings.length)
        out.inserted += r.inserted
        out.duplicates += r.duplicates
        for (const x of readings) out.stored.push(x)
        return undefined
      } catch (err) {
        if (classify(err) === 'bisect') return err
        if (signal.aborted) throw err

        const delay = backoffMs(attempt, {
          baseMs: this.opts.retryBaseMs,
          capMs: this.opts.retryCapMs,
        })
        this.metrics.writeRetries.inc()
        this.log.warn(
          { err, attempt, delayMs: delay, rows: readings.length },
          'batch write failed, retrying',
        )
        await sleep(delay, signal)
      }
    }
  }
}

function refusal(r: Reading, err: unknown): DeadLetter {
  const message = err instanceof Error ? err.message : String(err)
  const row = JSON.stringify({
    device: r.device,
    metric: r.metric,
    tsUs: r.tsUs,
    kind: r.value.kind,
  })
  const payload = Buffer.from(`${row.slice(0, -1)},"value":${valueJson(r.value)}}`)

  return {
    receivedUs: Date.now() * 1000,
    topic: '',
    payload,
    payloadBytes: payload.length,
    reason: 'db_rejected',
    detail: message.slice(0, 500),
    device: r.device,
    metric: r.metric,
    sqlstate: sqlstateOf(err),
  }
}
