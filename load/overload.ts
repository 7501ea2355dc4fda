/**
 * One QoS 1 step above what the bridge sustains, then a wait: does every
 * acknowledged message reach Postgres once the overload is over?
 *
 * Run: DATABASE_URL=… REDIS_URL=… npx tsx load/overload.ts [msgs/s=25000] [wait s=30]
 *
 * Broker and bridge run as child processes (load/harness/stack.ts), 50
 * devices publish for 10 s, and the step is verified as the load suite does.
 * Then rows are counted every 5 s for the wait, and the result line gives
 * what the broker queued for the bridge's session (its
 * broker_offline_enqueued_total) beside what the devices had acknowledged.
 * Exit status 1 when acknowledged messages are missing at the end.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { freePort } from './harness/procs.js'
import { metricSum, startLoadStack } from './harness/stack.js'
import { runStep } from './harness/step.js'

const rate = Number(process.argv[2] ?? 25_000)
const waitS = Number(process.argv[3] ?? 30)
const databaseUrl = process.env.DATABASE_URL
const redisUrl = process.env.REDIS_URL
if (!databaseUrl || !redisUrl || !(rate > 0) || !(waitS >= 0)) {
  process.stderr.write('usage: DATABASE_URL=… REDIS_URL=… load/overload.ts [msgs/s] [wait s]\n')
  process.exit(2)
}

const id = randomBytes(4).toString('hex')
const schema = `overload_${id}`
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 })
// The broker child inherits the environment: its /metrics tells what it queued.
const metricsPort = await freePort()
process.env.BROKER_METRICS_PORT = String(metricsPort)
const stack = await startLoadStack({ databaseUrl, redisUrl, schema, redisPrefix: `overload:${id}` })

async function rows(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${schema}.telemetry`,
  )
  return rows[0]?.n ?? 0
}

let missing = 0
try {
  const step = await runStep(
    { stack, pool, schema, say: (line) => process.stderr.write(`${line}\n`) },
    {
      name: 'overload',
      devices: 50,
      ratePerDevice: (rate - 20) / 50,
      durationS: 10,
      qos: 1,
      prefix: `ov${id}-`,
      fleet: { timestampForms: { us: 1 }, maxInflight: 2000 },
    },
  )
  const expectedRows = step.verify.expectedStored * 5
  const seen: number[] = []
  for (let s = 0; s < waitS; s += 5) {
    await new Promise((r) => setTimeout(r, 5_000))
    seen.push(await rows())
  }
  const final = seen.at(-1) ?? (await rows())
  missing = Math.max(0, expectedRows - final) / 5
  const brokerUrl = `http://127.0.0.1:${metricsPort}/metrics`
  const bridgeUrl = `${stack.httpUrl}/metrics`
  process.stdout.write(
    `${JSON.stringify({
      offeredMsgsPerS: rate,
      acked: step.fleet.messagesAcked,
      expectedMessages: step.verify.expectedStored,
      lostAtVerify: step.verify.lostAcked,
      drainS: step.drainS,
      rowsEvery5s: seen,
      missingMessagesAtEnd: missing,
      brokerQueuedForBridge: await metricSum(brokerUrl, 'broker_offline_enqueued_total'),
      bridgeDeferred: await metricSum(
        bridgeUrl,
        'telemetry_messages_total',
        (labels) => labels === 'outcome="deferred"',
      ),
    })}\n`,
  )
} finally {
  await stack.stop()
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
  await pool.end()
}
process.exitCode = missing > 0 ? 1 : 0
