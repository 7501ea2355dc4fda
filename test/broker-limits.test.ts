import { connect } from 'node:net'
import mqtt from 'mqtt'
import type { IConnackPacket } from 'mqtt-packet'
import t from 'tap'
import { closedWithin, connectFrame, counter, rawExchange, testBroker } from './helpers/broker.js'
import { eventually } from './helpers/env.js'

const connack = (r: { packets: unknown[] }) =>
  (r.packets.find((p) => (p as IConnackPacket).cmd === 'connack') as IConnackPacket | undefined)
    ?.returnCode

const openSocket = async (port: number) => {
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  await new Promise<void>((resolve) => s.once('connect', () => resolve()))
  return s
}

t.test('max connections and connect rate per address', async (t) => {
  const b = await testBroker(t, { BROKER_MAX_CONNECTIONS: '3' })
  const held = await Promise.all([1, 2, 3].map(() => openSocket(b.broker.port)))
  t.teardown(() => {
    for (const s of held) s.destroy()
  })

  const fourth = await openSocket(b.broker.port)
  t.ok(await closedWithin(fourth, 2_000), 'the fourth connection is closed at once')
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'max_connections' }), 1)

  const r = await testBroker(t, { BROKER_CONNECTS_PER_MIN: '5' })
  for (let i = 0; i < 5; i++) (await openSocket(r.broker.port)).destroy()
  const sixth = await openSocket(r.broker.port)
  t.ok(await closedWithin(sixth, 2_000), 'the sixth connection in a minute is closed')
  t.equal(await counter(r.broker, 'broker_refusals_total', { reason: 'connect_rate' }), 1)
})

t.test('failed logins use up the address budget, then even a right secret waits', async (t) => {
  const b = await testBroker(t, { BROKER_AUTH_FAILS_PER_MIN: '3' })
  const secret = (await b.registry.add('dev-f', 'device')) as string
  const wrong = connectFrame({ clientId: 'dev-f', username: 'dev-f', password: Buffer.from('x') })
  const right = connectFrame({
    clientId: 'dev-f',
    username: 'dev-f',
    password: Buffer.from(secret),
  })

  for (let i = 0; i < 3; i++) t.equal(connack(await rawExchange(b.broker.port, [wrong])), 4)

  const locked = await rawExchange(b.broker.port, [right])
  t.ok(locked.closed, 'closed')
  t.equal(connack(locked), undefined, 'without a CONNACK and without hashing')
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'auth_failure_rate' }), 1)
  t.equal(await counter(b.broker, 'broker_auth_total', { outcome: 'hashed' }), 3)
})

t.test('keepalive, topic length and depth', async (t) => {
  const b = await testBroker(t, { BROKER_ALLOW_ANONYMOUS: 'true', BROKER_MAX_KEEPALIVE_S: '60' })

  for (const keepalive of [0, 61]) {
    const r = await rawExchange(b.broker.port, [connectFrame({ clientId: 'k-1', keepalive })])
    t.ok(r.closed, `keepalive ${keepalive} is refused`)
  }
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'keepalive_invalid' }), 2)

  const c = await mqtt.connectAsync(b.url, { clientId: 'k-1', reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true))
  const deep = await c
    .subscribeAsync('devices/k-1/commands/a/b/c/d/e/f')
    .catch((e) => e.packet.granted)
  t.same(deep, [128], 'a filter of 9 levels is refused')
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'topic_too_deep' }), 1)

  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
  c.publish(`devices/k-1/telemetry/${'m'.repeat(300)}`, '1')
  await closed
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'topic_too_long' }), 1)
})

t.test('oversized publishes are refused at their header, QoS 0 and 1', async (t) => {
  const b = await testBroker(t, {
    BROKER_ALLOW_ANONYMOUS: 'true',
    BROKER_MAX_PACKET_BYTES: '1024',
  })
  const secret = (await b.registry.add('svc', 'service')) as string
  const reader = await mqtt.connectAsync(b.url, {
    clientId: 'svc',
    username: 'svc',
    password: secret,
    reconnectPeriod: 0,
  })
  t.teardown(() => reader.endAsync(true))
  const seen: string[] = []
  reader.on('message', (topic) => seen.push(topic))
  await reader.subscribeAsync('devices/+/telemetry', { qos: 1 })

  for (const qos of [0, 1] as const) {
    const c = await mqtt.connectAsync(b.url, { clientId: `big-${qos}`, reconnectPeriod: 0 })
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
    c.publish(`devices/big-${qos}/telemetry`, Buffer.alloc(2000, 0x20), { qos })
    await closed
    c.end(true)
    t.pass(`QoS ${qos}: connection closed`)
  }

  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'packet_too_large' }), 2)

  const small = await mqtt.connectAsync(b.url, { clientId: 'small', reconnectPeriod: 0 })
  await small.publishAsync('devices/small/telemetry', Buffer.alloc(900, 0x20), { qos: 1 })
  await small.endAsync()
  await eventually(async () => seen.length > 0)
  t.same(seen, ['devices/small/telemetry'], 'the reader saw the small publish and none of the big')
})

t.test('RSS stays bounded while 20 clients send 10 MB publishes at once', async (t) => {
  const b = await testBroker(t, { BROKER_ALLOW_ANONYMOUS: 'true' })
  const body = Buffer.alloc(10 * 1024 * 1024, 0x20)
  const header = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05])
  global.gc?.()
  const before = process.memoryUsage().rss

  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      rawExchange(b.broker.port, [connectFrame({ clientId: `rss-${i}` }), header, body], 5_000),
    ),
  )

  const grownMb = (process.memoryUsage().rss - before) / 1024 / 1024
  t.ok(
    results.every((r) => r.closed),
    'every sender was disconnected',
  )
  // 20 buffered publishes would be 200 MB; the guard keeps none of them.
  t.ok(grownMb < 64, `RSS grew ${grownMb.toFixed(1)} MB`)
})
