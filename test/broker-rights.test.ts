import mqtt from 'mqtt'
import t from 'tap'
import { Registry } from '../broker/registry.js'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { counter } from './helpers/broker.js'
import { eventually, isolatedConfig } from './helpers/env.js'

// Broker, bridge (logged in with its in-process service account, anonymous
// off) and Postgres: what a refused client sends must never become a row.
t.test('devices publish only their own telemetry and read only their own commands', async (t) => {
  const config = isolatedConfig(t, { BROKER_ALLOW_ANONYMOUS: 'false' })
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())

  const broker = stack.broker!
  const pool = stack.bridge!.pool
  const registry = new Registry(pool)
  const url = `mqtt://127.0.0.1:${broker.port}`
  const secrets = {
    a: (await registry.add('dev-a', 'device')) as string,
    b: (await registry.add('dev-b', 'device')) as string,
    ops: (await registry.add('ops', 'service')) as string,
  }
  const login = async (id: string, password: string) => {
    const c = await mqtt.connectAsync(url, {
      clientId: id,
      username: id,
      password,
      reconnectPeriod: 0,
    })
    t.teardown(() => c.endAsync(true))
    return c
  }

  const a = await login('dev-a', secrets.a)
  await a.publishAsync('devices/dev-a/telemetry', '{"ts":1767225600000,"t":1}', { qos: 1 })
  await eventually(async () => (await pool.query('SELECT 1 FROM telemetry')).rowCount === 1)

  const b = await login('dev-b', secrets.b)
  const closed = new Promise<void>((resolve) => b.once('close', () => resolve()))
  b.publish('devices/dev-a/telemetry', '{"ts":1767225600001,"spoof":1}', { qos: 1 })
  await closed
  t.pass('a publish under another device id closes the spoofer connection')

  const qos0 = await login('dev-b', secrets.b)
  const closed0 = new Promise<void>((resolve) => qos0.once('close', () => resolve()))
  qos0.publish('devices/dev-a/telemetry', '{"ts":1767225600002,"spoof":0}', { qos: 0 })
  qos0.publish('other/topic', 'x', { qos: 0 })
  await closed0

  const filters = [
    '#',
    '+/dev-a/telemetry',
    '$SYS/#',
    'devices/+/commands',
    'devices/dev-a/commands',
    'devices/dev-b/#',
    'devices/+/telemetry',
    'devices/dev-b/telemetry',
    `devices/dev-b/commands/${'x/'.repeat(20)}y`,
  ]
  const reader = await login('dev-b', secrets.b)
  for (const f of filters) {
    const granted = await reader.subscribeAsync(f, { qos: 1 }).catch((e) => e.packet.granted)
    t.same(
      Array.isArray(granted) ? granted : granted.map((g: { qos: number }) => g.qos),
      [128],
      `device filter ${f} is refused with SUBACK 0x80`,
    )
  }

  const own = await reader.subscribeAsync('devices/dev-b/commands/#', { qos: 1 })
  t.same(
    own.map((g) => g.qos),
    [1],
    'its own command topics are granted',
  )

  const ops = await login('ops', secrets.ops)
  const got = new Promise<string>((resolve) => reader.once('message', (topic) => resolve(topic)))
  await ops.publishAsync('devices/dev-b/commands/reboot', 'now', { qos: 1 })
  t.equal(
    await got,
    'devices/dev-b/commands/reboot',
    'a service publishes a command the device gets',
  )

  const opsGranted = await ops.subscribeAsync(['devices/+/telemetry', 'devices/dev-a/telemetry/+'])
  t.same(
    opsGranted.map((g) => g.qos),
    [0, 0],
    'a service reads telemetry',
  )
  for (const f of ['#', 'devices/#', '$SYS/#']) {
    const g = await ops.subscribeAsync(f).catch((e) => e.packet.granted)
    t.same(g, [128], `service filter ${f} is refused`)
  }
  const opsClosed = new Promise<void>((resolve) => ops.once('close', () => resolve()))
  ops.publish('devices/dev-a/telemetry', '{"ts":1767225600003,"forged":1}', { qos: 1 })
  await opsClosed
  t.pass('a service may not publish telemetry')

  await stack.bridge!.pipeline.flush()
  const { rows } = await pool.query('SELECT metric FROM telemetry ORDER BY metric')
  t.same(
    rows.map((r) => r.metric),
    ['t'],
    'only the legitimate reading is stored',
  )
  const letters = await pool.query('SELECT count(*)::int AS n FROM dead_letters')
  t.equal(letters.rows[0].n, 0, 'refused publishes never reached the bridge')
  t.ok((await counter(broker, 'broker_refusals_total', { reason: 'publish_denied' })) >= 3)
  t.ok((await counter(broker, 'broker_refusals_total', { reason: 'subscribe_denied' })) >= 9)
})
