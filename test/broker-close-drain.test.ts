import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import t from 'tap'
import { startBroker } from '../broker/index.js'
import { createLogger } from '../common/logger.js'
import { counter } from './helpers/broker.js'
import { isolatedPrefix, serviceUrls } from './helpers/env.js'

// Aedes writes a device's PUBACK before it queues the message for persistent
// subscribers. A broker closed right after the last PUBACK must still queue
// every acknowledged message before it lets go of Redis.

const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent')
const SECRET = randomBytes(24).toString('hex')
const SUBSCRIBERS = 20
const MESSAGES = 300

async function broker(prefix: string, internal: Map<string, string>) {
  const b = await startBroker(
    {
      host: '127.0.0.1',
      port: 0,
      allowAnonymous: true,
      internal,
      persistence: {
        persistence: 'redis',
        emitter: 'memory',
        redisUrl: serviceUrls().redisUrl,
        keyPrefix: prefix,
        maxQueuedPerClient: MESSAGES * 2,
      },
    },
    log,
  )
  return { ...b, url: `mqtt://127.0.0.1:${b.port}` }
}

t.test('a broker closed right after its last PUBACK has queued every message', async (t) => {
  const { prefix } = isolatedPrefix(t)
  const tag = randomBytes(4).toString('hex')
  const subs = Array.from({ length: SUBSCRIBERS }, (_, i) => `drain-${tag}-${i}`)
  const internal = new Map(subs.map((id) => [id, SECRET]))
  const device = `dev-${tag}`
  const topic = `devices/${device}/telemetry`

  const first = await broker(prefix, internal)
  // Persistent sessions that subscribe and leave: everything is queued.
  for (const clientId of subs) {
    const c = await mqtt.connectAsync(first.url, {
      clientId,
      clean: false,
      reconnectPeriod: 0,
      username: clientId,
      password: SECRET,
    })
    await c.subscribeAsync(topic, { qos: 1 })
    await c.endAsync()
  }

  const pub = await mqtt.connectAsync(first.url, { clientId: device, reconnectPeriod: 0 })
  const acks = Array.from({ length: MESSAGES }, (_, i) =>
    pub.publishAsync(topic, `m${i}`, { qos: 1 }),
  )
  await Promise.all(acks)
  await first.close()
  pub.end(true)

  const second = await broker(prefix, internal)
  t.teardown(() => second.close())
  t.equal(
    await counter(second, 'broker_offline_queued_messages'),
    SUBSCRIBERS * MESSAGES,
    `all ${MESSAGES} acknowledged messages are queued for each of ${SUBSCRIBERS} sessions`,
  )
})
