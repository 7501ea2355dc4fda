import type pg from 'pg'
import { TelemetryError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { BridgeMetrics } from '../metrics.js'
import type { LastValue, LastValues, Lookup } from '../store/last-values.js'
import { deviceLatestFromPg, metricLatestFromPg } from '../store/last-values-pg.js'

export interface Rebuildable {
  kick(why: string): void
}

export type Source = 'redis' | 'postgres'

const MAX_WAITING_READS = 64

export interface Answer<T> {
  value: T | undefined
  source: Source
}

/**
 * Latest values from Redis when it is up and complete; otherwise from
 * Postgres, which holds the same answer more slowly. A Redis that is away
 * fails a command at once (no offline queue) or after its command timeout,
 * so a read never waits for Redis to come back.
 */
export class LatestReader {
  constructor(
    private readonly lastValues: LastValues,
    private readonly pool: pg.Pool,
    private readonly rebuilder: Rebuildable | undefined,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {}

  device(id: string): Promise<Answer<Map<string, LastValue>>> {
    return this.#read(
      () => this.lastValues.read(id),
      async () => {
        const values = await deviceLatestFromPg(this.pool, id)
        return values.size > 0 ? values : undefined
      },
    )
  }

  metric(id: string, metric: string): Promise<Answer<LastValue>> {
    return this.#read(
      () => this.lastValues.readMetric(id, metric),
      () => metricLatestFromPg(this.pool, id, metric),
    )
  }

  async #read<T>(
    fromRedis: () => Promise<Lookup<T>>,
    fromPg: () => Promise<T | undefined>,
  ): Promise<Answer<T>> {
    const cached = await this.#tryRedis(fromRedis)

    if (cached) {
      this.metrics.latestReads.inc({ source: 'redis' })
      return { value: cached.status === 'found' ? cached.value : undefined, source: 'redis' }
    }

    // Redis away under a read storm must not become a Postgres queue that
    // answers nobody in time: past this many waiting reads, refuse at once.
    if (this.pool.waitingCount >= MAX_WAITING_READS) {
      this.metrics.latestReads.inc({ source: 'refused' })
      throw new TelemetryError('STORE_UNAVAILABLE', 'too many reads waiting for Postgres')
    }

    this.metrics.latestReads.inc({ source: 'postgres' })
    try {
      return { value: await fromPg(), source: 'postgres' }
    } catch (err) {
      throw new TelemetryError('STORE_UNAVAILABLE', 'neither Redis nor Postgres answered', {
        cause: err,
      })
    }
  }

  /** The Redis answer, or undefined when Redis is away or not known complete. */
  async #tryRedis<T>(read: () => Promise<Lookup<T>>): Promise<Lookup<T> | undefined> {
    if (!this.lastValues.available) return undefined

    try {
      const r = await read()
      if (r.status !== 'incomplete') return r
      this.rebuilder?.kick('read found last values incomplete')
    } catch (err) {
      this.log.debug({ err }, 'redis read failed, reading postgres')
    }

    return undefined
  }
}
