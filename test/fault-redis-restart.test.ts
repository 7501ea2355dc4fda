import pg from 'pg'
import t from 'tap'
import { eventually, isolatedConfig } from './helpers/env.js'
import { devicePath, get } from './helpers/http.js'
import { publishFleet, settledVerdict } from './helpers/ledger.js'
import { cliEnv, spawnCli } from './helpers/processes.js'
import { ThrowawayRedis } from './helpers/redis-server.js'

const gauge = (text: string, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)

// Fault scenario 4 of issue #5: Redis (last values) killed under load and
// started again, empty. Ingest to Postgres must not notice; the last values
// must catch up with the newest rows once Redis is back.
t.test(
  'Redis killed under load, then started empty: nothing lost, last values catch up',
  async (t) => {
    const redis = await ThrowawayRedis.start()
    t.teardown(() => redis.stop())
    const c = isolatedConfig(t, { REDIS_URL: redis.url })
    const stack = spawnCli(t, ['all'], cliEnv(c))
    const { port } = await stack.waitFor((e) => e.msg === 'broker listening')
    const api = await stack.waitFor((e) => e.msg === 'http api listening')
    await stack.waitFor((e) => e.msg === 'subscribed')
    const scrape = async () => (await fetch(`${api.url}/metrics`)).text()

    const db = new pg.Client({ connectionString: c.DATABASE_URL })
    await db.connect()
    t.teardown(() => db.end())
    const rows = async () =>
      Number((await db.query(`SELECT count(*) AS n FROM ${c.PG_SCHEMA}.telemetry`)).rows[0].n)

    const url = `mqtt://127.0.0.1:${port}`
    const fleet = publishFleet({ url, devices: 20, rate: 20, durationMs: 14_000, prefix: 'rd-' })
    await new Promise((r) => setTimeout(r, 3_000))

    await redis.stop()
    const rowsAtStop = await rows()
    await new Promise((r) => setTimeout(r, 6_000))
    const rowsDuringOutage = (await rows()) - rowsAtStop
    await redis.restart()

    const ledger = await fleet
    const verdict = await settledVerdict(c.DATABASE_URL as string, c.PG_SCHEMA, ledger, 30_000)
    t.ok(rowsDuringOutage > 1_000, `${rowsDuringOutage} rows written while Redis was down`)
    t.ok(verdict.acked > 3_000, `${verdict.acked} messages acknowledged by the broker`)
    t.equal(verdict.lost, 0, 'none lost')
    t.equal(verdict.duplicated, 0, 'none stored twice')

    // Each device's newest seq in Postgres is what Redis serves again.
    const { rows: newest } = await db.query<{ device_id: string; seq: number }>(
      `SELECT device_id, max(v_int)::int AS seq FROM ${c.PG_SCHEMA}.telemetry
      WHERE metric = 'seq' GROUP BY device_id ORDER BY device_id`,
    )
    t.equal(newest.length, 20, 'every device has rows')
    const behind = async () => {
      const stale: string[] = []
      for (const { device_id, seq } of newest) {
        const r = await get(api.url + devicePath(device_id, 'latest'))
        const held = r.json?.metrics?.seq?.value
        if (r.headers.get('x-telemetry-source') !== 'redis' || held !== seq)
          stale.push(`${device_id}: ${held} from ${r.headers.get('x-telemetry-source')}`)
      }
      return stale
    }
    await eventually(
      async () => (await behind()).length === 0,
      20_000,
      'last values in Redis',
    ).catch(() => undefined)
    t.same(await behind(), [], 'Redis serves every device its newest seq')

    const m = await scrape()
    t.equal(gauge(m, 'telemetry_messages_in_flight'), 0, 'nothing left in memory or spool')
    t.equal(await stack.stop('SIGTERM'), 0, 'clean exit')
  },
)
