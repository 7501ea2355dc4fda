import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import mqtt from 'mqtt'
import pg from 'pg'
import t from 'tap'
import { isolatedConfig } from './helpers/env.js'
import { publishFleet, verify } from './helpers/ledger.js'
import { cliEnv, spawnCli } from './helpers/processes.js'

t.test('SIGTERM flushes what the bridge holds before the process exits', async (t) => {
  const c = isolatedConfig(t)
  // Batches that would never seal by themselves: only shutdown writes them.
  const env = {
    ...process.env,
    DATABASE_URL: c.DATABASE_URL,
    REDIS_URL: c.REDIS_URL,
    PG_SCHEMA: c.PG_SCHEMA,
    REDIS_KEY_PREFIX: c.REDIS_KEY_PREFIX,
    BRIDGE_CLIENT_ID: c.BRIDGE_CLIENT_ID,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    BROKER_ALLOW_ANONYMOUS: 'true',
    BATCH_MAX_ROWS: '1000000',
    BATCH_MAX_AGE_MS: '60000',
    SPOOL_DIR: c.SPOOL_DIR,
    LOG_LEVEL: 'info',
    API_AUTH: 'none',
  }
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'all'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  t.teardown(() => child.kill('SIGKILL'))

  const lines = createInterface({ input: child.stderr })
  let brokerPort = 0
  let subscribed = false

  for await (const line of lines) {
    // Node's own warnings share stderr with the JSON log lines.
    if (!line.startsWith('{')) continue
    const entry = JSON.parse(line)
    if (entry.msg === 'broker listening') brokerPort = entry.port
    if (entry.msg === 'subscribed') subscribed = true
    if (brokerPort && subscribed) break
  }

  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, { clientId: 'term-1' })
  for (let i = 0; i < 200; i++) {
    await device.publishAsync(
      'devices/term-1/telemetry',
      JSON.stringify({ ts: 1767225600000 + i, v: i }),
      { qos: 1 },
    )
  }
  await device.endAsync()

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'exits cleanly')

  const db = new pg.Client({ connectionString: c.DATABASE_URL })
  await db.connect()
  t.teardown(() => db.end())

  const { rows } = await db.query(
    `SELECT count(*)::int AS n, count(DISTINCT ts)::int AS d FROM ${c.PG_SCHEMA}.telemetry`,
  )
  t.same(rows[0], { n: 200, d: 200 }, 'all 200 readings written once')
})

// Fault scenario 8 of issue #5: SIGTERM of broker and bridge under load.
t.test('SIGTERM under load: every message a device had acknowledged is stored', async (t) => {
  const c = isolatedConfig(t)
  const stack = spawnCli(t, ['all'], cliEnv(c, { BATCH_MAX_AGE_MS: '500' }))
  const { port } = await stack.waitFor((e) => e.msg === 'broker listening')
  await stack.waitFor((e) => e.msg === 'subscribed')

  const url = `mqtt://127.0.0.1:${port}`
  const fleet = publishFleet({ url, devices: 30, rate: 20, durationMs: 5_000, prefix: 'st-' })
  await new Promise((r) => setTimeout(r, 2_500))
  t.equal(await stack.stop('SIGTERM'), 0, 'exits cleanly')

  const ledger = await fleet
  const verdict = await verify(c.DATABASE_URL as string, c.PG_SCHEMA, ledger)
  t.ok(verdict.acked > 500, `${verdict.acked} messages acknowledged before the broker closed`)
  t.equal(verdict.lost, 0, 'none lost')
  t.equal(verdict.duplicated, 0, 'none stored twice')
})
