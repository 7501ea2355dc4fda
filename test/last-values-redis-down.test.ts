import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedConfig } from './helpers/env.js'
import { CountingFleet } from './helpers/fleet.js'
import type { Got } from './helpers/http.js'
import { devicePath, get } from './helpers/http.js'
import { ThrowawayRedis } from './helpers/redis-server.js'

// The issue asks for 60 s; REDIS_OUTAGE_S=60 runs that, the suite runs 8 s.
const OUTAGE_MS = Number(process.env.REDIS_OUTAGE_S ?? 8) * 1000
// Not a performance bound (see load/bench-http.ts): a read that takes this
// long is waiting for Redis, which it must never do.
const HANG_MS = 2000

t.test(
  'Redis stopped: reads answer from Postgres, ingest goes on, then Redis catches up',
  async (t) => {
    const redisServer = await ThrowawayRedis.start()
    t.teardown(() => redisServer.stop())
    const config = isolatedConfig(t, { REDIS_URL: redisServer.url })
    const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
    t.teardown(() => stack.close())

    const fleet = await CountingFleet.start(`mqtt://127.0.0.1:${stack.broker!.port}`, 10, 20)
    t.teardown(() => fleet.stop())
    const api = `http://127.0.0.1:${stack.apiPort}`
    const pool = stack.bridge!.pool
    const rows = async () =>
      Number((await pool.query('SELECT count(*) AS n FROM telemetry')).rows[0].n)

    await new Promise((r) => setTimeout(r, 1000))
    await redisServer.stop()
    const rowsAtStop = await rows()
    const stoppedAt = Date.now()

    const latest: Got[] = []
    const others: [string, Got][] = []
    const seen = new Map<string, number>()
    const regressions: string[] = []

    for (let i = 0; Date.now() - stoppedAt < OUTAGE_MS; i++) {
      const id = fleet.ids[i % fleet.ids.length]!
      const r = await get(api + devicePath(id, 'latest'))
      latest.push(r)
      const seq = (r.json?.metrics?.seq?.value ?? -1) as number
      if (seq < (seen.get(id) ?? 0)) regressions.push(`${id}: ${seq} after ${seen.get(id)}`)
      seen.set(id, seq)

      if (i % 10 === 0) {
        others.push(['metric', await get(api + devicePath(id, 'latest', 'seq'))])
        others.push(['history', await get(`${api + devicePath(id, 'history')}?metric=seq&limit=5`)])
        others.push(['fleet', await get(`${api}/v1/devices`)])
        others.push(['readyz', await get(`${api}/readyz`)])
      }
      await new Promise((r) => setTimeout(r, 20))
    }

    const rowsAtEnd = await rows()
    const slowest = Math.max(...latest.map((r) => r.ms), ...others.map(([, r]) => r.ms))
    const worst = new Map<string, number>([['latest', Math.max(...latest.map((r) => r.ms))]])
    for (const [kind, r] of others) worst.set(kind, Math.max(worst.get(kind) ?? 0, r.ms))
    t.comment(
      `slowest by route: ${[...worst].map(([k, ms]) => `${k} ${ms.toFixed(1)} ms`).join(', ')}`,
    )
    const ms = latest.map((r) => r.ms).sort((a, b) => a - b)
    const at = (q: number) => ms[Math.floor(q * (ms.length - 1))]!.toFixed(1)
    t.comment(
      `${latest.length + others.length} reads during a ${OUTAGE_MS} ms outage: latest p50 ${at(0.5)} ms, p99 ${at(0.99)} ms; slowest of all ${slowest.toFixed(1)} ms`,
    )

    // One read at a time, so how many depends on the machine's load.
    t.ok(latest.length >= 20, `reads kept coming (${latest.length})`)
    t.same(
      latest.filter((r) => r.status !== 200 || r.headers.get('x-telemetry-source') !== 'postgres'),
      [],
      'every latest read answered 200 from Postgres',
    )
    t.same(regressions, [], 'and never with an older value than before')
    t.ok(slowest < HANG_MS, `no read waited for Redis (slowest ${slowest.toFixed(1)} ms)`)

    const by = (k: string) => others.filter(([kind]) => kind === k).map(([, r]) => r)
    t.ok(
      by('metric').every((r) => r.status === 200 && r.json.value > 0),
      'one metric from Postgres',
    )
    t.ok(
      by('history').every((r) => r.status === 200),
      'history does not need Redis',
    )
    t.ok(
      by('fleet').every((r) => r.status === 503 && r.headers.get('retry-after') === '1'),
      'the fleet listing says 503 with Retry-After',
    )
    t.ok(
      by('readyz').every((r) => r.status === 503 && r.json.checks.redis === 'down'),
      'readiness reports Redis down',
    )
    t.ok(rowsAtEnd > rowsAtStop, `ingest went on: ${rowsAtEnd - rowsAtStop} rows during the outage`)

    // Back, empty: a rebuild fills it from Postgres.
    await redisServer.restart()
    const lastValues = stack.bridge!.lastValues
    await eventually(
      () => lastValues.isComplete().catch(() => false),
      15_000,
      'the rebuild after reconnect',
    )
    await fleet.stop()
    await stack.bridge!.pipeline.flush()
    await eventually(
      async () => {
        const { rows: newest } = await pool.query<{ device_id: string; seq: string }>(
          `SELECT device_id, max(v_int)::text AS seq FROM telemetry WHERE metric = 'seq' GROUP BY device_id`,
        )
        const held = await Promise.all(newest.map((r) => lastValues.readMetric(r.device_id, 'seq')))
        return held.every((h, i) => h.status === 'found' && h.value.json === newest[i]!.seq)
      },
      10_000,
      'Redis to hold every newest row',
    )

    // The API's own connection reconnects with its own backoff (≤ 5 s).
    const source = async () =>
      (await get(api + devicePath(fleet.ids[0]!, 'latest'))).headers.get('x-telemetry-source')
    await eventually(async () => (await source()) === 'redis', 10_000, 'reads back on Redis')
    t.pass('reads are back on Redis')
    t.equal((await get(`${api}/readyz`)).status, 200)
    t.equal((await get(`${api}/v1/devices`)).json.total, fleet.ids.length)

    const errors = await stack.bridge!.metrics.lastValueErrors.get()
    t.ok((errors.values[0]?.value ?? 0) > 0, 'failed last-value updates were counted')
  },
)
