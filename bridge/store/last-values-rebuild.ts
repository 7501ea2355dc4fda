import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type pg from 'pg'
import type { Logger } from '../../common/logger.js'
import type { BridgeMetrics } from '../metrics.js'
import type { LastValues } from './last-values.js'
import { deviceLatestFromPg, newestPage } from './last-values-pg.js'

export interface RebuildOptions {
  /** How often to look for a missing marker or a failed update, ms. */
  checkIntervalMs: number
  /** (device, metric) pairs read and written per step. */
  pageSize: number
}

/**
 * Keeps Redis's last values in step with Postgres. It rebuilds them from the
 * newest rows (through the same newest-wins script ingest uses, so a value
 * written meanwhile is never replaced by an older one):
 *   - at start-up, since updates may have failed while nobody watched;
 *   - after every Redis reconnect, since writes failed while it was away and
 *     a restarted Redis may come back empty or from an old snapshot;
 *   - when the completeness marker is missing (FLUSHALL, eviction), found
 *     by a periodic check or by a read (`kick`).
 * After a failed update, only the devices it held are re-read (`repair`),
 * unless there were too many to list.
 */
export class LastValuesRebuilder {
  readonly #onReady = () => this.kick('reconnect')
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = false
  /** The last rebuild failed (Postgres or Redis away): the next check retries. */
  #retry = false

  constructor(
    private readonly pool: pg.Pool,
    private readonly redis: Redis,
    private readonly lastValues: LastValues,
    private readonly opts: RebuildOptions,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.redis.on('ready', this.#onReady)
    this.#timer = setInterval(() => void this.#check(), this.opts.checkIntervalMs)
    this.#timer.unref()
    this.kick('start')
  }

  /** True while a rebuild runs. */
  get rebuilding(): boolean {
    return this.#running !== undefined
  }

  /** Starts a rebuild unless one is running; returns at once. */
  kick(why: string): void {
    if (this.#running || this.#stopped) return
    this.#running = this.#run(why).finally(() => {
      this.#running = undefined
    })
  }

  /** Settles when no rebuild runs (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    this.redis.off('ready', this.#onReady)
    await this.idle()
  }

  async #check(): Promise<void> {
    if (this.#running || !this.lastValues.available) return

    try {
      if (this.#retry) return this.kick('retry')
      const dirty = this.lastValues.takeDirty()
      if (dirty === 'all') return this.kick('updates failed')
      if (dirty.size > 0) this.#repair(dirty)
      if (!(await this.lastValues.isComplete())) this.kick('marker missing')
    } catch (err) {
      this.log.debug({ err }, 'last values check failed')
    }
  }

  /**
   * Re-reads only the devices whose update failed; a failure here falls
   * back to a full rebuild at the next check.
   */
  #repair(devices: ReadonlySet<string>): void {
    this.#running = this.#repairDevices(devices).finally(() => {
      this.#running = undefined
    })
  }

  async #repairDevices(devices: ReadonlySet<string>): Promise<void> {
    try {
      for (const device of devices) {
        const values = await deviceLatestFromPg(this.pool, device)
        await this.lastValues.restore([...values].map(([metric, v]) => ({ device, metric, ...v })))
      }
      this.metrics.lastValueRebuilds.inc({ outcome: 'repaired' })
    } catch (err) {
      this.log.warn({ err, devices: devices.size }, 'last values repair failed')
      this.metrics.lastValueRebuilds.inc({ outcome: 'failed' })
      this.#retry = true
    }
  }

  async #run(why: string): Promise<void> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      const outcome = await this.#rebuildOnce(why).catch((err: unknown) => {
        this.log.warn({ err, why }, 'last values rebuild failed')
        return 'failed' as const
      })

      this.metrics.lastValueRebuilds.inc({ outcome })
      this.#retry = outcome === 'failed'
      if (outcome !== 'lost' || attempt >= 3) return
      why = 'flushed during rebuild'
    }
  }

  async #rebuildOnce(why: string): Promise<'complete' | 'lost' | 'superseded' | 'failed'> {
    const runId = randomUUID()
    const started = Date.now()
    let after = { device: '', metric: '' }
    let pairs = 0

    await this.lastValues.beginRebuild(runId)

    while (!this.#stopped) {
      const page = await newestPage(this.pool, after, this.opts.pageSize)
      await this.lastValues.restore(page)
      pairs += page.length

      const last = page.at(-1)
      if (!last || page.length < this.opts.pageSize) break
      after = { device: last.device, metric: last.metric }
    }

    if (this.#stopped) return 'failed'

    const outcome = await this.lastValues.finishRebuild(runId)
    this.log.info({ why, pairs, ms: Date.now() - started, outcome }, 'last values rebuilt')
    return outcome
  }
}
