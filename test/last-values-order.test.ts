import mqtt from 'mqtt'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedConfig } from './helpers/env.js'
import { devicePath, get } from './helpers/http.js'

const T0 = Date.parse('2026-06-01T12:00:00Z')
// Arrival order disagrees with timestamp order: newest first.
const READINGS = [
  { ts: T0 + 3000, v: 4 },
  { ts: T0 + 1000, v: 2 },
  { ts: T0 + 2000, v: 3 },
]

t.test('latest is the newest timestamp, not the last arrival', async (t) => {
  const stack = await startStack(isolatedConfig(t), createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())

  // An anonymous client publishes only as the device its client id names.
  const clients = new Map<string, mqtt.MqttClient>()
  for (const id of ['apart', 'burst', 'array']) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.broker!.port}`, { clientId: id })
    t.teardown(() => c.endAsync())
    clients.set(id, c)
  }
  const publish = (device: string, body: unknown) =>
    clients
      .get(device)
      ?.publishAsync(`devices/${device}/telemetry`, JSON.stringify(body), { qos: 1 })
  const pool = stack.bridge!.pool
  const rows = async (device: string) =>
    (
      await pool.query(
        `SELECT (extract(epoch FROM ts) * 1000)::bigint AS ms, v_int::int AS v
         FROM telemetry WHERE device_id = $1 ORDER BY ts`,
        [device],
      )
    ).rows.map((r) => ({ ts: Number(r.ms), v: r.v }))

  // One batch per message: each lands before the next is sent, so the
  // Redis script, not in-batch sorting, must keep the newest.
  for (const [i, r] of READINGS.entries()) {
    await publish('apart', r)
    await eventually(async () => (await rows('apart')).length === i + 1, 10_000, 'row')
  }

  // Back to back: likely one batch.
  for (const r of READINGS) await publish('burst', r)

  // Shuffled inside one array.
  await publish('array', READINGS)

  const sorted = [...READINGS].sort((a, b) => a.ts - b.ts)
  for (const device of ['apart', 'burst', 'array']) {
    await eventually(async () => (await rows(device)).length === 3, 10_000, `${device} rows`)
    t.same(await rows(device), sorted, `${device}: Postgres has all three`)
  }
  await stack.bridge!.pipeline.flush()

  const api = `http://127.0.0.1:${stack.apiPort}`
  for (const device of ['apart', 'burst', 'array']) {
    const r = await get(api + devicePath(device, 'latest', 'v'))
    t.equal(r.headers.get('x-telemetry-source'), 'redis')
    t.same(
      r.json,
      { device, metric: 'v', type: 'int', ts: '2026-06-01T12:00:03.000000Z', value: 4 },
      `${device}: latest is 4 at T0+3s`,
    )
  }

  // A late, older reading (a backfill) is stored but never becomes latest.
  await publish('apart', { ts: T0, v: 1 })
  await eventually(async () => (await rows('apart')).length === 4, 10_000, 'backfill row')
  await stack.bridge!.pipeline.flush()
  const after = await get(api + devicePath('apart', 'latest'))
  t.same(after.json.metrics.v.value, 4, 'a backfilled older reading does not replace it')
})
