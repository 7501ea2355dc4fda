import type pg from 'pg'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Ack, BatcherOptions } from './batcher.js'
import { Batcher } from './batcher.js'
import type { DeliveryOptions } from './delivery.js'
import { Delivery } from './delivery.js'
import type { IntakeOptions } from './intake.js'
import { Intake } from './intake.js'
import type { BridgeMetrics } from './metrics.js'
import { backoffMs, sleep } from './retry.js'
import type { Spool } from './spool.js'
import type { SpooledBatch } from './spool-codec.js'
import type { DeadLetter } from './store/dead-letters.js'
import { writeDeadLetters } from './store/dead-letters.js'
import type { LastValues } from './store/last-values.js'
import type { WriterOptions } from './writer.js'
import { BatchWriter } from './writer.js'

export interface PipelineOptions
  extends IntakeOptions,
    BatcherOptions,
    WriterOptions,
    DeliveryOptions {}

const MAX_LAST_VALUE_UPDATES = 4

/**
 * message → decode → batch → COPY → dead letters → last values → counters,
 * and only then the message's PUBACK (or once its batch is in the spool).
 * `ingest` is synchronous and never throws, so the MQTT client's packet loop
 * never waits on the database.
 */
export class Pipeline {
  readonly #intake: Intake
  readonly #batcher: Batcher
  readonly #writer: BatchWriter
  readonly #delivery: Delivery
  readonly #stop = new AbortController()
  #closing = false
  #received = 0
  readonly #lastValueUpdates = new Set<Promise<void>>()

  constructor(
    private readonly pool: pg.Pool,
    private readonly lastValues: LastValues,
    spool: Spool,
    private readonly opts: PipelineOptions,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
    onPressure?: (paused: boolean) => void,
  ) {
    this.#intake = new Intake(opts, metrics, log)
    this.#writer = new BatchWriter(pool, opts, metrics, log)
    this.#delivery = new Delivery(
      spool,
      opts,
      (batch, signal) => this.#process(batch, signal),
      this.#stop.signal,
      log,
      onPressure,
    )
    this.#batcher = new Batcher(opts, (b) => this.#delivery.push(b))
    metrics.observe(() => this.#delivery.stats())
    // Batches a previous run left in the spool go first.
    void this.#delivery.idle()
  }

  /** False when the message was refused (paused or closing): it must not be acknowledged. */
  ingest(topic: string, payload: Buffer, receivedUs: number, ack?: Ack): boolean {
    this.#received++
    // Not acknowledged, so not lost: the broker sends it again later.
    if (this.#closing || !this.#delivery.hasRoom()) {
      this.metrics.messages.inc({ outcome: 'deferred' })
      return false
    }

    const { readings, letters, outcome } = this.#intake.classify(topic, payload, receivedUs)
    this.#delivery.held(payload.length)
    this.#batcher.add(readings, letters, outcome, payload.length, ack)
    return true
  }

  /** Messages handed to ingest so far, refused ones included. */
  get received(): number {
    return this.#received
  }

  /** Seals the open batch and waits until everything received is written. */
  async flush(): Promise<void> {
    this.#batcher.seal()
    await this.#delivery.idle()
    await Promise.all(this.#lastValueUpdates)
  }

  /**
   * Stops taking messages and writes what is held. What Postgres has not
   * taken by 80 % of the deadline goes to the spool, to be written at the
   * next start. Throws SHUTDOWN_TIMEOUT if some messages are neither: those
   * were not acknowledged, so the broker will deliver them again.
   */
  async close(deadlineMs: number): Promise<void> {
    this.#closing = true
    this.#batcher.seal()

    const timer = setTimeout(() => this.#stop.abort(), deadlineMs * 0.8)
    try {
      await this.#delivery.idle()
    } finally {
      clearTimeout(timer)
    }

    if (this.#delivery.unsettled > 0) {
      const spilled = await this.#delivery.spillAll()
      this.log.warn({ spilled }, 'postgres too slow at shutdown: messages left in the spool')
    }

    await Promise.all(this.#lastValueUpdates)
    const left = this.#delivery.unsettled
    if (left > 0) {
      throw new TelemetryError(
        'SHUTDOWN_TIMEOUT',
        `${left} messages were neither written nor spooled within ${deadlineMs} ms; they were not acknowledged`,
      )
    }
  }

  /** Writes a batch: rows, then dead letters, then last values, then counters. */
  async #process(batch: SpooledBatch, signal: AbortSignal): Promise<void> {
    const stored = await this.#writer.store(batch.readings, signal)
    const letters = batch.letters.concat(stored.refused)

    await this.#writeLetters(letters, signal)
    await this.#startLastValues(stored.stored)

    for (const outcome of batch.outcomes) this.metrics.messages.inc({ outcome })
    for (const l of stored.refused) this.metrics.rejects.inc({ reason: l.reason })

    this.metrics.readings.inc({ outcome: 'stored' }, stored.inserted)
    this.metrics.readings.inc({ outcome: 'duplicate' }, stored.duplicates)
    this.metrics.readings.inc({ outcome: 'rejected' }, stored.refused.length)
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
   * Redis is a cache of what Postgres holds: an update is not waited for
   * (a hung Redis would hold every batch for its command timeout), a few run
   * at once, and a failure is counted and logged, never a reason to hold
   * back ingest; the rebuilder repairs what failed. Newest wins in Redis
   * whatever order the updates land in.
   */
  async #startLastValues(readings: Parameters<LastValues['update']>[0]): Promise<void> {
    if (readings.length === 0) return
    while (this.#lastValueUpdates.size >= MAX_LAST_VALUE_UPDATES) {
      await Promise.race(this.#lastValueUpdates)
    }
    const update = this.lastValues.update(readings).then(
      () => undefined,
      (err) => {
        this.metrics.lastValueErrors.inc()
        this.log.warn({ err }, 'last values update failed')
      },
    )
    this.#lastValueUpdates.add(update)
    void update.finally(() => this.#lastValueUpdates.delete(update))
  }
}
