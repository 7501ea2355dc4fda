/**
 * CONNECT authentication cost against real Postgres: `npx tsx
 * load/bench-auth.ts [devices]` (DATABASE_URL set). Measures checks per
 * second with a cold cache (scrypt each), with a warm one (HMAC and one
 * indexed SELECT), and a storm of concurrent wrong secrets, where the hash
 * gate answers "busy" instead of queueing without bound. One JSON line.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { migrate } from '../bridge/store/db.js'
import { Authenticator } from '../broker/auth.js'
import { BrokerMetrics } from '../broker/metrics.js'
import { Registry } from '../broker/registry.js'
import { createLogger } from '../common/logger.js'

const devices = Number(process.argv[2] ?? 200)
const databaseUrl = process.env.DATABASE_URL as string
const schema = `bench_auth_${randomBytes(4).toString('hex')}`
const log = createLogger('silent')

await migrate({ databaseUrl, schema, poolSize: 2 }, log)
const pool = new pg.Pool({
  connectionString: databaseUrl,
  options: `-c search_path=${schema}`,
  max: 4,
})

try {
  const registry = new Registry(pool)
  const ids = Array.from({ length: devices }, (_, i) => `bench-${i}`)
  const secrets = await Promise.all(ids.map((id) => registry.add(id, 'device')))
  const metrics = new BrokerMetrics()
  const auth = new Authenticator(
    { allowAnonymous: false, maxIdLength: 128, registry, internal: new Map() },
    metrics,
    log,
  )
  const checkAll = (password: (i: number) => string) =>
    timed(() => Promise.all(ids.map((id, i) => auth.check(id, id, Buffer.from(password(i))))))

  const cold = await checkAll((i) => secrets[i] as string)
  const warm = await checkAll((i) => secrets[i] as string)
  // Five wrong attempts per id at once: more than the gate lets wait.
  const stormIds = [...ids, ...ids, ...ids, ...ids, ...ids]
  const storm = await timed(() =>
    Promise.all(stormIds.map((id) => auth.check(id, id, Buffer.from('wrong')))),
  )
  const outcome = (r: { ok: boolean; reason?: string }[]) =>
    r.reduce<Record<string, number>>((acc, x) => {
      const k = x.ok ? 'ok' : (x.reason as string)
      acc[k] = (acc[k] ?? 0) + 1
      return acc
    }, {})

  process.stdout.write(
    `${JSON.stringify({
      bench: 'auth',
      devices,
      coldPerS: rate(devices, cold.ms),
      warmPerS: rate(devices, warm.ms),
      warmOverCold: +(cold.ms / warm.ms).toFixed(1),
      cold: outcome(cold.value),
      warm: outcome(warm.value),
      stormWrongSecrets: {
        attempts: stormIds.length,
        ms: Math.round(storm.ms),
        outcomes: outcome(storm.value),
      },
    })}\n`,
  )
} finally {
  await pool.query(`DROP SCHEMA ${schema} CASCADE`)
  await pool.end()
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - t0 }
}

function rate(n: number, ms: number): number {
  return Math.round(n / (ms / 1000))
}
