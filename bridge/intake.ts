import type { Logger } from '../common/logger.js'
import type { MessageOutcome } from './batcher.js'
import type { DecodeOptions, ReadingReject } from './decode/index.js'
import { decodeMessage } from './decode/index.js'
import type { BridgeMetrics } from './metrics.js'
import type { Reading } from './reading.js'
import type { DeadLetter } from './store/dead-letters.js'

export interface IntakeOptions {
  decode: DecodeOptions
  deadLetterPayloadBytes: number
}

export interface Classified {
  readings: Reading[]
  letters: DeadLetter[]
  outcome: MessageOutcome
}

// One message can refuse many metrics; a few dead letters tell the story.
const MAX_LETTERS_PER_MESSAGE = 10
const REJECT_LOG_INTERVAL_MS = 10_000

/**
 * One message → its readings, its dead letters and its outcome. Never
 * throws. Receive times never repeat, across the entries of array payloads
 * too: a message's readings without a timestamp take the next free
 * microseconds.
 */
export class Intake {
  #nextFreeUs = 0
  #rejectsSinceLog = 0
  #lastRejectLog = 0

  constructor(
    private readonly opts: IntakeOptions,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {}

  classify(topic: string, payload: Buffer, receivedUs: number): Classified {
    const base = Math.max(receivedUs, this.#nextFreeUs)
    const d = this.#decode(topic, payload, base)
    if (d.status === 'ignored') {
      this.log.debug({ topic, reason: d.reason }, 'message ignored')
      return { readings: [], letters: [], outcome: 'ignored' }
    }
    this.#nextFreeUs = base + slotsUsed(d.readings, base)

    const letters = d.rejects
      .slice(0, MAX_LETTERS_PER_MESSAGE)
      .map((r) => this.#letter(topic, payload, base, d.device, r))
    const outcome: MessageOutcome =
      d.readings.length === 0 ? 'rejected' : d.rejects.length > 0 ? 'partial' : 'stored'

    for (const r of d.rejects) this.metrics.rejects.inc({ reason: r.reason })
    if (d.rejects.length > 0) this.#noteRejects(topic, d.rejects)
    return { readings: d.readings, letters, outcome }
  }

  #decode(topic: string, payload: Buffer, receivedUs: number): ReturnType<typeof decodeMessage> {
    try {
      return decodeMessage(topic, payload, receivedUs, this.opts.decode)
    } catch (err) {
      // The decoder is total by its property tests; this is the net under it.
      this.log.error({ err, topic }, 'decoder threw; message dead-lettered')
      return {
        status: 'decoded',
        device: undefined,
        readings: [],
        rejects: [{ reason: 'decoder_failed', detail: String(err).slice(0, 500) }],
      }
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

/** Receive-time microseconds a message's readings took (array entries take one each). */
function slotsUsed(readings: readonly { tsUs: number }[], base: number): number {
  let slots = 1
  for (const r of readings) {
    const offset = r.tsUs - base
    if (offset >= 0 && offset < 1_000_000) slots = Math.max(slots, offset + 1)
  }
  return slots
}
