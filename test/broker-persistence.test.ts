import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import mqtt from 'mqtt'
import t from 'tap'
import { brokerProcess } from './helpers/broker-process.js'
import { eventually, serviceUrls } from './helpers/env.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A Redis key prefix of the test's own, removed afterwards. */
function isolatedPrefix(t: Teardown): { prefix: string; redis: Redis } {
  const prefix = `t:${randomBytes(5).toString('hex')}:broker:`
  const redis = new Redis(serviceUrls().redisUrl)

  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })

  return { prefix, redis }
}

async function connect(port: number, clientId: string, clean: boolean): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, clean, reconnectPeriod: 0 })
}

/** Publishes `count` QoS 1 messages whose payload is their sequence number. */
async function publishSeq(port: number, topic: string, count: number): Promise<void> {
  const device = await connect(port, `dev-${randomBytes(4).toString('hex')}`, true)
  for (let i = 0; i < count; i++) await device.publishAsync(topic, String(i), { qos: 1 })
  await device.endAsync()
}

t.test('redis: queued QoS 1 messages survive a broker restart', async (t) => {
  const { prefix, redis } = isolatedPrefix(t)
  const env = { BROKER_PERSISTENCE: 'redis', BROKER_REDIS_KEY_PREFIX: prefix }
  const subId = `bridge-${randomBytes(4).toString('hex')}`
  const topic = `devices/${subId}/telemetry`
  // More than aedes-persistence-redis resends by default (1,000) on reconnect.
  const N = 1500

  const first = await brokerProcess(t, env)
  const sub = await connect(first.port, subId, false)
  await sub.subscribeAsync(topic, { qos: 1 })
  await sub.endAsync()

  await publishSeq(first.port, topic, N)
  await eventually(async () => (await redis.llen(`${prefix}outgoing:${subId}`)) === N)
  t.equal(await first.stop(), 0, 'broker exits cleanly on SIGTERM')

  const second = await brokerProcess(t, { ...env, MQTT_PORT: String(first.port) })
  const got = new Set<number>()
  const again = mqtt.connect(`mqtt://127.0.0.1:${second.port}`, {
    clientId: subId,
    clean: false,
    reconnectPeriod: 0,
  })
  again.on('message', (_topic, payload) => got.add(Number(payload.toString())))
  const [connack] = await new Promise<[{ sessionPresent: boolean }]>((resolve) =>
    again.once('connect', (ack) => resolve([ack])),
  )
  t.teardown(() => again.endAsync())

  t.equal(connack.sessionPresent, true, 'the new broker knows the session')
  await eventually(async () => got.size === N, 30_000, `${N} messages`)
  t.same(
    [...got].sort((a, b) => a - b),
    Array.from({ length: N }, (_, i) => i),
    'every message published while the subscriber was away arrives',
  )
  await eventually(async () => (await redis.llen(`${prefix}outgoing:${subId}`)) === 0)
  t.pass('acknowledged messages leave the queue')
  t.equal(await second.stop(), 0)
})

t.test('memory: the same restart loses the session and its queue', async (t) => {
  const subId = `bridge-${randomBytes(4).toString('hex')}`
  const topic = `devices/${subId}/telemetry`

  const first = await brokerProcess(t, { BROKER_PERSISTENCE: 'memory' })
  const sub = await connect(first.port, subId, false)
  await sub.subscribeAsync(topic, { qos: 1 })
  await sub.endAsync()
  await publishSeq(first.port, topic, 20)
  await first.stop()

  const second = await brokerProcess(t, { MQTT_PORT: String(first.port) })
  let got = 0
  const again = mqtt.connect(`mqtt://127.0.0.1:${second.port}`, {
    clientId: subId,
    clean: false,
    reconnectPeriod: 0,
  })
  again.on('message', () => got++)
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve) =>
    again.once('connect', resolve),
  )
  await new Promise((r) => setTimeout(r, 500))
  await again.endAsync()

  t.equal(connack.sessionPresent, false, 'no session after restart')
  t.equal(got, 0, 'the 20 queued messages are gone')
  await second.stop()
})

t.test('redis: retained messages and subscriptions survive a restart', async (t) => {
  const { prefix } = isolatedPrefix(t)
  const env = { BROKER_PERSISTENCE: 'redis', BROKER_REDIS_KEY_PREFIX: prefix }
  const id = randomBytes(4).toString('hex')
  const topic = `devices/${id}/status`

  const first = await brokerProcess(t, env)
  const sub = await connect(first.port, `sub-${id}`, false)
  await sub.subscribeAsync(`devices/${id}/#`, { qos: 1 })
  await sub.endAsync()
  const device = await connect(first.port, `dev-${id}`, true)
  await device.publishAsync(topic, 'online', { qos: 1, retain: true })
  await device.endAsync()
  await first.stop()

  const second = await brokerProcess(t, { ...env, MQTT_PORT: String(first.port) })

  // A newcomer gets the retained message stored before the restart.
  const newcomer = await connect(second.port, `new-${id}`, true)
  t.teardown(() => newcomer.endAsync())
  const retained = new Promise<string>((resolve) =>
    newcomer.once('message', (_t, payload) => resolve(payload.toString())),
  )
  await newcomer.subscribeAsync(topic, { qos: 1 })
  t.equal(await retained, 'online', 'retained message survives')

  // The old subscriber does not subscribe again, yet receives new messages.
  const got: string[] = []
  const again = await connect(second.port, `sub-${id}`, false)
  t.teardown(() => again.endAsync())
  again.on('message', (tp, payload) => got.push(`${tp} ${payload}`))
  const publisher = await connect(second.port, `dev2-${id}`, true)
  await publisher.publishAsync(`devices/${id}/telemetry`, 'after', { qos: 1 })
  await publisher.endAsync()

  await eventually(async () => got.includes(`devices/${id}/telemetry after`))
  t.pass('the subscription made before the restart still routes messages')
  await second.stop()
})

t.test('redis emitter: two broker processes act as one', async (t) => {
  const { prefix } = isolatedPrefix(t)
  const env = {
    BROKER_PERSISTENCE: 'redis',
    BROKER_EMITTER: 'redis',
    BROKER_REDIS_KEY_PREFIX: prefix,
  }
  const id = randomBytes(4).toString('hex')
  const topic = `devices/${id}/telemetry`

  const [a, b] = await Promise.all([brokerProcess(t, env), brokerProcess(t, env)])
  const sub = await connect(a.port, `sub-${id}`, false)
  t.teardown(() => sub.endAsync())
  const got: string[] = []
  sub.on('message', (_t, payload) => got.push(payload.toString()))
  await sub.subscribeAsync(topic, { qos: 1 })

  // Published on the other process, delivered by this one.
  await publishSeq(b.port, topic, 10)
  await eventually(async () => got.length >= 10)
  t.same(
    got.map(Number).sort((x, y) => x - y),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  )
  await Promise.all([a.stop(), b.stop()])
})
