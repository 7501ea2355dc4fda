import { randomBytes } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import mqtt from 'mqtt'
import t from 'tap'
import { brokerProcess } from './helpers/broker-process.js'
import { eventually, isolatedConfig, isolatedPrefix } from './helpers/env.js'
import { bridgeAccount } from './helpers/processes.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * A registry of the test's own for the broker processes: subscribers that
 * read devices' telemetry are service accounts (anonymous clients may act
 * only as the device their client id names).
 */
async function withRegistry(t: Teardown, env: Record<string, string>) {
  const c = isolatedConfig(t)
  const registryEnv = { ...env, DATABASE_URL: c.DATABASE_URL as string, PG_SCHEMA: c.PG_SCHEMA }
  const logins = new Map<string, string>()
  return {
    env: registryEnv,
    /** A service account, once a broker has migrated the registry. */
    async service(id: string) {
      const { BRIDGE_MQTT_PASSWORD } = await bridgeAccount({ ...c, BRIDGE_CLIENT_ID: id })
      logins.set(id, BRIDGE_MQTT_PASSWORD as string)
    },
    login: (id: string) => logins.get(id),
  }
}

let passwords: (id: string) => string | undefined = () => undefined

async function connect(port: number, clientId: string, clean: boolean): Promise<MqttClient> {
  const password = passwords(clientId)
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId,
    clean,
    reconnectPeriod: 0,
    ...(password ? { username: clientId, password } : {}),
  })
}

/** Device `device` publishes `count` QoS 1 messages whose payload is their sequence number. */
async function publishSeq(port: number, device: string, count: number): Promise<void> {
  const client = await connect(port, device, true)
  const topic = `devices/${device}/telemetry`
  for (let i = 0; i < count; i++) await client.publishAsync(topic, String(i), { qos: 1 })
  await client.endAsync()
}

t.test('redis: queued QoS 1 messages survive a broker restart', async (t) => {
  const { prefix, redis } = isolatedPrefix(t)
  const reg = await withRegistry(t, {
    BROKER_PERSISTENCE: 'redis',
    BROKER_REDIS_KEY_PREFIX: prefix,
  })
  const env = reg.env
  passwords = reg.login
  const subId = `bridge-${randomBytes(4).toString('hex')}`
  const device = `dev-${subId}`
  const topic = `devices/${device}/telemetry`
  // More than aedes-persistence-redis resends by default (1,000) on reconnect.
  const N = 1500

  const first = await brokerProcess(t, env)
  await reg.service(subId)
  const sub = await connect(first.port, subId, false)
  await sub.subscribeAsync(topic, { qos: 1 })
  await sub.endAsync()

  await publishSeq(first.port, device, N)
  await eventually(async () => (await redis.llen(`${prefix}outgoing:${subId}`)) === N)
  t.equal(await first.stop(), 0, 'broker exits cleanly on SIGTERM')

  const second = await brokerProcess(t, { ...env, MQTT_PORT: String(first.port) })
  const got = new Set<number>()
  const again = mqtt.connect(`mqtt://127.0.0.1:${second.port}`, {
    clientId: subId,
    clean: false,
    reconnectPeriod: 0,
    username: subId,
    password: reg.login(subId),
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
  const reg = await withRegistry(t, { BROKER_PERSISTENCE: 'memory' })
  passwords = reg.login
  const subId = `bridge-${randomBytes(4).toString('hex')}`
  const device = `dev-${subId}`
  const topic = `devices/${device}/telemetry`

  const first = await brokerProcess(t, reg.env)
  await reg.service(subId)
  const sub = await connect(first.port, subId, false)
  await sub.subscribeAsync(topic, { qos: 1 })
  await sub.endAsync()
  await publishSeq(first.port, device, 20)
  await first.stop()

  const second = await brokerProcess(t, { ...reg.env, MQTT_PORT: String(first.port) })
  let got = 0
  const again = mqtt.connect(`mqtt://127.0.0.1:${second.port}`, {
    clientId: subId,
    clean: false,
    reconnectPeriod: 0,
    username: subId,
    password: reg.login(subId),
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
  const reg = await withRegistry(t, {
    BROKER_PERSISTENCE: 'redis',
    BROKER_REDIS_KEY_PREFIX: prefix,
  })
  passwords = reg.login
  const id = randomBytes(4).toString('hex')
  const svc = `svc-${id}`
  const device = `dev-${id}`
  const commands = `devices/${device}/commands`

  const first = await brokerProcess(t, reg.env)
  await reg.service(svc)
  const sub = await connect(first.port, svc, false)
  await sub.subscribeAsync(`devices/${device}/telemetry`, { qos: 1 })
  // Services publish commands; a retained one waits for its device.
  await sub.publishAsync(commands, 'online', { qos: 1, retain: true })
  await sub.endAsync()
  await first.stop()

  const second = await brokerProcess(t, { ...reg.env, MQTT_PORT: String(first.port) })

  // The device, arriving after the restart, gets the retained command.
  const newcomer = await connect(second.port, device, true)
  t.teardown(() => newcomer.endAsync())
  const retained = new Promise<string>((resolve) =>
    newcomer.once('message', (_t, payload) => resolve(payload.toString())),
  )
  await newcomer.subscribeAsync(commands, { qos: 1 })
  t.equal(await retained, 'online', 'retained message survives')

  // The service does not subscribe again, yet receives new telemetry.
  const got: string[] = []
  const again = await connect(second.port, svc, false)
  t.teardown(() => again.endAsync())
  again.on('message', (tp, payload) => got.push(`${tp} ${payload}`))
  await newcomer.publishAsync(`devices/${device}/telemetry`, 'after', { qos: 1 })

  await eventually(async () => got.includes(`devices/${device}/telemetry after`))
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
  const reg = await withRegistry(t, env)
  passwords = reg.login
  const id = randomBytes(4).toString('hex')
  const device = `dev-${id}`
  const topic = `devices/${device}/telemetry`

  const [a, b] = await Promise.all([brokerProcess(t, reg.env), brokerProcess(t, reg.env)])
  await reg.service(`sub-${id}`)
  const sub = await connect(a.port, `sub-${id}`, false)
  t.teardown(() => sub.endAsync())
  const got: string[] = []
  sub.on('message', (_t, payload) => got.push(payload.toString()))
  await sub.subscribeAsync(topic, { qos: 1 })

  // Published on the other process, delivered by this one.
  await publishSeq(b.port, device, 10)
  await eventually(async () => got.length >= 10)
  t.same(
    got.map(Number).sort((x, y) => x - y),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  )
  await Promise.all([a.stop(), b.stop()])
})
