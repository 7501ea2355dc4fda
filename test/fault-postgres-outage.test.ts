import t from 'tap'
import { eventually, isolatedConfig } from './helpers/env.js'
import { ownServices } from './helpers/instances.js'
import { publishFleet, verify } from './helpers/ledger.js'
import { cliEnv, spawnCli } from './helpers/processes.js'

/** The value of an unlabelled metric from Prometheus text. */
const gauge = (text: string, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)

// Fault scenario 2 of issue #5: Postgres stopped for 30 s under load.
t.test('Postgres stopped for 30 s under load: spooled, then written, none lost', async (t) => {
  const services = await ownServices(t)
  const c = isolatedConfig(t)
  const cap = 500
  const stack = spawnCli(
    t,
    ['all'],
    cliEnv(c, {
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      BUFFER_MAX_MESSAGES: String(cap),
    }),
  )
  const { port } = await stack.waitFor((e) => e.msg === 'broker listening')
  const api = await stack.waitFor((e) => e.msg === 'http api listening')
  const url = `mqtt://127.0.0.1:${port}`
  const scrape = async () => (await fetch(`${api.url}/metrics`)).text()

  const fleet = publishFleet({ url, devices: 20, rate: 10, durationMs: 42_000, prefix: 'pg-' })
  await new Promise((r) => setTimeout(r, 4_000))
  await services.stop('pg')

  let maxSpooled = 0
  let maxBuffered = 0
  let maxRss = 0
  const outageEnds = Date.now() + 30_000
  while (Date.now() < outageEnds) {
    const m = await scrape()
    maxSpooled = Math.max(maxSpooled, gauge(m, 'telemetry_spool_messages'))
    maxBuffered = Math.max(maxBuffered, gauge(m, 'telemetry_buffer_messages'))
    maxRss = Math.max(maxRss, gauge(m, 'process_resident_memory_bytes'))
    await new Promise((r) => setTimeout(r, 500))
  }
  await services.start('pg')

  const ledger = await fleet
  await eventually(
    async () => gauge(await scrape(), 'telemetry_messages_in_flight') === 0,
    60_000,
    'buffer and spool empty',
  )
  const verdict = await verify(services.databaseUrl, c.PG_SCHEMA, ledger)

  t.ok(verdict.acked > 2_000, `${verdict.acked} messages acknowledged by the broker`)
  t.equal(verdict.lost, 0, 'none lost')
  t.equal(verdict.duplicated, 0, 'none stored twice')
  t.ok(maxSpooled > cap, `up to ${maxSpooled} messages waited in the spool`)
  t.ok(maxBuffered <= 2 * cap, `memory held at most ${maxBuffered} messages (cap ${cap})`)
  // Broker, bridge and API share this process; the bound is loose on purpose.
  t.ok(maxRss < 512 * 2 ** 20, `process RSS peaked at ${(maxRss / 2 ** 20).toFixed(0)} MiB`)
  const m = await scrape()
  t.equal(gauge(m, 'telemetry_spool_messages'), 0, 'the spool drained')
  t.equal(gauge(m, 'telemetry_intake_paused'), 0)
  t.equal(await stack.stop('SIGTERM'), 0, 'clean exit')
})
