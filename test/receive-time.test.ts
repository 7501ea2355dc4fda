import mqtt from 'mqtt'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedConfig } from './helpers/env.js'

// Readings without a timestamp take the receive time; many arrive within one
// millisecond and must still be distinct rows, not "redeliveries".
t.test('messages without ts in the same millisecond are all stored', async (t) => {
  const stack = await startStack(isolatedConfig(t), createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())

  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.broker!.port}`, {
    clientId: 'rt-1',
  })
  t.teardown(() => client.endAsync())

  await Promise.all(
    Array.from({ length: 500 }, (_, i) =>
      client.publishAsync('devices/rt-1/telemetry', `{"seq":${i}}`, { qos: 1 }),
    ),
  )

  const pool = stack.bridge!.pool
  const count = async () =>
    Number((await pool.query('SELECT count(*) AS n FROM telemetry')).rows[0].n)
  await eventually(async () => (await count()) >= 500, 10_000, '500 rows')
  await stack.bridge!.pipeline.flush()

  const { rows } = await pool.query('SELECT count(DISTINCT v_int)::int AS n FROM telemetry')
  t.equal(rows[0].n, 500, 'every seq is a row of its own')
})
