import { Redis } from 'ioredis'
import t from 'tap'
import { BridgeMetrics } from '../bridge/metrics.js'
import { createPool, migrate } from '../bridge/store/db.js'
import { LastValues } from '../bridge/store/last-values.js'
import { LastValuesRebuilder } from '../bridge/store/last-values-rebuild.js'
import { createLogger } from '../common/logger.js'
import { isolatedConfig } from './helpers/env.js'

const log = createLogger('silent')
const T0_US = Date.parse('2026-02-01T00:00:00Z') * 1000

async function setup(t: Parameters<typeof isolatedConfig>[0]) {
  const c = isolatedConfig(t)
  const db = { databaseUrl: c.DATABASE_URL!, schema: c.PG_SCHEMA, poolSize: 2 }
  await migrate(db, log)
  const pool = createPool(db, log)
  const redis = new Redis(c.REDIS_URL!)
  t.teardown(async () => {
    redis.disconnect()
    await pool.end()
  })
  const lastValues = new LastValues(redis, c.REDIS_KEY_PREFIX)
  const rebuilder = (pageSize: number) =>
    new LastValuesRebuilder(
      pool,
      redis,
      lastValues,
      { checkIntervalMs: 60_000, pageSize },
      new BridgeMetrics(false),
      log,
    )
  return { pool, redis, lastValues, rebuilder }
}

// Every value type, the newest row of each pair written last in the table
// but not always the last by timestamp.
const COLUMNS = {
  f: ['v_float', (i: number) => 1.5 + i, (i: number) => String(1.5 + i)],
  i: [
    'v_int',
    (i: number) => `${9007199254740993n + BigInt(i)}`,
    (i: number) => `${9007199254740993n + BigInt(i)}`,
  ],
  n: [
    'v_numeric',
    (i: number) => `1234567890123456789012345.${i}0`,
    (i: number) => `1234567890123456789012345.${i}0`,
  ],
  b: ['v_bool', (i: number) => i % 2 === 1, (i: number) => String(i % 2 === 1)],
  s: ['v_text', (i: number) => `s${i} "q"`, (i: number) => JSON.stringify(`s${i} "q"`)],
  z: [
    'v_bytes',
    (i: number) => Buffer.from(`a\u0000${i}`),
    (i: number) => JSON.stringify(`a\u0000${i}`),
  ],
  j: [
    'v_json',
    (i: number) => `[${i}, 12345678901234567890]`,
    (i: number) => `[${i}, 12345678901234567890]`,
  ],
} as const

t.test('a rebuild restores every newest value, page by page, never over a newer one', async (t) => {
  const { pool, lastValues, rebuilder } = await setup(t)
  const devices = ['d-1', 'd-2', 'Gerät:3', 'd-4', 'd-5']

  // Timestamps 0..3 s, inserted in shuffled order; newest is i = 3.
  for (const device of devices)
    for (const [metric, [column, value]] of Object.entries(COLUMNS))
      for (const i of [2, 3, 0, 1])
        await pool.query(
          `INSERT INTO telemetry (device_id, metric, ts, ${column}) VALUES ($1, $2, to_timestamp($3::float8 / 1e6), $4)`,
          [device, metric, T0_US + i * 1_000_000, value(i)],
        )

  // Ingest got ahead of Postgres for one value (it commits before it
  // updates Redis) and Redis holds an older one for another.
  const newer = {
    device: 'd-1',
    metric: 'f',
    tsUs: T0_US + 9_000_000,
    kind: 'float',
    json: '99',
  } as const
  const older = { device: 'd-2', metric: 'f', tsUs: T0_US, kind: 'float', json: '1.5' } as const
  await lastValues.restore([newer, older])
  t.same(await lastValues.read('d-1'), { status: 'incomplete' }, 'no marker yet: incomplete')

  const r = rebuilder(3)
  r.start()
  t.teardown(() => r.stop())
  await r.idle()

  t.ok(await lastValues.isComplete(), 'the marker is set when the rebuild finished')

  for (const device of devices) {
    const got = await lastValues.read(device)
    t.equal(got.status, 'found', device)
    if (got.status !== 'found') continue

    for (const [metric, [, , json]] of Object.entries(COLUMNS)) {
      const want =
        device === 'd-1' && metric === 'f' ? newer : { tsUs: T0_US + 3_000_000, json: json(3) }
      t.same(
        { tsUs: got.value.get(metric)?.tsUs, json: got.value.get(metric)?.json },
        { tsUs: want.tsUs, json: want.json },
        `${device} ${metric}`,
      )
    }
  }

  t.equal((await lastValues.read('d-1')).status, 'found')
  t.equal((await lastValues.readMetric('d-5', 'z')).status, 'found')
  t.equal(
    (await lastValues.read('nobody')).status,
    'unknown',
    'complete: an unknown device is known unknown',
  )

  const fleet = await lastValues.fleet('-inf', '+inf', 0, 10)
  t.equal(
    fleet.status === 'found' && fleet.value.total,
    devices.length,
    'the fleet index is rebuilt',
  )
})

t.test('a rebuild that loses its announcement to a flush does not set the marker', async (t) => {
  const { lastValues, redis } = await setup(t)

  await lastValues.beginRebuild('run-1')
  await redis.del(lastValues.rebuildKey)
  t.equal(await lastValues.finishRebuild('run-1'), 'lost')
  t.notOk(await lastValues.isComplete())

  await lastValues.beginRebuild('run-2')
  await lastValues.beginRebuild('run-3')
  t.equal(await lastValues.finishRebuild('run-2'), 'superseded', 'a later run sets it instead')
  t.equal(await lastValues.finishRebuild('run-3'), 'complete')
  t.ok(await lastValues.isComplete())
})

t.test('a missing marker is noticed by the periodic check and rebuilt', async (t) => {
  const { pool, lastValues, redis } = await setup(t)
  await pool.query(
    `INSERT INTO telemetry (device_id, metric, ts, v_int) VALUES ('a', 'm', now(), 7)`,
  )
  const r = new LastValuesRebuilder(
    pool,
    redis,
    lastValues,
    { checkIntervalMs: 100, pageSize: 10 },
    new BridgeMetrics(false),
    log,
  )
  r.start()
  t.teardown(() => r.stop())
  await r.idle()

  // Someone empties our keys (FLUSHALL, eviction, an operator).
  await redis.del(lastValues.markerKey, lastValues.latestKey('a'))
  t.same(await lastValues.read('a'), { status: 'incomplete' })

  const deadline = Date.now() + 10_000
  while (!(await lastValues.isComplete()) && Date.now() < deadline)
    await new Promise((res) => setTimeout(res, 50))

  const got = await lastValues.readMetric('a', 'm')
  t.equal(got.status === 'found' && got.value.json, '7')
})

t.test('a failed update repairs just its devices from Postgres', async (t) => {
  const { pool, lastValues, redis } = await setup(t)
  const metrics = new BridgeMetrics(false)
  const r = new LastValuesRebuilder(
    pool,
    redis,
    lastValues,
    { checkIntervalMs: 100, pageSize: 10 },
    metrics,
    log,
  )
  r.start()
  t.teardown(() => r.stop())
  await r.idle()

  // The row is committed, but its Redis update fails (a key of the wrong
  // type stands in for a timeout).
  await pool.query(
    `INSERT INTO telemetry (device_id, metric, ts, v_text) VALUES ('broken', 'm', now(), 'x')`,
  )
  await redis.set(lastValues.latestKey('broken'), 'not a hash')
  const reading = {
    device: 'broken',
    metric: 'm',
    tsUs: Date.now() * 1000,
    value: { kind: 'string', value: 'x' },
  } as const
  await t.rejects(lastValues.update([reading]))
  await redis.del(lastValues.latestKey('broken'))

  const deadline = Date.now() + 10_000
  while ((await lastValues.readMetric('broken', 'm')).status !== 'found' && Date.now() < deadline)
    await new Promise((res) => setTimeout(res, 50))

  const got = await lastValues.readMetric('broken', 'm')
  t.equal(got.status === 'found' && got.value.json, '"x"', 'the device is back in Redis')
  const counts = Object.fromEntries(
    (await metrics.lastValueRebuilds.get()).values.map((v) => [v.labels.outcome, v.value]),
  )
  t.ok(counts.repaired >= 1, 'by a repair')
  t.equal(counts.complete, 1, 'not by a second full rebuild')
})
