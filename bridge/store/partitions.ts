import type pg from 'pg'
import type { Logger } from '../../common/logger.js'
import type { PartitionInterval, Range } from './partition-ranges.js'
import {
  maintenancePeriodMs,
  overlaps,
  parseBound,
  partitionName,
  rangeOf,
  upcoming,
} from './partition-ranges.js'

export interface PartitionOptions {
  interval: PartitionInterval
  /** Partitions kept ready after the current one. */
  premake: number
  /** 0 keeps everything. */
  retentionDays: number
}

export interface MaintenanceReport {
  /** False when another process held the maintenance lock. */
  ran: boolean
  created: string[]
  /** Rows moved out of the default partition into a new one. */
  moved: number
  dropped: string[]
  /** Rows older than retention deleted from the default partition. */
  expired: number
}

interface Partition {
  name: string
  range: Range | undefined
}

// Maintenance must never stall ingest for long: a DDL statement queued for a
// lock makes every later COPY queue behind it. Give up and retry next run.
const LOCK_TIMEOUT = "SET LOCAL lock_timeout = '2s'"
// Partition bounds print in the session time zone; parseBound expects UTC.
const UTC = "SET LOCAL TimeZone = 'UTC'"
const LOCK_KEY = "hashtext(current_schema() || '.telemetry partitions')"
const DAY = 86_400_000

/**
 * Keeps the time partitions of `telemetry`: the current one and `premake`
 * ahead exist; rows that fell into the default partition (a backfill, or a
 * reading before the first partition) are moved into a partition of their
 * own; partitions wholly older than retention are dropped, and so are such
 * rows in the default partition. One process at a time (advisory lock).
 */
export class PartitionMaintainer {
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: PartitionOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs once now, then on a timer until stop(). Errors are logged and retried next time. */
  async start(): Promise<MaintenanceReport> {
    const first = await this.runOnce()
    this.#timer = setInterval(() => void this.#safeRun(), maintenancePeriodMs(this.opts.interval))
    this.#timer.unref()
    return first
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }

  async #safeRun(): Promise<void> {
    if (this.#running) return
    this.#running = this.runOnce().catch((err) =>
      this.log.warn({ err }, 'partition maintenance failed; retrying next run'),
    )
    await this.#running
    this.#running = undefined
  }

  async runOnce(): Promise<MaintenanceReport> {
    const report: MaintenanceReport = { ran: false, created: [], moved: 0, dropped: [], expired: 0 }
    const client = await this.pool.connect()
    const onError = (err: Error) => this.log.warn({ err }, 'maintenance connection failed')
    client.on('error', onError)

    try {
      const lock = await client.query(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`)
      if (!lock.rows[0]?.ok) return report
      try {
        report.ran = true
        await this.#maintain(client, report)
      } finally {
        await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`)
      }
    } finally {
      client.off('error', onError)
      client.release()
    }

    if (report.created.length + report.dropped.length + report.moved + report.expired > 0) {
      this.log.info(report, 'partitions maintained')
    }
    return report
  }

  async #maintain(client: pg.PoolClient, report: MaintenanceReport): Promise<void> {
    const { interval, premake, retentionDays } = this.opts
    const now = this.now()
    const cutoff = retentionDays > 0 ? now - retentionDays * DAY : Number.NEGATIVE_INFINITY
    const existing = await listPartitions(client)
    const wanted = [
      ...upcoming(now, interval, premake),
      ...(await strays(client, interval, cutoff)),
    ]

    for (const range of wanted) {
      if (range.to <= cutoff) continue
      if (existing.some((p) => p.range && overlaps(p.range, range))) continue
      const name = partitionName(range, interval)
      report.moved += await createPartition(client, name, range)
      report.created.push(name)
      existing.push({ name, range })
    }

    if (cutoff === Number.NEGATIVE_INFINITY) return

    for (const p of existing) {
      if (!p.range || p.range.to > cutoff) continue
      await inTransaction(client, () => client.query(`DROP TABLE ${p.name}`))
      report.dropped.push(p.name)
    }

    const expired = await inTransaction(client, () =>
      client.query('DELETE FROM telemetry_default WHERE ts < $1', [new Date(cutoff)]),
    )
    report.expired = expired.rowCount ?? 0
  }
}

async function listPartitions(client: pg.PoolClient): Promise<Partition[]> {
  const res = await inTransaction(client, () =>
    client.query<{ name: string; bound: string }>(
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'telemetry'::regclass`,
    ),
  )
  return res.rows.map((r) => ({ name: r.name, range: parseBound(r.bound) }))
}

/** Spans that rows in the default partition belong to (it should stay small). */
async function strays(
  client: pg.PoolClient,
  interval: PartitionInterval,
  cutoff: number,
): Promise<Range[]> {
  const res = await client.query<{ start: Date }>(
    `SELECT DISTINCT date_trunc($1, ts, 'UTC') AS start FROM telemetry_default
      WHERE ts >= $2 ORDER BY 1 LIMIT 100`,
    [interval, Number.isFinite(cutoff) ? new Date(cutoff) : '-infinity'],
  )
  return res.rows.map((r) => rangeOf(r.start.getTime(), interval))
}

/**
 * Creates a partition for `range` and moves into it the rows of that span
 * that waited in the default partition, in one transaction. The default
 * partition is locked first so no row can land there between the move and
 * the ATTACH, which would make the ATTACH fail.
 */
async function createPartition(client: pg.PoolClient, name: string, range: Range): Promise<number> {
  const from = new Date(range.from).toISOString()
  const to = new Date(range.to).toISOString()

  return inTransaction(client, async () => {
    await client.query('LOCK TABLE telemetry_default IN ACCESS EXCLUSIVE MODE')
    await client.query(
      `CREATE TABLE ${name} (LIKE telemetry INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
    )
    const moved = await client.query(
      `WITH moved AS (DELETE FROM telemetry_default WHERE ts >= $1 AND ts < $2 RETURNING *)
       INSERT INTO ${name} SELECT * FROM moved`,
      [from, to],
    )
    await client.query(
      `ALTER TABLE telemetry ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}')`,
    )
    return moved.rowCount ?? 0
  })
}

async function inTransaction<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN')
  try {
    await client.query(LOCK_TIMEOUT)
    await client.query(UTC)
    const out = await fn()
    await client.query('COMMIT')
    return out
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}
