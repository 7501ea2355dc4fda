/**
 * Throughput of the bundled broker with BROKER_ACK_AFTER_COMMIT (a device's
 * PUBACK waits until its readings are durable) against the normal mode (the
 * broker acknowledges at once, the bridge writes behind it), same process,
 * same devices, same run, so the result is a ratio.
 *
 * 1,000 device connections each keep up to WINDOW QoS 1 publishes in flight
 * (5 readings per message) for SECONDS; a mode's throughput is messages
 * stored in Postgres per second, from the first publish until every
 * acknowledged message is a row.
 *
 * Run: make bench, or DATABASE_URL=… REDIS_URL=… npx tsx load/bench-ack-modes.ts [devices] [seconds] [window]
 */
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pg from 'pg'
import { startStack } from '../cli/stack.js'
import { loadConfig } from '../common/config.js'
import { createLogger } from '../common/logger.js'

const devices = Number(process.argv[2] ?? 1000)
const seconds = Number(process.argv[3] ?? 15)
const window = Number(process.argv[4] ?? 4)
const { DATABASE_URL, REDIS_URL } = process.env
if (!DATABASE_URL || !REDIS_URL) throw new Error('DATABASE_URL and REDIS_URL must be set')

const log = createLogger('warn')

interface Result {
  mode: string
  acked: number
  storedMsgsPerS: number
  ackLatencyMsP50: number
  ackLatencyMsP99: number
}

async function run(mode: 'normal' | 'after-commit'): Promise<Result> {
  const id = randomBytes(4).toString('hex')
  const spool = join(tmpdir(), `bench-ack-${id}`)
  const c = loadConfig({
    DATABASE_URL,
    REDIS_URL,
    PG_SCHEMA: `bench_ack_${id}`,
    REDIS_KEY_PREFIX: `bench:${id}`,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    BROKER_ALLOW_ANONYMOUS: 'true',
    // All devices connect from loopback: no per-address connect budget.
    BROKER_CONNECTS_PER_MIN: '0',
    API_AUTH: 'none',
    BRIDGE_CLIENT_ID: `bench-${id}`,
    BROKER_ACK_AFTER_COMMIT: String(mode === 'after-commit'),
    SPOOL_DIR: spool,
    LOG_LEVEL: 'warn',
  })
  const stack = await startStack(c, log, ['broker', 'bridge'])
  const url = `mqtt://127.0.0.1:${stack.broker?.port}`
  const pool = stack.bridge?.pool
  if (!pool) throw new Error('no bridge')

  let closed = 0
  // An anonymous client is the device its client id names, and may publish
  // only on that device's topics.
  const clients = []
  for (let d = 0; d < devices; d++) {
    const client = await mqtt.connectAsync(url, { clientId: `b${id}-${d}`, reconnectPeriod: 0 })
    const gone = new Promise<false>((resolve) => client.once('close', () => resolve(false)))
    clients.push({ client, gone })
  }

  const latencies: number[] = []
  let acked = 0
  const started = performance.now()
  const until = Date.now() + seconds * 1000
  const T0 = Date.parse('2026-12-01T00:00:00Z')

  await Promise.all(
    clients.map(async ({ client, gone }, d) => {
      const topic = `devices/b${id}-${d}/telemetry`
      let seq = 0
      const lane = async () => {
        while (Date.now() < until) {
          const n = seq++
          const body = { ts: T0 + n, seq: n, t: 20 + (n % 7) / 10, h: 40.5, ok: true, v: n * 0.5 }
          const sent = performance.now()
          const publish = client.publishAsync(topic, JSON.stringify(body), { qos: 1 })
          // A refused publish closes the connection, and its promise never
          // settles: count it rather than wait for ever.
          if (!(await Promise.race([publish.then(() => true), gone]))) {
            closed++
            return
          }
          latencies.push(performance.now() - sent)
          acked++
        }
      }
      await Promise.all(Array.from({ length: window }, lane))
    }),
  )

  if (closed > 0) throw new Error(`${mode}: ${closed} publishes ended by a closed connection`)
  const rows = async () =>
    Number((await pool.query('SELECT count(*) FROM telemetry')).rows[0].count)
  while ((await rows()) < acked * 5) await new Promise((r) => setTimeout(r, 50))
  const elapsedS = (performance.now() - started) / 1000

  await Promise.all(clients.map(({ client }) => client.endAsync(true)))
  await stack.close()
  const admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
  await admin.query(`DROP SCHEMA ${c.PG_SCHEMA} CASCADE`)
  await admin.end()
  rmSync(spool, { recursive: true, force: true })

  latencies.sort((a, b) => a - b)
  const pct = (p: number) => Math.round(latencies[Math.floor(p * (latencies.length - 1))] ?? 0)
  return {
    mode,
    acked,
    storedMsgsPerS: Math.round(acked / elapsedS),
    ackLatencyMsP50: pct(0.5),
    ackLatencyMsP99: pct(0.99),
  }
}

const normal = await run('normal')
const afterCommit = await run('after-commit')
console.log(
  JSON.stringify({
    devices,
    seconds,
    window,
    readingsPerMessage: 5,
    normal,
    afterCommit,
    ratioAfterCommitToNormal: Number(
      (afterCommit.storedMsgsPerS / normal.storedMsgsPerS).toFixed(2),
    ),
  }),
)
