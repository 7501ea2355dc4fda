import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runner } from 'node-pg-migrate'
import type pg from 'pg'
import t from 'tap'
import { BridgeMetrics } from '../bridge/metrics.js'
import type { Reading } from '../bridge/reading.js'
import { createPool, migrate } from '../bridge/store/db.js'
import {
  parseBound,
  partitionName,
  rangeOf,
  rangeStart,
  upcoming,
} from '../bridge/store/partition-ranges.js'
import type { PartitionOptions } from '../bridge/store/partitions.js'
import { PartitionMaintainer } from '../bridge/store/partitions.js'
import { BatchWriter } from '../bridge/writer.js'
import { createLogger } from '../common/logger.js'
import { isolatedConfig } from './helpers/env.js'

const log = createLogger('silent')
const at = (iso: string) => Date.parse(iso)
const DAY = 86_400_000

t.test('ranges are aligned in UTC', async (t) => {
  const ms = at('2026-12-03T17:45:12.345Z') // a Thursday
  t.equal(new Date(rangeStart(ms, 'hour')).toISOString(), '2026-12-03T17:00:00.000Z')
  t.equal(new Date(rangeStart(ms, 'day')).toISOString(), '2026-12-03T00:00:00.000Z')
  t.equal(new Date(rangeStart(ms, 'week')).toISOString(), '2026-11-30T00:00:00.000Z', 'Monday')
  t.equal(new Date(rangeStart(ms, 'month')).toISOString(), '2026-12-01T00:00:00.000Z')

  const sunday = at('2026-12-06T23:59:59.999Z')
  t.equal(new Date(rangeStart(sunday, 'week')).toISOString(), '2026-11-30T00:00:00.000Z')
  t.equal(
    new Date(rangeStart(at('2026-11-30T00:00:00Z'), 'week')).toISOString(),
    '2026-11-30T00:00:00.000Z',
  )

  const dec = rangeOf(ms, 'month')
  t.equal(new Date(dec.to).toISOString(), '2027-01-01T00:00:00.000Z', 'December ends at New Year')
  const feb = rangeOf(at('2028-02-10T00:00:00Z'), 'month')
  t.equal((feb.to - feb.from) / DAY, 29, 'a leap February')

  const next = upcoming(ms, 'day', 3)
  t.same(
    next.map((r) => partitionName(r, 'day')),
    ['telemetry_p20261203', 'telemetry_p20261204', 'telemetry_p20261205', 'telemetry_p20261206'],
  )
  t.equal(partitionName(rangeOf(ms, 'hour'), 'hour'), 'telemetry_p2026120317')
})

t.test('partition bounds read back from Postgres text', async (t) => {
  t.same(parseBound("FOR VALUES FROM ('2026-12-03 00:00:00+00') TO ('2026-12-04 00:00:00+00')"), {
    from: at('2026-12-03T00:00:00Z'),
    to: at('2026-12-04T00:00:00Z'),
  })
  t.equal(parseBound('DEFAULT'), undefined)
  t.equal(parseBound("FOR VALUES FROM (MINVALUE) TO ('2026-12-04 00:00:00+00')"), undefined)
  t.equal(parseBound("FOR VALUES FROM ('2026-12-03 00:00:00-05') TO ('x')"), undefined)
})

async function setup(
  t: { teardown(fn: () => unknown): void },
  opts: Partial<PartitionOptions> = {},
) {
  const c = isolatedConfig(t)
  const db = { databaseUrl: c.DATABASE_URL as string, schema: c.PG_SCHEMA, poolSize: 4 }
  await migrate(db, log)
  const pool = createPool(db, log)
  t.teardown(() => pool.end())
  const options = { interval: 'day', premake: 3, retentionDays: 30, ...opts } as const
  const maintainer = (now: number) => new PartitionMaintainer(pool, options, log, () => now)
  const writer = new BatchWriter(
    pool,
    { copyTimeoutMs: 30_000, retryBaseMs: 20, retryCapMs: 200 },
    new BridgeMetrics(false),
    log,
  )
  return { pool, maintainer, writer }
}

/** Rows per partition, by partition name. */
async function where(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ part: string; n: number }>(
    `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM telemetry GROUP BY 1`,
  )
  return Object.fromEntries(rows.map((r) => [r.part.replace(/^.*\./, ''), r.n]))
}

async function partitions(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'telemetry'::regclass ORDER BY 1`,
  )
  return rows.map((r) => r.name)
}

const reading = (iso: string, device = 'p-1'): Reading => ({
  device,
  metric: 'v',
  tsUs: at(iso) * 1000,
  value: { kind: 'float', value: 1.5 },
})

const never = new AbortController().signal

t.test(
  'maintenance makes partitions ahead, moves strays, drops what retention expired',
  async (t) => {
    const { pool, maintainer, writer } = await setup(t)
    const now = at('2026-06-15T12:00:00Z')

    const first = await maintainer(now).runOnce()
    t.ok(first.ran)
    t.same(first.created, [
      'telemetry_p20260615',
      'telemetry_p20260616',
      'telemetry_p20260617',
      'telemetry_p20260618',
    ])

    // Readings no partition covers (a week-old backfill, one before any
    // partition, one older than retention) do not fail the batch.
    const batch = [
      reading('2026-06-15T11:59:00Z'),
      reading('2026-06-18T23:59:59.999999Z'),
      reading('2026-06-08T08:00:00Z'),
      reading('2026-06-08T09:00:00Z'),
      reading('2001-01-01T00:00:00Z'),
      reading('2026-06-19T00:00:00Z'),
    ]
    const stored = await writer.store(batch, never)
    t.same([stored.inserted, stored.refused.length], [6, 0], 'the whole batch is stored')
    t.same(await where(pool), {
      telemetry_p20260615: 1,
      telemetry_p20260618: 1,
      telemetry_default: 4,
    })

    const second = await maintainer(now).runOnce()
    t.same(second.created, ['telemetry_p20260608', 'telemetry_p20260619'])
    t.equal(second.moved, 3, 'the backfill and the early reading moved to their own partitions')
    t.equal(second.expired, 1, 'the 2001 reading is past retention')
    t.same(await where(pool), {
      telemetry_p20260608: 2,
      telemetry_p20260615: 1,
      telemetry_p20260618: 1,
      telemetry_p20260619: 1,
    })

    const again = await maintainer(now).runOnce()
    t.same([again.created, again.dropped, again.moved, again.expired], [[], [], 0, 0], 'idempotent')

    // 31 days on, the partitions of June 8 to 15 are wholly older than 30 days.
    const later = await maintainer(now + 31 * DAY).runOnce()
    t.same(later.dropped.sort(), ['telemetry_p20260608', 'telemetry_p20260615'])
    t.same(later.created, [
      'telemetry_p20260716',
      'telemetry_p20260717',
      'telemetry_p20260718',
      'telemetry_p20260719',
    ])
    t.same(await where(pool), { telemetry_p20260618: 1, telemetry_p20260619: 1 })
    t.notOk((await partitions(pool)).includes('telemetry_p20260608'))

    const redelivered = await writer.store(batch.slice(0, 2), never)
    t.same([redelivered.inserted, redelivered.duplicates], [1, 1], 'idempotent across partitions')
  },
)

t.test('two maintainers at once: one runs, the other steps aside', async (t) => {
  const { pool, maintainer } = await setup(t)
  const now = at('2026-06-15T12:00:00Z')
  const reports = await Promise.all([maintainer(now).runOnce(), maintainer(now).runOnce()])
  const created = reports.flatMap((r) => r.created)
  t.equal(created.length, 4, 'each partition made once')
  t.equal((await partitions(pool)).length, 5, 'four and the default')
})

t.test('maintenance while batches stream in loses and duplicates nothing', async (t) => {
  const { pool, maintainer, writer } = await setup(t, { interval: 'hour', retentionDays: 0 })
  const base = at('2026-06-15T00:00:00Z')
  const hours = 48
  let written = 0

  const writing = (async () => {
    for (let b = 0; b < 40; b++) {
      const batch = Array.from({ length: 500 }, (_, i) => {
        const ms = base + ((b * 500 + i) * 3_600_000 * hours) / 20_000
        return { ...reading(new Date(ms).toISOString(), `d-${i % 7}`), tsUs: ms * 1000 + b }
      })
      const r = await writer.store(batch, never)
      written += r.inserted
    }
  })()

  // Sweeping the default partition repeatedly while COPY lands in it.
  for (let i = 0; i < 6; i++) {
    await maintainer(base + 47 * 3_600_000)
      .runOnce()
      .catch(() => undefined)
  }
  await writing
  await maintainer(base + 47 * 3_600_000).runOnce()

  const { rows } = await pool.query('SELECT count(*)::int AS n FROM telemetry')
  t.equal(written, 20_000)
  t.equal(rows[0].n, 20_000, 'every row once')
  const counts = await where(pool)
  t.equal(counts.telemetry_default, undefined, 'nothing left behind in the default partition')
  t.equal(Object.keys(counts).length, hours, 'one partition per hour of data')
})

t.test('rows stored before partitioning survive the migration', async (t) => {
  const c = isolatedConfig(t)
  const databaseUrl = c.DATABASE_URL as string
  const dir = fileURLToPath(new URL('../bridge/migrations', import.meta.url))
  const base = { databaseUrl, dir, migrationsTable: 'pgmigrations', schema: c.PG_SCHEMA }
  await runner({ ...base, direction: 'up', count: 1, createSchema: true, log: () => undefined })

  const pool = createPool({ databaseUrl, schema: c.PG_SCHEMA, poolSize: 2 }, log)
  t.teardown(() => pool.end())
  await pool.query(
    `INSERT INTO telemetry (device_id, metric, ts, v_int) VALUES
       ('old', 'n', '2026-01-01T00:00:00Z', 1), ('old', 'n', '2026-01-02T00:00:00Z', 2)`,
  )

  await migrate({ databaseUrl, schema: c.PG_SCHEMA, poolSize: 2 }, log)
  t.same(await where(pool), { telemetry_default: 2 })

  const opts = { interval: 'day', premake: 1, retentionDays: 0 } as const
  await new PartitionMaintainer(pool, opts, log, () => at('2026-01-05T00:00:00Z')).runOnce()
  t.same(await where(pool), { telemetry_p20260101: 1, telemetry_p20260102: 1 })
})

t.test('two processes migrating one schema at once both succeed', async (t) => {
  const c = isolatedConfig(t)
  const db = { databaseUrl: c.DATABASE_URL as string, schema: c.PG_SCHEMA, poolSize: 2 }
  const [a, b] = await Promise.all([migrate(db, log), migrate(db, log)])
  const all = readdirSync(new URL('../bridge/migrations', import.meta.url)).filter((f) =>
    f.endsWith('.sql'),
  )
  t.equal(a.length + b.length, all.length, 'each migration applied once, by one of them')
})
