import mqtt from 'mqtt'
import t from 'tap'
import { fuzzBroker } from '../load/fuzz-frames.js'
import { counter, testBroker } from './helpers/broker.js'

t.test('a few thousand mutated frames, then a normal client is served', async (t) => {
  const b = await testBroker(t, {
    BROKER_ALLOW_ANONYMOUS: 'true',
    BROKER_CONNECTS_PER_MIN: '0',
    BROKER_AUTH_FAILS_PER_MIN: '0',
    BROKER_CONNECT_TIMEOUT_MS: '500',
  })
  const secret = (await b.registry.add('svc', 'service')) as string
  const reader = await mqtt.connectAsync(b.url, {
    clientId: 'svc',
    username: 'svc',
    password: secret,
    reconnectPeriod: 0,
  })
  t.teardown(() => reader.endAsync(true))
  await reader.subscribeAsync('devices/+/telemetry', { qos: 1 })

  const r = await fuzzBroker({
    port: b.broker.port,
    connections: 800,
    concurrency: 20,
    seed: Number(process.env.FUZZ_SEED ?? 8),
    mutationRate: 0.5,
  })
  t.ok(r.frames >= 4_000, `${r.frames} frames on ${r.connections} connections`)
  t.ok(r.answered > 0, `the broker answered ${r.answered} connections`)
  t.ok(reader.connected, 'the service account stayed connected')

  const got = new Promise<string>((resolve) =>
    reader.on('message', (topic, payload) => {
      if (topic === 'devices/after/telemetry') resolve(payload.toString())
    }),
  )
  const c = await mqtt.connectAsync(b.url, { clientId: 'after', reconnectPeriod: 0 })
  await c.publishAsync('devices/after/telemetry', '{"ok":1}', { qos: 1 })
  await c.endAsync()
  t.equal(await got, '{"ok":1}', 'a normal client publishes and is delivered')

  for (const reason of ['publish_denied', 'subscribe_denied', 'first_packet_not_connect']) {
    const n = await counter(b.broker, 'broker_refusals_total', { reason })
    t.ok(n > 0, `${reason}: ${n} refusals among the frames`)
  }
})
