import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import t from 'tap'
import type { RunningBroker } from '../broker/index.js'
import { startBroker } from '../broker/index.js'
import type { PersistenceKind } from '../broker/persistence.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedPrefix, serviceUrls } from './helpers/env.js'

const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent')
const CAP = 50
const SENT = 80

interface Teardown {
  teardown(fn: () => unknown): void
}

// The subscriber is a service account (it reads devices' telemetry).
const SECRET = randomBytes(24).toString('hex')

async function broker(t: Teardown, kind: PersistenceKind, prefix: string, subId: string) {
  const b = await startBroker(
    {
      host: '127.0.0.1',
      port: 0,
      allowAnonymous: true,
      internal: new Map([[subId, SECRET]]),
      persistence: {
        persistence: kind,
        emitter: 'memory',
        redisUrl: serviceUrls().redisUrl,
        keyPrefix: prefix,
        maxQueuedPerClient: CAP,
      },
    },
    log,
  )
  let closed = false
  t.teardown(() => (closed ? undefined : b.close()))
  return {
    ...b,
    close: async () => {
      closed = true
      await b.close()
    },
  }
}

async function metric(b: RunningBroker, name: string): Promise<number> {
  const m = await b.metrics.registry.getSingleMetric(name)?.get()
  return m?.values[0]?.value ?? Number.NaN
}

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind}: an offline subscriber's queue stops at the cap`, async (t) => {
    const { prefix, redis } = isolatedPrefix(t)

    const subId = `sub-${randomBytes(4).toString('hex')}`
    const b = await broker(t, kind, prefix, subId)
    const url = `mqtt://127.0.0.1:${b.port}`
    const topic = `devices/dev-${subId}/telemetry`
    const login = { username: subId, password: SECRET }

    const sub = await mqtt.connectAsync(url, { clientId: subId, clean: false, ...login })
    await sub.subscribeAsync(topic, { qos: 1 })
    await sub.endAsync()

    const device = await mqtt.connectAsync(url, { clientId: `dev-${subId}` })
    for (let i = 0; i < SENT; i++) await device.publishAsync(topic, String(i), { qos: 1 })
    await device.endAsync()

    // PUBACK goes out before the enqueue, so wait for the last one to land.
    const accounted = async () =>
      (await metric(b, 'broker_offline_enqueued_total')) +
        (await metric(b, 'broker_offline_dropped_total')) ===
      SENT
    await eventually(accounted, 10_000, 'every message queued or dropped')

    const queued = await metric(b, 'broker_offline_queued_messages')
    const dropped = await metric(b, 'broker_offline_dropped_total')
    t.equal(queued, CAP, 'the queue holds exactly the cap')
    t.equal(dropped, SENT - CAP, 'the drop counter says how many did not fit')
    t.equal(await metric(b, 'broker_offline_queue_deepest_messages'), CAP)
    if (kind === 'redis') t.equal(await redis.llen(`${prefix}outgoing:${subId}`), CAP)

    // The oldest are kept: the subscriber gets 0..CAP-1 when it returns.
    const got: number[] = []
    const back = mqtt.connect(url, { clientId: subId, clean: false, reconnectPeriod: 0, ...login })
    back.on('message', (_topic, payload) => got.push(Number(payload.toString())))
    t.teardown(() => back.endAsync())
    await eventually(async () => got.length >= CAP, 10_000, `${CAP} messages`)
    await new Promise((r) => setTimeout(r, 200))
    t.same(
      got.sort((a, b) => a - b),
      Array.from({ length: CAP }, (_, i) => i),
      'the first CAP messages arrive, the newer ones were dropped',
    )
    await eventually(async () => (await metric(b, 'broker_offline_queued_messages')) === 0)
    t.pass('the queue empties as the subscriber acknowledges')
  })
}
