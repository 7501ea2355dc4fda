/**
 * How many acknowledged QoS 1 messages a broker crash loses with Redis
 * persistence. Aedes writes PUBACK before it queues the message
 * (lib/handlers/publish.js), so a `kill -9` loses whatever was between the
 * two. One device keeps `window` publishes in flight to a persistent
 * subscriber that is away; the broker process is killed; the subscriber's
 * queue in Redis is compared with what the device had acknowledged.
 *
 * The subscriber is a service account in a registry of the run's own
 * schema (anonymous clients may only act as the device their id names).
 *
 * Run: DATABASE_URL=… REDIS_URL=… npx tsx load/broker-crash-window.ts [runs] [window]
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import pg from 'pg'
import { loadBrokerEnv, serviceAccount } from './harness/accounts.js'

const runs = Number(process.argv[2] ?? 5)
const window = Number(process.argv[3] ?? 100)
const redisUrl = process.env.REDIS_URL
const databaseUrl = process.env.DATABASE_URL
if (!redisUrl || !databaseUrl) throw new Error('DATABASE_URL and REDIS_URL must be set')

async function once(): Promise<{ acked: number; queued: number }> {
  const id = randomBytes(4).toString('hex')
  const keyPrefix = `crash:${id}:`
  const schema = `crash_${id}`
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'broker'], {
    env: {
      ...process.env,
      ...loadBrokerEnv(databaseUrl as string, schema),
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      BROKER_PERSISTENCE: 'redis',
      BROKER_REDIS_KEY_PREFIX: keyPrefix,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })

  let port = 0
  for await (const line of createInterface({ input: child.stderr })) {
    if (!line.includes('"broker listening"')) continue
    port = JSON.parse(line).port
    break
  }
  child.stderr.resume()

  const url = `mqtt://127.0.0.1:${port}`
  const away = await serviceAccount(databaseUrl as string, schema, 'away')
  const sub = await mqtt.connectAsync(url, {
    clientId: away.id,
    username: away.id,
    password: away.secret,
    clean: false,
  })
  const [granted] = await sub.subscribeAsync('devices/crash/telemetry', { qos: 1 })
  if (granted?.qos !== 1) throw new Error('the broker refused the subscription')
  await sub.endAsync()

  const device = await mqtt.connectAsync(url, { clientId: 'crash', reconnectPeriod: 0 })
  device.on('error', () => {})
  let acked = 0
  const lane = async () => {
    for (;;) {
      try {
        await device.publishAsync('devices/crash/telemetry', 'x', { qos: 1 })
        acked++
      } catch {
        return
      }
    }
  }
  const lanes = Promise.all(Array.from({ length: window }, lane))

  await new Promise((r) => setTimeout(r, 1500))
  child.kill('SIGKILL')
  device.end(true)
  await lanes

  const redis = new Redis(redisUrl as string)
  const queued = await redis.llen(`${keyPrefix}outgoing:away`)
  const keys = await redis.keys(`${keyPrefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  await db.query(`DROP SCHEMA ${schema} CASCADE`)
  await db.end()
  return { acked, queued }
}

const results = []
for (let i = 0; i < runs; i++) results.push(await once())

console.log(
  JSON.stringify({
    bench: 'broker-crash-window',
    window,
    runs: results.map((r) => ({ ...r, lost: r.acked - r.queued })),
  }),
)
