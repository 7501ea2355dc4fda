import { Redis } from 'ioredis'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedConfig } from './helpers/env.js'
import { CountingFleet } from './helpers/fleet.js'
import { devicePath, get } from './helpers/http.js'
import { ThrowawayRedis } from './helpers/redis-server.js'

/** The stated bound: last values complete again this long after a flush. */
const CONVERGE_MS = 10_000

t.test('Redis flushed while devices publish: latest converges, never older', async (t) => {
  const redisServer = await ThrowawayRedis.start()
  t.teardown(() => redisServer.stop())
  const config = isolatedConfig(t, { REDIS_URL: redisServer.url, LAST_VALUES_CHECK_MS: '500' })
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())
  await stack.bridge!.rebuilder.idle()

  const fleet = await CountingFleet.start(`mqtt://127.0.0.1:${stack.broker!.port}`, 10, 20)
  const api = `http://127.0.0.1:${stack.apiPort}`
  const lastValues = stack.bridge!.lastValues

  // Readers all along: each device's seq may only go up.
  const seen = new Map<string, number>()
  const regressions: string[] = []
  const sources = new Set<string>()
  let reading = true
  const readers = [0, 1].map(async () => {
    for (let i = 0; reading; i++) {
      const id = fleet.ids[i % fleet.ids.length]!
      const r = await get(api + devicePath(id, 'latest'))
      if (r.status !== 200) continue
      const seq = r.json.metrics.seq.value as number
      if (seq < (seen.get(id) ?? 0)) regressions.push(`${id}: ${seq} after ${seen.get(id)}`)
      seen.set(id, seq)
      sources.add(r.headers.get('x-telemetry-source') ?? '')
    }
  })

  await new Promise((r) => setTimeout(r, 1500))
  const admin = new Redis(redisServer.url)
  t.teardown(() => admin.disconnect())
  await admin.flushall()
  const flushedAt = Date.now()

  await eventually(() => lastValues.isComplete(), CONVERGE_MS, 'the rebuild to finish')
  const convergedMs = Date.now() - flushedAt
  t.comment(`last values complete again ${convergedMs} ms after FLUSHALL`)

  await new Promise((r) => setTimeout(r, 1000))
  await fleet.stop()
  reading = false
  await Promise.all(readers)
  // What the broker acknowledged last may still be on its way to the bridge.
  const stored = async () => {
    const { rows } = await stack.bridge!.pool.query<{ device_id: string; seq: string }>(
      `SELECT device_id, max(v_int)::text AS seq FROM telemetry WHERE metric = 'seq' GROUP BY device_id`,
    )
    return rows.every((r) => r.seq === String(fleet.sent.get(r.device_id)))
  }
  await eventually(stored, 10_000, 'the last readings stored').catch(() => undefined)
  await stack.bridge!.pipeline.flush()

  t.same(regressions, [], 'no read ever went back to an older value')
  t.ok(sources.has('postgres'), 'reads went to Postgres while Redis was incomplete')
  t.ok(sources.has('redis'), 'and to Redis otherwise')

  const { rows } = await stack.bridge!.pool.query<{ device_id: string; seq: string }>(
    `SELECT device_id, max(v_int)::text AS seq FROM telemetry WHERE metric = 'seq' GROUP BY device_id`,
  )
  t.equal(rows.length, fleet.ids.length)

  for (const row of rows) {
    t.equal(
      row.seq,
      String(fleet.sent.get(row.device_id)),
      `${row.device_id}: every reading stored`,
    )
    const got = await lastValues.readMetric(row.device_id, 'seq')
    t.same(
      got.status === 'found' && got.value.json,
      row.seq,
      `${row.device_id}: Redis holds the newest row`,
    )
  }
})
