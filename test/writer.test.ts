import pg from 'pg'
import t from 'tap'
import { BridgeMetrics } from '../bridge/metrics.js'
import type { Reading } from '../bridge/reading.js'
import { createPool, migrate } from '../bridge/store/db.js'
import { writeDeadLetters } from '../bridge/store/dead-letters.js'
import { BatchWriter } from '../bridge/writer.js'
import { createLogger } from '../common/logger.js'
import { isolatedConfig } from './helpers/env.js'

const log = createLogger('silent')
const T0 = Date.parse('2026-01-01T00:00:00Z') * 1000

async function setup(t: { teardown(fn: () => unknown): void }) {
  const c = isolatedConfig(t)
  const db = { databaseUrl: c.DATABASE_URL as string, schema: c.PG_SCHEMA, poolSize: 4 }
  await migrate(db, log)
  const pool = createPool(db, log)
  t.teardown(() => pool.end())
  const writer = new BatchWriter(
    pool,
    { copyTimeoutMs: 30_000, retryBaseMs: 20, retryCapMs: 200 },
    new BridgeMetrics(false),
    log,
  )
  return { pool, writer }
}

function readings(n: number, device = 'w-1'): Reading[] {
  return Array.from({ length: n }, (_, i) => ({
    device,
    metric: 'v',
    tsUs: T0 + i,
    value: { kind: 'int', value: BigInt(i) },
  }))
}

const never = new AbortController().signal

t.test('a batch written three times leaves one copy of each row', async (t) => {
  const { pool, writer } = await setup(t)
  const batch = readings(1000)

  const first = await writer.store(batch, never)
  const again = await writer.store(batch, never)
  const third = await writer.store(batch, never)

  t.same([first.inserted, first.duplicates], [1000, 0])
  t.same([again.inserted, again.duplicates], [0, 1000])
  t.same([third.inserted, third.duplicates], [0, 1000])

  const { rows } = await pool.query(
    'SELECT count(*)::int AS n, sum(v_int)::text AS s FROM telemetry',
  )
  t.same(rows[0], { n: 1000, s: String((999 * 1000) / 2) })
})

t.test('one bad row at any position: 99 commit, 1 is refused with its SQLSTATE', async (t) => {
  const { pool, writer } = await setup(t)
  const positions = Array.from({ length: 100 }, (_, i) => i)
  let refusedOk = 0

  for (const at of positions) {
    const batch = readings(100, `bad-at-${at}`)
    // Postgres text cannot hold U+0000 (SQLSTATE 22021); the decoder never
    // lets one through, so this stands for any row the server refuses.
    ;(batch[at] as Reading).metric = 'v\0x'

    const r = await writer.store(batch, never)

    if (r.inserted !== 99) t.fail(`bad row at ${at}: ${r.inserted} stored, not 99`)
    const [one] = r.refused
    if (r.refused.length === 1 && one?.sqlstate === '22021' && one.reason === 'db_rejected') {
      refusedOk++
    }
    await writeDeadLetters(pool, r.refused)
  }
  t.equal(refusedOk, 100, 'each batch refused exactly its bad row, with SQLSTATE 22021')

  const { rows } = await pool.query(
    `SELECT count(*)::int AS n, count(DISTINCT device_id)::int AS devices,
            bool_and(metric = 'v\uFFFDx') AS sanitized FROM dead_letters`,
  )
  t.same(
    rows[0],
    { n: 100, devices: 100, sanitized: true },
    'dead letters store what text can hold',
  )

  const stored = await pool.query(
    "SELECT count(*)::int AS n FROM telemetry WHERE device_id LIKE 'bad-at-%'",
  )
  t.equal(stored.rows[0].n, 9_900, 'the good rows of every batch')
})

t.test('a backend terminated mid-COPY: the batch is retried and lands once', async (t) => {
  const { pool, writer } = await setup(t)
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL })
  await admin.connect()
  t.teardown(() => admin.end())

  const batch = readings(300_000, 'term')
  let killed = 0
  const killer = setInterval(async () => {
    if (killed > 0) return
    const r = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = 'telemetry-bridge' AND query LIKE 'COPY%' AND state = 'active'`,
    )
    killed += r.rowCount ?? 0
  }, 5)

  const r = await writer.store(batch, never)
  clearInterval(killer)

  t.ok(killed >= 1, `terminated ${killed} backend(s) mid-COPY`)
  t.equal(r.inserted + r.duplicates, 300_000)

  const { rows } = await pool.query(
    "SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'term'",
  )
  t.equal(rows[0].n, 300_000, 'every row once, and the pool still works')
})
