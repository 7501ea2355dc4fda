import mqtt from 'mqtt'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedConfig } from './helpers/env.js'

// The data contract end to end: broker → bridge → Postgres → Redis → HTTP.
t.test('hard values, timestamps and junk through the whole path', async (t) => {
  const stack = await startStack(isolatedConfig(t), createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())

  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.broker!.port}`, {
    clientId: 'c-1',
  })
  t.teardown(() => client.endAsync())
  const pub = (topic: string, p: string | Buffer) => client.publishAsync(topic, p, { qos: 1 })

  for (let i = 0; i < 1100; i++) await pub('devices/c-1/telemetry', `garbage ${i}`)

  const strange = 'a\u0000b\tc\nd\re\\N "q", \\u0041 😀'
  await pub('devices/c-1/telemetry', JSON.stringify({ ts: '2024-05-29T16:26:40Z', s: strange }))
  await pub('devices/c-1/telemetry', '{"ts":1717000000,"big":123456789012345678901234567890}')
  await pub('devices/c-1/telemetry', '{"ts":"2024-05-29T18:26:40+02:00","f":20.0,"b":true}')
  await pub('devices/c-1/telemetry', '{"ts":1717000000000000,"arr":[1,2.50,"x"]}')
  await pub('devices/c-1/telemetry/mode', 'eco')
  await pub('devices/c-1/telemetry', '')
  for (let i = 0; i < 4; i++)
    await pub('devices/c-1/telemetry', `{"ts":${1717000001000 + i},"n":${i}}`)

  const pool = stack.bridge!.pool
  await eventually(
    async () => (await pool.query('SELECT 1 FROM telemetry')).rowCount === 10,
    15_000,
    '10 rows',
  ).catch(async (e) => {
    const got = await pool.query('SELECT metric FROM telemetry')
    const dl = await pool.query(
      "SELECT reason, detail FROM dead_letters WHERE reason <> 'invalid_json'",
    )
    throw new Error(`${e.message}: ${JSON.stringify(got.rows)} ${JSON.stringify(dl.rows)}`)
  })
  await stack.bridge!.pipeline.flush()

  const { rows } = await pool.query(`
    SELECT metric, extract(epoch FROM ts)::text AS s, v_float, v_int::text AS i, v_numeric::text AS num,
           v_bool, v_text, v_bytes AS bytes, v_json::text AS j
    FROM telemetry WHERE metric <> 'n' ORDER BY metric`)
  const by = Object.fromEntries(rows.map((r) => [r.metric, r]))

  t.equal(
    by.s.bytes.toString('utf8'),
    strange,
    'a string with U+0000 and escapes is stored byte for byte',
  )
  t.equal(by.big.num, '123456789012345678901234567890')
  t.equal(by.f.v_float, 20)
  t.equal(by.b.v_bool, true)
  t.equal(by.arr.j, '[1, 2.50, "x"]')
  t.equal(by.mode.v_text, 'eco')
  t.same(
    new Set(['s', 'big', 'f', 'arr'].map((m) => by[m].s)),
    new Set(['1717000000.000000']),
    'one instant',
  )

  const res = await fetch(`http://127.0.0.1:${stack.apiPort}/v1/devices/c-1/latest`)
  const text = await res.text()
  t.match(text, '"value":123456789012345678901234567890', 'HTTP keeps every digit')
  const latest = JSON.parse(text).metrics
  t.equal(latest.s.value, strange)
  t.same(latest.n, { type: 'int', ts: '2024-05-29T16:26:41.003000Z', value: 3 })

  const letters = await pool.query(
    "SELECT count(*)::int AS n FROM dead_letters WHERE reason = 'invalid_json'",
  )
  t.equal(letters.rows[0].n, 1100, 'every garbage message is a dead letter')

  const m = stack.bridge!.metrics
  t.match(
    await m.registry.getSingleMetricAsString('telemetry_rejects_total'),
    'reason="invalid_json"} 1100',
  )
  t.match(
    await m.registry.getSingleMetricAsString('telemetry_messages_total'),
    'outcome="ignored"} 1',
  )
  t.equal((await m.inFlight.get()).values[0]?.value, 0, 'in-flight returns to zero')
})
