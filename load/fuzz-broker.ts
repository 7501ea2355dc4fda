/**
 * Long fuzz run against an in-process broker: `node --expose-gc --import
 * tsx load/fuzz-broker.ts [frames] [seed]`. Sends the same number of connections twice, first with
 * well-formed frames (the baseline), then with half of them mutated, and
 * checks that a normal client is still served. Prints one JSON line.
 */
import mqtt from 'mqtt'
import { startBroker } from '../broker/index.js'
import { newSecret } from '../broker/secrets.js'
import { createLogger } from '../common/logger.js'
import { fuzzBroker } from './fuzz-frames.js'

const FRAMES_PER_CONNECTION = 5
const frames = Number(process.argv[2] ?? 100_000)
const seed = Number(process.argv[3] ?? 1)
const connections = Math.ceil(frames / FRAMES_PER_CONNECTION)
const secret = newSecret()

const broker = await startBroker(
  {
    host: '127.0.0.1',
    port: 0,
    allowAnonymous: true,
    internal: new Map([['reader', secret]]),
    limits: { connectsPerMinute: 0, authFailuresPerMinute: 0, connectTimeoutMs: 500 },
  },
  createLogger('silent'),
)

const rssMb = () => Math.round(process.memoryUsage().rss / 1024 / 1024)
// With --expose-gc, live heap after a full collection: what a leak would grow.
const heapMb = () => {
  globalThis.gc?.()
  return Math.round(process.memoryUsage().heapUsed / 1024 / 1024)
}
const rssBefore = rssMb()
const heapBefore = heapMb()
const run = (mutationRate: number) =>
  fuzzBroker({ port: broker.port, connections, concurrency: 50, seed, mutationRate })

const baseline = await run(0)
const fuzz = await run(0.5)
const alive = await stillServes()
const refusals = Object.fromEntries(
  (await broker.metrics.refusals.get()).values.map((v) => [v.labels.reason, v.value]),
)

process.stdout.write(
  `${JSON.stringify({
    bench: 'fuzz-broker',
    seed,
    baseline: {
      ...baseline,
      framesPerS: Math.round(baseline.frames / (baseline.elapsedMs / 1000)),
    },
    fuzz: { ...fuzz, framesPerS: Math.round(fuzz.frames / (fuzz.elapsedMs / 1000)) },
    ratio: +(baseline.elapsedMs / fuzz.elapsedMs).toFixed(2),
    rssMb: { before: rssBefore, after: rssMb() },
    heapMbAfterGc: globalThis.gc ? { before: heapBefore, after: heapMb() } : undefined,
    refusals,
    stillServes: alive,
  })}\n`,
)
await broker.close()
process.exit(alive ? 0 : 1)

/** A reader (internal service account) sees a normal device's publish. */
async function stillServes(): Promise<boolean> {
  const url = `mqtt://127.0.0.1:${broker.port}`
  const reader = await mqtt.connectAsync(url, {
    clientId: 'reader',
    username: 'reader',
    password: secret,
    reconnectPeriod: 0,
  })
  await reader.subscribeAsync('devices/+/telemetry', { qos: 1 })
  const got = new Promise<boolean>((resolve) => {
    reader.on('message', (topic) => topic === 'devices/after/telemetry' && resolve(true))
    setTimeout(() => resolve(false), 5_000)
  })
  const device = await mqtt.connectAsync(url, { clientId: 'after', reconnectPeriod: 0 })
  await device.publishAsync('devices/after/telemetry', '{"ok":1}', { qos: 1 })
  const ok = await got
  await Promise.all([device.endAsync(), reader.endAsync()])
  return ok
}
