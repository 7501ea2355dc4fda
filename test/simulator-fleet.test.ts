import mqtt from 'mqtt'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import type { FleetOptions } from '../simulator/fleet.js'
import { deviceSpecs, runFleet } from '../simulator/fleet.js'
import { eventually, isolatedConfig } from './helpers/env.js'
import { bridgeAccount } from './helpers/processes.js'

const log = createLogger('silent')

interface Teardown {
  teardown(fn: () => unknown): void
}

async function brokerWithListener(t: Teardown) {
  const config = isolatedConfig(t)
  const stack = await startStack(config, log, ['broker'])
  t.teardown(() => stack.close())
  const url = `mqtt://127.0.0.1:${stack.broker!.port}`
  // Reading every device's telemetry takes a service account.
  const id = `listener-${Date.now()}`
  const login = await bridgeAccount({ ...config, BRIDGE_CLIENT_ID: id })
  const listener = await mqtt.connectAsync(url, {
    clientId: id,
    username: id,
    password: login.BRIDGE_MQTT_PASSWORD,
  })
  t.teardown(() => listener.endAsync(true))
  const received = new Map<string, number>()

  await listener.subscribeAsync('devices/+/telemetry', { qos: 1 })
  listener.on('message', (topic) => {
    const device = topic.split('/')[1] as string
    received.set(device, (received.get(device) ?? 0) + 1)
  })

  return { stack, url, received }
}

t.test(
  'each device publishes at its own rate within tolerance; the ledger matches what arrived',
  async (t) => {
    const { url, received } = await brokerWithListener(t)
    const opts: FleetOptions = {
      url,
      devices: 8,
      rate: 20,
      rateSpread: 0.5,
      jitter: 0.2,
      durationS: 4,
      qos: 1,
      prefix: `rate-${Date.now()}-`,
      topic: (d) => `devices/${d}/telemetry`,
      seed: 42,
      drainMs: 5000,
    }
    const specs = deviceSpecs(opts)
    const { ledger, summary } = await runFleet(opts, log)

    t.equal(summary.devices, 8)
    // A PUBACK to the device can precede delivery to the listener.
    const total = ledger.devices.reduce((s, d) => s + d.messages, 0)
    await eventually(async () => [...received.values()].reduce((a, b) => a + b, 0) >= total, 5000)
    t.ok(new Set(specs.map((s) => s.ratePerS.toFixed(2))).size > 1, 'rates differ per device')

    for (const [i, d] of ledger.devices.entries()) {
      const expected = (specs[i]?.ratePerS ?? 0) * opts.durationS
      t.ok(
        Math.abs(d.messages - expected) <= expected * 0.15 + 2,
        `${d.device}: ${d.messages} messages, expected ${expected.toFixed(1)} ± 15 %`,
      )
      t.equal(d.sent, d.messages, 'flat payloads: one sample per message')
      t.equal(d.acked, d.sent, 'every QoS 1 message acknowledged')
      t.same(d.unacked, [])
      t.equal(
        received.get(d.device),
        d.messages,
        'the broker delivered exactly what the ledger says',
      )
    }
  },
)

t.test('faults at set fractions are recorded in the ledger', async (t) => {
  const { url } = await brokerWithListener(t)
  const { ledger, summary } = await runFleet(
    {
      url,
      devices: 20,
      rate: 50,
      durationS: 3,
      qos: 1,
      prefix: `faults-${Date.now()}-`,
      topic: (d) => `devices/${d}/telemetry`,
      faults: { skew: 0.5, reorder: 0.1, duplicate: 0.1, malformed: 0.1 },
      formats: { flat: 1, values: 1, array: 1 },
      seed: 9,
    },
    log,
  )
  const all = (pick: (d: (typeof ledger.devices)[number]) => number) =>
    ledger.devices.reduce((s, d) => s + pick(d), 0)
  const samples = summary.samplesSent
  const frac = (n: number) => n / samples

  t.ok(samples > 2000, `${samples} samples`)
  t.ok(
    Math.abs(frac(all((d) => d.reordered.length)) - 0.1) < 0.05,
    'about 10 % reordered (of accepted)',
  )
  t.ok(
    Math.abs(frac(all((d) => d.rejectReasons.invalid_json ?? 0) * 4) - 0.1) < 0.04,
    'about 10 % malformed, four kinds',
  )
  t.ok(all((d) => d.duplicated.length) > 0, 'duplicates recorded')
  t.ok(
    ledger.devices.some((d) => d.skewMs !== 0),
    'some clocks skewed',
  )
  const farAhead = ledger.devices.filter((d) => d.skewMs > 300_000)
  for (const d of farAhead) {
    t.equal(d.newest, null, `${d.device}: nothing it sent may become latest`)
    t.equal(d.rejected.length, d.sent, `${d.device}: every sample expected refused`)
  }
})

t.test(
  'devices come back after the broker drops them, with backoff, and keep their seq',
  async (t) => {
    const { url, stack } = await brokerWithListener(t)
    const prefix = `recon-${Date.now()}-`
    const run = runFleet(
      {
        url,
        devices: 5,
        rate: 10,
        durationS: 4,
        qos: 1,
        prefix,
        topic: (d) => `devices/${d}/telemetry`,
        backoff: { baseMs: 100, capMs: 400 },
      },
      log,
    )

    await new Promise((r) => setTimeout(r, 1500))
    const aedes = stack.broker!.aedes as unknown as { clients: Record<string, { close(): void }> }
    for (const [id, client] of Object.entries(aedes.clients))
      if (id.startsWith(prefix)) client.close()

    const { summary, ledger } = await run
    t.ok(summary.reconnects >= 5, `${summary.reconnects} reconnects`)
    for (const d of ledger.devices) {
      t.ok(d.sent > 25, `${d.device} went on publishing after reconnecting (${d.sent})`)
    }
  },
)

t.test('refuses a fleet larger than the open-files limit, saying how to fix it', async (t) => {
  const { assertFdBudget } = await import('../simulator/limits.js')
  t.throws(() => assertFdBudget(10_000, 1024), { code: 'CONFIG_INVALID', message: /ulimit -n/ })
  t.doesNotThrow(() => assertFdBudget(10_000, 20_000))
})

t.test(
  'each device presents its own credentials; refused devices back off instead of hammering',
  async (t) => {
    const { Aedes } = await import('aedes')
    const { createServer } = await import('node:net')
    const seen = new Map<string, { username?: string; password?: string; attempts: number }>()
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const entry = seen.get(client.id) ?? { attempts: 0 }
        entry.attempts++
        if (username !== undefined) entry.username = username
        if (password) entry.password = password.toString()
        seen.set(client.id, entry)
        // One device has a wrong password: refused every time.
        const ok = password?.toString() === `secret-${client.id}` && !client.id.endsWith('00003')
        if (ok) return done(null, true)
        done(Object.assign(new Error('not authorized'), { returnCode: 5 }) as never, false)
      },
    })
    const server = createServer(broker.handle)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    t.teardown(() => new Promise<void>((r) => broker.close(() => server.close(() => r()))))
    const port = (server.address() as { port: number }).port

    const { ledger, summary } = await runFleet(
      {
        url: `mqtt://127.0.0.1:${port}`,
        devices: 3,
        rate: 10,
        durationS: 2,
        qos: 1,
        prefix: 'cred-',
        topic: (d) => `devices/${d}/telemetry`,
        credentials: (d) => ({ username: `user-${d}`, password: `secret-${d}` }),
        backoff: { baseMs: 200, capMs: 1000 },
        connectTimeoutMs: 500,
      },
      log,
    )

    t.same(seen.get('cred-00001'), {
      username: 'user-cred-00001',
      password: 'secret-cred-00001',
      attempts: 1,
    })
    t.equal(seen.get('cred-00002')?.username, 'user-cred-00002')
    const refused = seen.get('cred-00003')?.attempts ?? 0
    t.ok(
      refused >= 2 && refused <= 8,
      `the refused device retried with backoff, ${refused} attempts in ~2.5 s`,
    )
    t.equal(ledger.devices[2]?.sent, 0, 'a refused device publishes nothing')
    t.ok((ledger.devices[0]?.sent ?? 0) > 10, 'the others published')
    t.equal(summary.devices, 3)
  },
)
