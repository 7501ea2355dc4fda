import t from 'tap'
import { isolatedConfig } from './helpers/env.js'
import { publishFleet, settledVerdict } from './helpers/ledger.js'
import { bridgeAccount, cliEnv, spawnCli } from './helpers/processes.js'

// Fault scenario 1 of issue #5: kill -9 of the bridge under load, then restart.
t.test('kill -9 of the bridge under load loses nothing the broker acknowledged', async (t) => {
  const c = isolatedConfig(t)
  const broker = spawnCli(t, ['broker'], cliEnv(c))
  const { port } = await broker.waitFor((e) => e.msg === 'broker listening')
  const url = `mqtt://127.0.0.1:${port}`
  // Batches that wait a while, so a kill always finds some unacknowledged.
  const env = cliEnv(c, {
    BRIDGE_MQTT_URL: url,
    BATCH_MAX_AGE_MS: '1500',
    ...(await bridgeAccount(c)),
  })

  const first = spawnCli(t, ['bridge'], env)
  await first.waitFor((e) => e.msg === 'subscribed')
  const firstApi = await first.waitFor((e) => e.msg === 'http api listening')

  const fleet = publishFleet({ url, devices: 40, rate: 20, durationMs: 6_000, prefix: 'k9-' })
  await new Promise((r) => setTimeout(r, 2_500))
  // What the killed bridge held unacknowledged must come back from the broker.
  const before = await (await fetch(`${firstApi.url}/metrics`)).text()
  const held = Number(/^telemetry_messages_in_flight (\d+)$/m.exec(before)?.[1])
  t.equal(await first.stop('SIGKILL'), 'SIGKILL')
  t.ok(held > 0, `${held} messages were held, unacknowledged, when the bridge was killed`)
  await new Promise((r) => setTimeout(r, 500))

  const second = spawnCli(t, ['bridge'], env)
  const connected = await second.waitFor((e) => e.msg === 'mqtt connected')
  t.equal(connected.sessionPresent, true, 'the broker kept the session and its queue')

  const ledger = await fleet
  const verdict = await settledVerdict(c.DATABASE_URL as string, c.PG_SCHEMA, ledger, 30_000)

  t.ok(verdict.acked > 1_000, `${verdict.acked} messages acknowledged by the broker`)
  t.equal(verdict.lost, 0, 'none lost')
  t.equal(verdict.duplicated, 0, 'none stored twice')

  await second.stop('SIGTERM')
  await broker.stop('SIGTERM')
})
