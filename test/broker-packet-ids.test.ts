import { randomBytes } from 'node:crypto'
import type { IPublishPacket, MqttClient } from 'mqtt'
import mqtt from 'mqtt'
import { generate } from 'mqtt-packet'
import t from 'tap'
import { startBroker } from '../broker/index.js'
import type { PersistenceKind } from '../broker/persistence.js'
import { createLogger } from '../common/logger.js'
import { counter } from './helpers/broker.js'
import { eventually, isolatedPrefix, serviceUrls } from './helpers/env.js'

// Aedes gives each new connection a random first packet id, but re-sends a
// resumed session's unacknowledged messages under their old ids. Without a
// guard, a message queued while the subscriber was away could be sent under
// the same id as one still unacknowledged from before, and the PUBACK for
// one would clear the other from the session: a message lost for good.
// Here the random draw is forced to the worst value.

const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent')
const SECRET = randomBytes(24).toString('hex')
interface Teardown {
  teardown(fn: () => unknown): void
}

const FAULT = Object.freeze(new Error('not acknowledged by the test'))

interface Received {
  payload: string
  messageId: number
  ack(): void
}

/** A persistent QoS 1 subscriber that acknowledges only what the test says. */
async function subscriber(url: string, clientId: string, got: Received[]): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    clientId,
    clean: false,
    reconnectPeriod: 0,
    username: clientId,
    password: SECRET,
  })
  // Set before the CONNACK (MQTT.js takes it as an option only for MQTT 5):
  // a resumed session's messages can arrive in the same read as the CONNACK,
  // and the default handler would acknowledge them.
  client.options.customHandleAcks = (_topic, payload, packet: IPublishPacket, done) => {
    const messageId = packet.messageId as number
    got.push({
      payload: payload.toString(),
      messageId,
      ack: () => client.stream.write(generate({ cmd: 'puback', messageId })),
    })
    done(FAULT)
  }
  client.on('error', (err) => {
    if (err !== FAULT) throw err
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('close', () => reject(new Error(`${clientId} could not connect`)))
  })
  return client
}

async function broker(t: Teardown, kind: PersistenceKind, prefix: string, subId: string) {
  const b = await startBroker(
    {
      host: '127.0.0.1',
      port: 0,
      allowAnonymous: true,
      internal: new Map([[subId, SECRET]]),
      persistence: {
        persistence: kind,
        emitter: 'memory',
        redisUrl: serviceUrls().redisUrl,
        keyPrefix: prefix,
        maxQueuedPerClient: 1000,
      },
    },
    log,
  )
  let closed = false
  t.teardown(() => (closed ? undefined : b.close()))
  return {
    ...b,
    url: `mqtt://127.0.0.1:${b.port}`,
    close: async () => {
      closed = true
      await b.close()
    },
  }
}

const cases = [
  { kind: 'memory', restart: false },
  { kind: 'redis', restart: false },
  // The ids in flight are then known only from what Redis holds.
  { kind: 'redis', restart: true },
] as const

for (const { kind, restart } of cases) {
  const name = `${kind}${restart ? ', broker restarted while away' : ''}`
  t.test(`${name}: a resumed session never holds two messages under one packet id`, async (t) => {
    const { prefix } = isolatedPrefix(t)
    const subId = `sub-${randomBytes(4).toString('hex')}`
    const device = `dev-${subId}`
    const topic = `devices/${device}/telemetry`
    let b = await broker(t, kind, prefix, subId)
    const pub = await mqtt.connectAsync(b.url, { clientId: device })
    const early = ['a0', 'a1', 'a2', 'a3', 'a4']
    const late = ['b0', 'b1', 'b2', 'b3', 'b4']

    // 1. Five messages arrive and are left unacknowledged.
    let got: Received[] = []
    let sub = await subscriber(b.url, subId, got)
    await sub.subscribeAsync(topic, { qos: 1 })
    for (const n of early) await pub.publishAsync(topic, n, { qos: 1 })
    await eventually(async () => got.length === early.length)
    const earlyIds = got.map((r) => r.messageId)
    await sub.endAsync()

    // 2. Five more are queued while the subscriber is away.
    for (const n of late) await pub.publishAsync(topic, n, { qos: 1 })
    await pub.endAsync()
    // Aedes acknowledges a publish before it queues it: wait for the queue,
    // or the subscriber may come back to some of them still on their way.
    const queued = () => counter(b, 'broker_offline_enqueued_total')
    await eventually(async () => (await queued()) === early.length + late.length)
    if (restart) {
      await b.close()
      b = await broker(t, kind, prefix, subId)
    }

    // 3. It comes back; Aedes' random first id lands on the old ones.
    const forceFirstId = (client: { id: string; _nextId: number }) => {
      if (client.id === subId) client._nextId = earlyIds[0] as number
    }
    b.aedes.once('client', forceFirstId as never)
    got = []
    sub = await subscriber(b.url, subId, got)
    await eventually(async () => got.length === early.length + late.length)

    const ids = got.map((r) => r.messageId)
    t.same(
      got.map((r) => r.payload),
      [...early, ...late],
      'the old messages again, then the queued ones',
    )
    t.same(ids.slice(0, early.length), earlyIds, 'the old messages keep their packet ids')
    t.equal(new Set(ids).size, ids.length, `packet ids in flight are distinct: ${ids.join(',')}`)

    // 4. Only the queued ones are acknowledged; the old ones must stay.
    for (const r of got.filter((r) => r.payload.startsWith('b'))) r.ack()
    await new Promise((r) => setTimeout(r, 200))
    await sub.endAsync()

    got = []
    sub = await subscriber(b.url, subId, got)
    t.teardown(() => sub.endAsync())
    await eventually(async () => got.length >= early.length)
    await new Promise((r) => setTimeout(r, 200))
    t.same(
      got.map((r) => r.payload),
      early,
      'what was not acknowledged is sent again, nothing else',
    )
  })
}
