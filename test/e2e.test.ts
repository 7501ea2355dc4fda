import mqtt from 'mqtt'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedConfig } from './helpers/env.js'

const DEVICES = 50
const MESSAGES = 4
const T0 = Date.parse('2026-01-01T00:00:00Z')

/** What device d sends in message i: five metrics of four types, exact values. */
function payload(d: number, i: number) {
  return {
    ts: T0 + i * 1000,
    // Never integral: JSON writes 21.0 as 21, which is an int by the data contract.
    temp: 20.005 + d / 10 + i / 100,
    count: d * 1000 + i,
    status: `ok-${d}-${i}`,
    door_open: (d + i) % 2 === 0,
    big: `${12345678901234567000n + BigInt(d * 10 + i)}`,
  }
}

t.test('devices publish at QoS 1; every reading lands once; latest is newest', async (t) => {
  const config = isolatedConfig(t)
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())

  const url = `mqtt://127.0.0.1:${stack.broker!.port}`
  const ids = Array.from({ length: DEVICES }, (_, d) => `dev-${d}`)
  const clients = await Promise.all(ids.map((id) => mqtt.connectAsync(url, { clientId: id })))
  t.teardown(() => Promise.all(clients.map((c) => c.endAsync())))

  // Newest first, so arrival order and timestamp order disagree.
  const order = Array.from({ length: MESSAGES }, (_, i) => MESSAGES - 1 - i)
  await Promise.all(
    clients.map(async (c, d) => {
      for (const i of order) {
        const { big, ...rest } = payload(d, i)
        const text = JSON.stringify(rest).replace(/}$/, `,"big":${big}}`)
        await c.publishAsync(`devices/${ids[d]}/telemetry`, text, { qos: 1 })
      }
    }),
  )

  const pool = stack.bridge!.pool
  const expected = DEVICES * MESSAGES * 5
  const count = async () =>
    Number((await pool.query('SELECT count(*) AS n FROM telemetry')).rows[0].n)
  await eventually(async () => (await count()) >= expected, 20_000, `${expected} rows`)

  const { rows } = await pool.query(`
    SELECT device_id, metric, (extract(epoch FROM ts) * 1000)::bigint AS ms,
           v_float, v_int::text AS v_int, v_numeric::text AS v_numeric, v_bool, v_text
    FROM telemetry ORDER BY device_id, metric, ts`)

  t.equal(rows.length, expected, 'exactly one row per reading, no duplicates')

  const mismatches = rows.filter((r) => {
    const d = Number(r.device_id.slice(4))
    const p = payload(d, (Number(r.ms) - T0) / 1000)
    const got = {
      temp: r.v_float,
      count: r.v_int,
      status: r.v_text,
      door_open: r.v_bool,
      big: r.v_numeric,
    }
    const want = {
      temp: p.temp,
      count: String(p.count),
      status: p.status,
      door_open: p.door_open,
      big: p.big,
    }
    return got[r.metric as keyof typeof got] !== want[r.metric as keyof typeof want]
  })
  t.same(mismatches, [], 'every value is stored exactly, with its type')

  const api = `http://127.0.0.1:${stack.apiPort}`
  for (const d of [0, 17, DEVICES - 1]) {
    const res = await fetch(`${api}/v1/devices/dev-${d}/latest`)
    const text = await res.text()
    const newest = payload(d, MESSAGES - 1)

    t.equal(res.status, 200)
    t.match(
      text,
      `"big":{"type":"numeric","ts":"2026-01-01T00:00:03.000000Z","value":${newest.big}}`,
    )

    const body = JSON.parse(text)
    t.same(body.metrics.temp, {
      type: 'float',
      ts: '2026-01-01T00:00:03.000000Z',
      value: newest.temp,
    })
    t.same(body.metrics.status.value, newest.status)
    t.same(body.metrics.door_open.value, newest.door_open)
    t.same(body.metrics.count, {
      type: 'int',
      ts: '2026-01-01T00:00:03.000000Z',
      value: newest.count,
    })
  }

  const unknown = await fetch(`${api}/v1/devices/nobody/latest`)
  t.equal(unknown.status, 404)
  t.equal((await fetch(`${api}/healthz`)).status, 200)
})

t.test('bad payloads are counted and skipped; the messages after them are stored', async (t) => {
  const config = isolatedConfig(t)
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())

  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.broker!.port}`, {
    clientId: 'bad-1',
  })
  t.teardown(() => client.endAsync())

  const bad = ['online', '42', '"text"', 'null', '[1,2,3]', '{"v":NaN}', '{"broken":']
  for (const p of bad) await client.publishAsync('devices/bad-1/telemetry', p, { qos: 1 })
  await client.publishAsync('devices/bad-1/telemetry', '{"ts":1767225600000,"ok":1}', { qos: 1 })

  const pool = stack.bridge!.pool
  await eventually(
    async () => (await pool.query('SELECT 1 FROM telemetry')).rowCount === 1,
    10_000,
    'the good row',
  )
  await stack.bridge!.pipeline.flush()

  const letters = await pool.query('SELECT reason FROM dead_letters ORDER BY id')
  t.same(
    letters.rows.map((r) => r.reason),
    // [1,2,3] is three readings that are not objects: three dead letters.
    [
      'invalid_json',
      ...Array(3).fill('not_an_object'),
      ...Array(3).fill('not_an_object'),
      'non_finite_number',
      'invalid_json',
    ],
  )

  const metrics = await stack.bridge!.metrics.registry.getSingleMetricAsString(
    'telemetry_messages_total',
  )
  t.match(metrics, 'telemetry_messages_total{outcome="rejected"} 7')
  t.match(metrics, 'telemetry_messages_total{outcome="stored"} 1')
  const inFlight = await stack.bridge!.metrics.inFlight.get()
  t.equal(inFlight.values[0]?.value, 0, 'nothing left in flight')
})
