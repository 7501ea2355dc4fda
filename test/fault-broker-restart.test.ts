import mqtt from 'mqtt'
import pg from 'pg'
import t from 'tap'
import { brokerProcess, cliProcess } from './helpers/broker-process.js'
import { eventually, isolatedConfig } from './helpers/env.js'
import { bridgeAccount, cliEnv } from './helpers/processes.js'

// Fault scenario 5 of issue #5: the broker restarts with Redis persistence
// while the bridge is away and devices keep publishing.
const DEVICES = 5
const PER_PHASE = 60
const T0 = Date.parse('2026-12-01T00:00:00Z')

t.test('broker restart with Redis persistence, bridge away: 0 lost, 0 duplicated', async (t) => {
  const c = isolatedConfig(t)
  // Under the test's own prefix, so its teardown removes the broker's keys too.
  // With the device registry, so the bridge can log in as a service.
  const brokerEnv = {
    DATABASE_URL: c.DATABASE_URL as string,
    PG_SCHEMA: c.PG_SCHEMA,
    BROKER_PERSISTENCE: 'redis',
    REDIS_URL: c.REDIS_URL as string,
    BROKER_REDIS_KEY_PREFIX: `${c.REDIS_KEY_PREFIX}:broker:`,
  }
  const devices = Array.from({ length: DEVICES }, (_, i) => `${c.PG_SCHEMA}-d${i}`)
  // Ledger: the sequence numbers each device had acknowledged.
  const acked = new Map<string, number[]>(devices.map((d) => [d, []]))
  let seq = 0

  const publishPhase = async (port: number) => {
    const phase = seq
    await Promise.all(
      devices.map(async (device) => {
        const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: device })
        for (let i = phase; i < phase + PER_PHASE; i++) {
          const body = JSON.stringify({ ts: T0 + i, seq: i })
          await client.publishAsync(`devices/${device}/telemetry`, body, { qos: 1 })
          acked.get(device)?.push(i)
        }
        await client.endAsync()
      }),
    )
    seq += PER_PHASE
  }

  let bridgeEnv = cliEnv(c, { BATCH_MAX_AGE_MS: '50' })
  const db = new pg.Client({ connectionString: c.DATABASE_URL })
  await db.connect()
  t.teardown(() => db.end())
  const rows = async () =>
    (await db.query(`SELECT count(*)::int AS n FROM ${c.PG_SCHEMA}.telemetry`)).rows[0].n as number

  const broker = await brokerProcess(t, brokerEnv)
  bridgeEnv = { ...bridgeEnv, ...(await bridgeAccount(c)) }
  const url = `mqtt://127.0.0.1:${broker.port}`
  const bridge = await cliProcess(t, 'bridge', 'subscribed', { ...bridgeEnv, BRIDGE_MQTT_URL: url })

  await publishPhase(broker.port)
  await eventually(async () => (await rows()) === DEVICES * PER_PHASE, 30_000, 'phase 1 rows')
  t.equal(await bridge.stop(), 0, 'bridge leaves cleanly')

  await publishPhase(broker.port)
  t.equal(await broker.stop(), 0, 'broker stops while the bridge is away')
  const again = await brokerProcess(t, { ...brokerEnv, MQTT_PORT: String(broker.port) })
  await publishPhase(again.port)

  // With its session kept, the bridge does not subscribe again.
  const back = await cliProcess(t, 'bridge', 'mqtt connected', {
    ...bridgeEnv,
    BRIDGE_MQTT_URL: url,
  })
  t.equal(back.ready.sessionPresent, true, 'the restarted broker still holds the bridge session')
  const total = DEVICES * 3 * PER_PHASE
  await eventually(async () => (await rows()) >= total, 60_000, `${total} rows`)
  // Anything late would show up as an excess now.
  await new Promise((r) => setTimeout(r, 500))

  const { rows: stored } = await db.query(
    `SELECT device_id, count(*)::int AS n, count(DISTINCT ts)::int AS d,
            array_agg((v_int)::int ORDER BY ts) AS seqs
     FROM ${c.PG_SCHEMA}.telemetry WHERE metric = 'seq' GROUP BY device_id ORDER BY device_id`,
  )
  t.equal(await rows(), total, 'no row beyond the ledger')
  for (const r of stored) {
    t.same(r.seqs, acked.get(r.device_id), `${r.device_id}: every acknowledged message, once`)
  }
  t.equal(stored.length, DEVICES)

  t.equal(await back.stop(), 0)
  t.equal(await again.stop(), 0)
})
