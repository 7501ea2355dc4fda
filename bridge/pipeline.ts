import type pg from 'pg'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Batch, BatcherOptions, MessageOutcome } from './batcher.js'
import { Batcher } from './batcher.js'
import type { DecodeOptions, ReadingReject } from './decode/index.js'
import { decodeMessage } from './decode/index.js'
import type { BridgeMetrics } from './metrics.js'
import { backoffMs, sleep } from './retry.js'
import type { DeadLetter } from './store/dead-letters.js'
import { writeDeadLetters } from './store/dead-letters.js'
import type { LastValues } from './store/last-values.js'
import type { WriterOptions } from './writer.js'
import { BatchWriter } from './writer.js'

export interface PipelineOptions extends BatcherOptions, WriterOptions {
  decode: DecodeOptions
  deadLetterPayloadBytes: number
}

// One message can refuse many metrics; a few dead letters tell the story.
const MAX_LETTERS_PER_MESSAGE = 10
const REJECT_LOG_INTERVAL_MS = 10_000

/**
 * message → decode → batch → COPY → dead letters → last values → counters.
 * `ingest` is synchronous and never throws, so the MQTT client's packet loop
 * never waits on the database.
 */
export class Pipeline {
  readonly #batcher: Batcher
  readonly #writer: BatchWriter
  readonly #queue: Batch[] = []
  readonly #stop = new AbortController()
  #draining: Promise<void> | undefined
  #rejectsSinceLog = 0
  #lastRejectLog = 0

  constructor(
    private readonly pool: pg.Pool,
    private readonly lastValues: LastValues,
    private readonly opts: PipelineOptions,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {
    this.#batcher = new Batcher(opts, (b) => this.#enqueue(b))
    this.#writer = new BatchWriter(pool, opts, metrics, log)
  }

  ingest(topic: string, payload: Buffer, receivedUs: number): void {
    const d = decodeMessage(topic, payload, receivedUs, this.opts.decode)

    if (d.status === 'ignored') {
      this.metrics.messages.inc({ outcome: 'ignored' })
      this.log.debug({ topic, reason: d.reason }, 'message ignored')
      return
    }

    const letters = d.rejects
      .slice(0, MAX_LETTERS_PER_MESSAGE)
      .map((r) => this.#letter(topic, payload, receivedUs, d.device, r))
    const outcome: MessageOutcome =
      d.readings.length === 0 ? 'rejected' : d.rejects.length > 0 ? 'partial' : 'stored'

    for (const r of d.rejects) this.metrics.rejects.inc({ reason: r.reason })
    if (d.rejects.length > 0) this.#noteRejects(topic, d.rejects)

    this.metrics.inFlight.inc()
    this.metrics.bufferedReadings.inc(d.readings.length)
    this.#batcher.add(d.readings, letters, outcome)
  }

  /** Seals the open batch and waits until everything received is written. */
  async flush(): Promise<void> {
    this.#batcher.seal()
    while (this.#draining) await this.#draining
  }

  /** Flushes; after `deadlineMs` pending retries give up and the error is thrown. */
  async close(deadlineMs: number): Promise<void> {
    const timer = setTimeout(() => this.#stop.abort(), deadlineMs)
    try {
      await this.flush()
    } finally {
      clearTimeout(timer)
    }

    const unwritten = this.#queue.reduce((n, b) => n + b.outcomes.length, 0)

    if (unwritten > 0) {
      throw new TelemetryError(
        'SHUTDOWN_TIMEOUT',
        `${unwritten} messages were not written within ${deadlineMs} ms`,
      )
    }
  }

  #enqueue(batch: Batch): void {
    this.#queue.push(batch)
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined
    })
  }

  async #drain(): Promise<void> {
    for (let batch = this.#queue.shift(); batch; batch = this.#queue.shift()) {
      try {
        await this.#process(batch)
      } catch (err) {
        // Only an abort at the shutdown deadline (or a bug) lands here; the
        // batch stays queued so close() can say what was not written.
        this.#queue.unshift(batch)
        if (!this.#stop.signal.aborted) this.log.error({ err }, 'batch processing failed')
        return
      }
    }
  }

  async #process(batch: Batch): Promise<void> {
    const signal = this.#stop.signal
    const stored = await this.#writer.store(batch.readings, signal)
    const letters = batch.letters.concat(stored.refused)

    await this.#writeLetters(letters, signal)
    await this.#updateLastValues(stored.stored)

    for (const outcome of batch.outcomes) this.metrics.messages.inc({ outcome })
    for (const l of stored.refused) this.metrics.rejects.inc({ reason: l.reason })

    this.metrics.readings.inc({ outcome: 'stored' }, stored.inserted)
    this.metrics.readings.inc({ outcome: 'duplicate' }, stored.duplicates)
    this.metrics.readings.inc({ outcome: 'rejected' }, stored.refused.length)
    this.metrics.inFlight.dec(batch.outcomes.length)
    this.metrics.bufferedReadings.dec(batch.readings.length)
  }

  async #writeLetters(letters: DeadLetter[], signal: AbortSignal): Promise<void> {
    for (let attempt = 0; letters.length > 0; attempt++) {
      try {
        await writeDeadLetters(this.pool, letters)
        return
      } catch (err) {
        if (signal.aborted) throw err
        this.log.warn(
          { err, attempt, letters: letters.length },
          'dead letter write failed, retrying',
        )
        await sleep(
          backoffMs(attempt, { baseMs: this.opts.retryBaseMs, capMs: this.opts.retryCapMs }),
          signal,
        )
      }
    }
  }

  /**
   * Redis is a cache of what Postgres holds: a failure here is counted and
   * logged, never a reason to hold back ingest.
   */
  async #updateLastValues(readings: Parameters<LastValues['update']>[0]): Promise<void> {
    if (readings.length === 0) return
    try {
      await this.lastValues.update(readings)
    } catch (err) {
      this.metrics.lastValueErrors.inc()
      this.log.warn({ err }, 'last values update failed')
    }
  }

  #letter(
    topic: string,
    payload: Buffer,
    receivedUs: number,
    device: string | undefined,
    r: ReadingReject,
  ): DeadLetter {
    return {
      receivedUs,
      topic,
      payload: payload.subarray(0, this.opts.deadLetterPayloadBytes),
      payloadBytes: payload.length,
      reason: r.reason,
      detail: r.detail,
      device,
      metric: r.metric,
    }
  }

  /** Per-message refusals are debug; a warning at most every 10 s sums them up. */
  #noteRejects(topic: string, rejects: ReadingReject[]): void {
    this.#rejectsSinceLog += rejects.length
    this.log.debug({ topic, rejects }, 'readings refused')

    const now = Date.now()
    if (now - this.#lastRejectLog < REJECT_LOG_INTERVAL_MS) return

    this.log.warn(
      { refused: this.#rejectsSinceLog, example: rejects[0], topic },
      'refusing readings',
    )
    this.#rejectsSinceLog = 0
    this.#lastRejectLog = now
  }
}
