import type { Reading } from './reading.js'
import type { DeadLetter } from './store/dead-letters.js'

export type MessageOutcome = 'stored' | 'partial' | 'rejected' | 'ignored'

/** Sends the broker the PUBACK of one message; undefined for QoS 0. */
export type Ack = () => void

/**
 * Whole messages, never split: a batch commits or fails with every reading
 * of each message it holds, so a message's outcome is known at one point.
 */
export interface Batch {
  readings: Reading[]
  letters: DeadLetter[]
  outcomes: MessageOutcome[]
  /** PUBACKs to send, in arrival order, once the batch is durable. */
  acks: Ack[]
  /** Payload bytes of the batch's messages, for the memory cap. */
  bytes: number
  openedAtMs: number
}

export interface BatcherOptions {
  maxRows: number
  maxAgeMs: number
}

/** Gathers messages into batches, sealed by row count or by age. */
export class Batcher {
  readonly #opts: BatcherOptions
  readonly #onSeal: (batch: Batch) => void
  #open: Batch | undefined
  #timer: NodeJS.Timeout | undefined

  constructor(opts: BatcherOptions, onSeal: (batch: Batch) => void) {
    this.#opts = opts
    this.#onSeal = onSeal
  }

  add(
    readings: readonly Reading[],
    letters: readonly DeadLetter[],
    outcome: MessageOutcome,
    bytes: number,
    ack: Ack | undefined,
  ): void {
    const batch = this.#open ?? this.#start()

    for (const r of readings) batch.readings.push(r)
    for (const l of letters) batch.letters.push(l)
    batch.outcomes.push(outcome)
    batch.bytes += bytes
    if (ack) batch.acks.push(ack)

    if (batch.readings.length >= this.#opts.maxRows) this.seal()
  }

  /** Hands the open batch, if any, to the writer now. */
  seal(): void {
    const batch = this.#open

    clearTimeout(this.#timer)
    this.#open = undefined
    this.#timer = undefined

    if (batch) this.#onSeal(batch)
  }

  #start(): Batch {
    const batch: Batch = {
      readings: [],
      letters: [],
      outcomes: [],
      acks: [],
      bytes: 0,
      openedAtMs: Date.now(),
    }

    this.#open = batch
    this.#timer = setTimeout(() => this.seal(), this.#opts.maxAgeMs)
    return batch
  }
}
