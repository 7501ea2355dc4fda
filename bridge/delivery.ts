import type { Logger } from '../common/logger.js'
import type { Batch } from './batcher.js'
import type { Spool } from './spool.js'
import type { SpooledBatch } from './spool-codec.js'

export interface DeliveryOptions {
  /** Messages held in memory (open batch, sealed batches, the one being written). */
  maxMessages: number
  /** Payload bytes of those messages. */
  maxBytes: number
}

/** Writes one batch to Postgres; rejects only when `signal` aborted it. */
export type WriteBatch = (batch: SpooledBatch, signal: AbortSignal) => Promise<void>

export interface DeliveryStats {
  memoryMessages: number
  memoryBytes: number
  spoolMessages: number
  spoolBytes: number
  /** Arrival of the oldest message not yet written (ms), if any. */
  oldestMs: number | undefined
  paused: boolean
}

/**
 * Where sealed batches wait, and when their messages are acknowledged.
 *
 * Batches are written first in, first out: spooled ones before those in
 * memory. A batch's PUBACKs go out once it is durable: committed in
 * Postgres, or fsynced in the spool. While memory is over its cap the oldest
 * waiting batches move to the spool; when the spool is full too, or memory
 * reaches twice its cap, `onPressure(true)` asks the source to stop reading,
 * and `onPressure(false)` resumes once memory is down to half its cap.
 * Nothing unacknowledged is ever the only copy: the broker sends it again.
 */
export class Delivery {
  readonly #memory: Batch[] = []
  #current: Batch | undefined
  #messages = 0
  #bytes = 0
  #paused = false
  #draining: Promise<void> | undefined
  #spilling: Promise<void> | undefined

  constructor(
    private readonly spool: Spool,
    private readonly opts: DeliveryOptions,
    private readonly write: WriteBatch,
    private readonly signal: AbortSignal,
    private readonly log: Logger,
    private readonly onPressure: (paused: boolean) => void = () => undefined,
  ) {}

  /** False when memory is at twice its cap: the message must not be taken (nor acknowledged). */
  hasRoom(): boolean {
    return this.#messages < 2 * this.opts.maxMessages && this.#bytes < 2 * this.opts.maxBytes
  }

  /** A message joined the open batch. */
  held(bytes: number): void {
    this.#messages++
    this.#bytes += bytes
    this.#checkPressure()
  }

  /** A sealed batch joins the queue. */
  push(batch: Batch): void {
    this.#memory.push(batch)
    this.#kick()
    this.#checkPressure()
  }

  stats(): DeliveryStats {
    const oldestInMemory = (this.#current ?? this.#memory[0])?.openedAtMs
    const oldestInSpool = this.spool.oldestMs
    return {
      memoryMessages: this.#messages,
      memoryBytes: this.#bytes,
      spoolMessages: this.spool.messages,
      spoolBytes: this.spool.bytes,
      oldestMs:
        oldestInSpool === undefined || (oldestInMemory ?? Infinity) < oldestInSpool
          ? oldestInMemory
          : oldestInSpool,
      paused: this.#paused,
    }
  }

  /** Resolves when memory and spool are empty, or when writing was aborted. */
  async idle(): Promise<void> {
    this.#kick()
    while (this.#draining || this.#spilling) {
      await this.#draining
      await this.#spilling
    }
  }

  /** Moves every batch still in memory to the spool (at shutdown, writes having been aborted). */
  async spillAll(): Promise<number> {
    await this.#spilling
    let spilled = 0
    for (let b = this.#memory.shift(); b; b = this.#memory.shift()) {
      if (this.spool.isFull) {
        this.#memory.unshift(b)
        break
      }
      await this.#spillOne(b)
      spilled += b.outcomes.length
    }
    return spilled
  }

  /** Messages in memory that are neither written nor spooled. */
  get unsettled(): number {
    return this.#messages
  }

  #kick(): void {
    if (this.#draining || this.signal.aborted) return
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined
    })
  }

  async #drain(): Promise<void> {
    while (!this.signal.aborted) {
      // A spill under way must land first, or a later batch could overtake it.
      await this.#spilling

      if (this.spool.batches > 0) {
        const next = await this.spool.peek()
        if (next) {
          if (!(await this.#attempt(next.batch))) return
          await this.spool.remove(next.name)
          continue
        }
      }

      const batch = this.#memory.shift()
      if (!batch) return
      this.#current = batch
      const ok = await this.#attempt(batch)
      this.#current = undefined
      if (!ok) {
        this.#memory.unshift(batch)
        return
      }
      this.#release(batch)
    }
  }

  async #attempt(batch: SpooledBatch): Promise<boolean> {
    try {
      await this.write(batch, this.signal)
      return true
    } catch (err) {
      if (!this.signal.aborted) this.log.error({ err }, 'batch write failed')
      return false
    }
  }

  #checkPressure(): void {
    const over = this.#messages > this.opts.maxMessages || this.#bytes > this.opts.maxBytes

    if (over && !this.#spilling && this.#memory.length > 0 && !this.spool.isFull) {
      this.#spilling = this.#spillOverflow().finally(() => {
        this.#spilling = undefined
        this.#checkPressure()
      })
    }

    const stop = (over && this.spool.isFull) || !this.hasRoom()
    const calm =
      this.#messages <= this.opts.maxMessages / 2 &&
      this.#bytes <= this.opts.maxBytes / 2 &&
      !this.spool.isFull

    if (stop && !this.#paused) {
      this.#paused = true
      this.onPressure(true)
    } else if (calm && this.#paused) {
      this.#paused = false
      this.onPressure(false)
    }
  }

  async #spillOverflow(): Promise<void> {
    while (this.#messages > this.opts.maxMessages || this.#bytes > this.opts.maxBytes) {
      const batch = this.#memory.shift()
      if (!batch) return
      if (this.spool.isFull) {
        this.#memory.unshift(batch)
        return
      }
      try {
        await this.#spillOne(batch)
      } catch (err) {
        this.#memory.unshift(batch)
        this.log.error({ err, dir: this.spool.dir }, 'spool write failed; keeping batch in memory')
        return
      }
    }
  }

  async #spillOne(batch: Batch): Promise<void> {
    await this.spool.append(batch)
    this.#release(batch)
  }

  /** The batch is durable: acknowledge its messages and free its memory. */
  #release(batch: Batch): void {
    for (const ack of batch.acks) ack()
    this.#messages -= batch.outcomes.length
    this.#bytes -= batch.bytes
    this.#checkPressure()
  }
}
