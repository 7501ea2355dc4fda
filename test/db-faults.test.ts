import type pg from 'pg'
import t from 'tap'
import { BridgeMetrics } from '../bridge/metrics.js'
import type { Reading } from '../bridge/reading.js'
import { createPool, migrate } from '../bridge/store/db.js'
import { BatchWriter } from '../bridge/writer.js'
import { createLogger } from '../common/logger.js'
import { eventually } from './helpers/env.js'
import { ownServices } from './helpers/instances.js'

// These tests stop and restart Postgres, so they run on instances of their own.
const log = createLogger('silent')
const T0 = Date.parse('2026-03-01T00:00:00Z') * 1000
const never = new AbortController().signal

async function setup(t: { teardown(fn: () => unknown): void }) {
  const services = await ownServices(t)
  const db = { databaseUrl: services.databaseUrl, schema: 'tel', poolSize: 4 }
  await migrate(db, log)
  const pool = createPool(db, log)
  t.teardown(() => pool.end())
  const metrics = new BridgeMetrics(false)
  const writer = new BatchWriter(
    pool,
    { copyTimeoutMs: 30_000, retryBaseMs: 50, retryCapMs: 500 },
    metrics,
    log,
  )
  return { services, pool, writer, metrics }
}

function readings(n: number, device: string, offset = 0): Reading[] {
  return Array.from({ length: n }, (_, i) => ({
    device,
    metric: 'v',
    tsUs: T0 + offset + i,
    value: { kind: 'int', value: BigInt(offset + i) },
  }))
}

async function count(pool: pg.Pool, device: string): Promise<number> {
  const { rows } = await pool.query(
    'SELECT count(*)::int AS n, count(DISTINCT ts)::int AS d FROM telemetry WHERE device_id = $1',
    [device],
  )
  if (rows[0].n !== rows[0].d) throw new Error(`duplicate rows for ${device}`)
  return rows[0].n
}

async function copyIsRunning(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query(
    `SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY%' AND state = 'active'`,
  )
  return rows.length > 0
}

t.test('Postgres restarted mid-COPY: the batch lands once and the pool recovers', async (t) => {
  const { services, pool, writer, metrics } = await setup(t)
  const batch = readings(400_000, 'restart')

  const writing = writer.store(batch, never)
  await eventually(() => copyIsRunning(pool), 20_000, 'a running COPY')
  await services.stop('pg')
  await services.start('pg')
  const r = await writing

  t.equal(r.inserted + r.duplicates, 400_000, 'every reading accounted for')
  t.equal(r.refused.length, 0, 'nothing dead-lettered for an outage')
  t.ok(((await metrics.writeRetries.get()).values[0]?.value ?? 0) >= 1, 'the write was retried')
  t.equal(await count(pool, 'restart'), 400_000, 'every row once')

  const after = await writer.store(readings(10, 'after'), never)
  t.equal(after.inserted, 10, 'the next batch works on the same pool')
})

t.test('Postgres stopped for a while under a stream of batches', async (t) => {
  const { services, pool, writer } = await setup(t)
  const batches = 30
  let stored = 0

  const streaming = (async () => {
    for (let b = 0; b < batches; b++) {
      const r = await writer.store(readings(2_000, 'outage', b * 2_000), never)
      stored += r.inserted + r.duplicates
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()

  await eventually(async () => stored >= 6_000, 20_000, 'a few batches before the outage')
  await services.stop('pg')
  const during = stored
  await new Promise((resolve) => setTimeout(resolve, 4_000))
  t.ok(stored - during <= 2_000, 'no batch completes while Postgres is down (one may be in flight)')
  await services.start('pg')
  await streaming

  t.equal(stored, batches * 2_000)
  t.equal(await count(pool, 'outage'), batches * 2_000, 'every row once, none lost')
})

t.test('a backend terminated between batches does not hurt the next one', async (t) => {
  const { pool, writer } = await setup(t)
  await writer.store(readings(100, 'idle'), never)
  // Every idle pooled connection dies at once, as after a failover.
  await pool.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = $1',
    ['client backend'],
  )
  const r = await writer.store(readings(100, 'idle', 100), never)
  t.equal(r.inserted, 100)
  t.equal(await count(pool, 'idle'), 200)
})
