import pg from 'pg'
import t from 'tap'
import { isolatedConfig } from './helpers/env.js'
import { publishFleet, settledVerdict } from './helpers/ledger.js'
import { bridgeAccount, cliEnv, spawnCli } from './helpers/processes.js'

const SHUTDOWN_TIMEOUT_MS = 10_000

async function gauge(apiUrl: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text()
  return Number(line.exec(text)?.[1] ?? 0)
}

async function storedMessages(c: { DATABASE_URL?: string; PG_SCHEMA: string }): Promise<number> {
  const db = new pg.Client({ connectionString: c.DATABASE_URL })
  await db.connect()
  try {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${c.PG_SCHEMA}.telemetry WHERE metric = 'seq'`,
    )
    return rows[0]?.n ?? 0
  } finally {
    await db.end()
  }
}

// Fault scenario 8 of issue #5, for a bridge running apart from its broker:
// SIGTERM under load writes what it holds, acknowledges it, and exits in
// time; the broker keeps the rest for the next bridge.
t.test('SIGTERM of the bridge under load: held messages written and acknowledged', async (t) => {
  const c = isolatedConfig(t)
  const broker = spawnCli(t, ['broker'], cliEnv(c))
  const { port } = await broker.waitFor((e) => e.msg === 'broker listening')
  const url = `mqtt://127.0.0.1:${port}`
  // Batches that wait a while, so the signal always finds some held.
  const env = cliEnv(c, {
    BRIDGE_MQTT_URL: url,
    BATCH_MAX_AGE_MS: '1500',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    ...(await bridgeAccount(c)),
  })

  const first = spawnCli(t, ['bridge'], env)
  await first.waitFor((e) => e.msg === 'subscribed')
  const api = await first.waitFor((e) => e.msg === 'http api listening')
  const fleet = publishFleet({ url, devices: 40, rate: 20, durationMs: 5_000, prefix: 'st-' })
  await new Promise((r) => setTimeout(r, 2_500))

  const held = await gauge(api.url as string, /^telemetry_messages_in_flight (\d+)$/m)
  const signalled = Date.now()
  t.equal(await first.stop('SIGTERM'), 0, 'exits cleanly')
  const tookMs = Date.now() - signalled
  t.ok(held > 0, `${held} messages were held when the signal came`)
  // A deadline, not a speed goal: the margin is for closing connections.
  t.ok(tookMs < SHUTDOWN_TIMEOUT_MS + 5_000, `exited ${tookMs} ms after SIGTERM`)
  t.ok(
    first.log.some((e) => e.msg === 'stopped cleanly'),
    'logged a clean stop',
  )
  const writtenByFirst = await storedMessages(c)
  t.ok(writtenByFirst >= held, `${writtenByFirst} messages stored by the first bridge`)

  // Restart once the devices are done, so nothing races the resumption.
  const ledger = await fleet
  const second = spawnCli(t, ['bridge'], env)
  const connected = await second.waitFor((e) => e.msg === 'mqtt connected')
  t.equal(connected.sessionPresent, true, 'the broker kept the session and its queue')
  const secondApi = await second.waitFor((e) => e.msg === 'http api listening')

  const verdict = await settledVerdict(c.DATABASE_URL as string, c.PG_SCHEMA, ledger, 30_000)
  t.ok(verdict.acked > 1_000, `${verdict.acked} messages acknowledged by the broker`)
  t.equal(verdict.lost, 0, 'none lost')
  t.equal(verdict.duplicated, 0, 'none stored twice')

  // Had the first bridge not sent its PUBACKs, the broker would deliver
  // what it wrote a second time.
  const total = await storedMessages(c)
  const stored = /^telemetry_messages_total\{outcome="stored"\} (\d+)$/m
  t.equal(
    await gauge(secondApi.url as string, stored),
    total - writtenByFirst,
    'the second bridge received only what the first had not stored',
  )

  await second.stop('SIGTERM')
  await broker.stop('SIGTERM')
})
