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
 * waiting batches move to the spool. When the spool is full too, or memory
 * reaches twice its cap, intake pauses: new messages are refused (not
 * acknowledged); once everything held is durable and acknowledged,
 * `onPressure(true)` asks the source to disconnect, and once memory and
 * spool are down to half, `onPressure(false)` to reconnect, upon which the
 * broker sends again what was refused. Disconnecting earlier would drop the
 * acknowledgements of what was still being written, and the broker would
 * send those again and again. Nothing unacknowledged is ever the only copy.
 */
export class Delivery {
  readonly #memory: Batch[] = []
  #current: Batch | undefined
  #messages = 0
  #bytes = 0
  /** open → paused (refusing) → disconnected → open. */
  #intake: 'open' | 'paused' | 'disconnected' = 'open'
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

  /** False while intake is paused: the message must not be taken (nor acknowledged). */
  hasRoom(): boolean {
    return this.#intake === 'open'
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
      paused: this.#intake !== 'open',
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
    const drained = this.#drain().catch((err) => {
      // The spool directory failing (full disk, permissions) must not end
      // the process: what is held stays held and unacknowledged.
      this.log.error({ err, dir: this.spool.dir }, 'delivery stopped on a spool error')
      return true
    })
    this.#draining = drained.then((failed) => {
      this.#draining = undefined
      // Work that arrived while the loop was finishing would otherwise wait
      // for the next push, which may never come while intake is paused.
      if (!failed && (this.#memory.length > 0 || this.spool.batches > 0)) this.#kick()
    })
  }

  /** Writes until memory and spool are empty; true if it stopped on a failure. */
  async #drain(): Promise<boolean> {
    while (!this.signal.aborted) {
      // A spill under way must land first, or a later batch could overtake it.
      await this.#spilling

      if (this.spool.batches > 0) {
        const next = await this.spool.peek()
        if (next) {
          if (!(await this.#attempt(next.batch))) return true
          await this.spool.remove(next.name)
          this.#checkPressure()
          continue
        }
      }

      const batch = this.#memory.shift()
      if (!batch) return false
      this.#current = batch
      const ok = await this.#attempt(batch)
      this.#current = undefined
      if (!ok) {
        this.#memory.unshift(batch)
        return true
      }
      this.#release(batch)
    }
    return true
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
        this.#kick()
        this.#checkPressure()
      })
    }

    const full =
      (over && this.spool.isFull) ||
      this.#messages >= 2 * this.opts.maxMessages ||
      this.#bytes >= 2 * this.opts.maxBytes
    // Resuming brings the broker's whole backlog at once (MQTT 3.1.1 has no
    // flow control), so wait until there is room for a good part of it.
    const calm =
      this.#messages <= this.opts.maxMessages / 2 &&
      this.#bytes <= this.opts.maxBytes / 2 &&
      this.spool.bytes <= this.spool.maxBytes / 2

    if (this.#intake === 'open' && full) {
      this.#intake = 'paused'
      this.log.warn(this.stats(), 'buffer and spool full: refusing messages until there is room')
    }
    if (this.#intake === 'paused' && this.#messages === 0) {
      this.#intake = 'disconnected'
      this.onPressure(true)
    }
    if (this.#intake === 'disconnected' && calm) {
      this.#intake = 'open'
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
