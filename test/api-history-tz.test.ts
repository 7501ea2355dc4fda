import pg from 'pg'
import t from 'tap'
import { bucketHistory, rawHistory } from '../bridge/api/history-sql.js'
import { migrate } from '../bridge/store/db.js'
import { createLogger } from '../common/logger.js'
import { isolatedConfig } from './helpers/env.js'

// The history SQL must not depend on the session's time zone: buckets are
// aligned to UTC and times come back as epoch microseconds.
t.test('history is the same whatever the Postgres session time zone', async (t) => {
  const c = isolatedConfig(t)
  await migrate(
    { databaseUrl: c.DATABASE_URL!, schema: c.PG_SCHEMA, poolSize: 2 },
    createLogger('silent'),
  )

  const pools = ['UTC', 'America/New_York', 'Asia/Kathmandu'].map(
    (tz) =>
      new pg.Pool({
        connectionString: c.DATABASE_URL,
        max: 1,
        options: `-c search_path=${c.PG_SCHEMA} -c TimeZone=${tz}`,
      }),
  )
  t.teardown(() => Promise.all(pools.map((p) => p.end())))

  // Around a New York midnight and a DST change.
  await pools[1]!.query(
    `INSERT INTO telemetry (device_id, metric, ts, v_int)
     SELECT 'tz', 'n', timestamptz '2026-03-08T00:00:00Z' + i * interval '1 hour', i
     FROM generate_series(0, 47) i`,
  )

  const q = {
    device: 'tz',
    metric: 'n',
    from: '2026-03-08T00:00:00Z',
    to: '2026-03-10T00:00:00Z',
    limit: 100,
  }
  const results = await Promise.all(
    pools.map(async (p) => ({
      raw: await rawHistory(p, q),
      days: await bucketHistory(p, q, '1 days', 'sum'),
    })),
  )

  t.equal(results[0]!.raw.length, 48)
  t.equal(results[0]!.raw[5]!.tsUs, Date.parse('2026-03-08T05:00:00Z') * 1000)
  t.same(
    results[0]!.days.map((p) => [p.tsUs / 1000, p.json, p.kind]),
    [
      [Date.parse('2026-03-08T00:00:00Z'), String((23 * 24) / 2), 'int'],
      [Date.parse('2026-03-09T00:00:00Z'), String((24 + 47) * 12), 'int'],
    ],
    'day buckets start at UTC midnight',
  )
  t.same(results[1], results[0], 'New York session: identical')
  t.same(results[2], results[0], 'Kathmandu (+05:45) session: identical')
})
