/**
 * Broker relay throughput with each persistence: one QoS 1 publisher, one
 * QoS 1 persistent-session subscriber (the bridge's shape), N messages,
 * publisher and subscriber in this process. Memory persistence is the
 * baseline of the same run; the other rows are ratios against it.
 *
 * Run: make bench, or REDIS_URL=… npx tsx load/bench-broker-persistence.ts [messages] [window]
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import { startBroker } from '../broker/index.js'
import type { PersistenceKind } from '../broker/persistence.js'
import { internalAccount } from '../broker/run.js'
import { createLogger } from '../common/logger.js'

const messages = Number(process.argv[2] ?? 20_000)
const window = Number(process.argv[3] ?? 100)
const redisUrl = process.env.REDIS_URL
if (!redisUrl) throw new Error('REDIS_URL must be set (make bench sets it)')

const log = createLogger('warn')
const payload = JSON.stringify({ temp: 21.5, rh: 40.1, batt: 3.71, seq: 1, door: false })

async function relay(persistence: PersistenceKind, emitter: PersistenceKind): Promise<number> {
  const run = randomBytes(4).toString('hex')
  const keyPrefix = `bench:${run}:`
  // The subscriber is a service account; an anonymous client is the device
  // its client id names and may publish only on that device's topics.
  const sub = internalAccount(`bench-sub-${run}`)
  const device = `bench-${run}`
  const broker = await startBroker(
    {
      host: '127.0.0.1',
      port: 0,
      allowAnonymous: true,
      internal: new Map([[sub.id, sub.secret]]),
      persistence: { persistence, emitter, redisUrl, keyPrefix, maxQueuedPerClient: 1_000_000 },
    },
    log,
  )
  const url = `mqtt://127.0.0.1:${broker.port}`
  const topic = `devices/${device}/telemetry`

  const subscriber = await mqtt.connectAsync(url, {
    clientId: sub.id,
    username: sub.id,
    password: sub.secret,
    clean: false,
  })
  const [granted] = await subscriber.subscribeAsync(topic, { qos: 1 })
  if (granted?.qos !== 1) throw new Error('the broker refused the subscription')
  let received = 0
  const all = new Promise<void>((resolve) =>
    subscriber.on('message', () => {
      if (++received === messages) resolve()
    }),
  )

  const pub = await mqtt.connectAsync(url, { clientId: device })
  const started = performance.now()
  let sent = 0
  const lane = async () => {
    while (sent < messages) {
      sent++
      await pub.publishAsync(topic, payload, { qos: 1 })
    }
  }
  await Promise.all(Array.from({ length: window }, lane))
  await all
  const seconds = (performance.now() - started) / 1000

  await pub.endAsync()
  await subscriber.endAsync()
  await broker.close()
  await dropKeys(keyPrefix)
  return messages / seconds
}

async function dropKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl as string)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
}

// Warm up the JIT and the connections once, unmeasured.
await relay('memory', 'memory')

const memory = await relay('memory', 'memory')
const redis = await relay('redis', 'memory')
const redisEmitter = await relay('redis', 'redis')

console.log(
  JSON.stringify({
    bench: 'broker-persistence',
    messages,
    window,
    msgsPerSec: {
      memory: Math.round(memory),
      redis: Math.round(redis),
      redisWithRedisEmitter: Math.round(redisEmitter),
    },
    ratioToMemory: {
      redis: Number((redis / memory).toFixed(2)),
      redisWithRedisEmitter: Number((redisEmitter / memory).toFixed(2)),
    },
  }),
)
