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

  // 400 single readings and 100 arrays of three readings, none with a ts.
  await Promise.all(
    Array.from({ length: 500 }, (_, i) => {
      const body =
        i % 5 === 0 ? `[{"seq":${i}},{"seq":${i + 0.25}},{"seq":${i + 0.5}}]` : `{"seq":${i}}`
      return client.publishAsync('devices/rt-1/telemetry', body, { qos: 1 })
    }),
  )

  const pool = stack.bridge!.pool
  const count = async () =>
    Number((await pool.query('SELECT count(*) AS n FROM telemetry')).rows[0].n)
  await eventually(async () => (await count()) >= 700, 10_000, '700 rows')
  await stack.bridge!.pipeline.flush()

  const { rows } = await pool.query(
    'SELECT count(*)::int AS n, count(DISTINCT coalesce(v_int::float8, v_float))::int AS d FROM telemetry',
  )
  t.same(rows[0], { n: 700, d: 700 }, 'every reading is a row of its own, array entries too')
})
