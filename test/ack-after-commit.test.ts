import mqtt from 'mqtt'
import pg from 'pg'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { isolatedConfig } from './helpers/env.js'
import { publishFleet, verify } from './helpers/ledger.js'
import { cliEnv, spawnCli } from './helpers/processes.js'

const T0 = Date.parse('2026-12-01T00:00:00Z')

async function directStack(t: { teardown(fn: () => unknown): void }) {
  const c = isolatedConfig(t, { BROKER_ACK_AFTER_COMMIT: 'true' })
  const stack = await startStack(c, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())
  const url = `mqtt://127.0.0.1:${stack.broker?.port}`
  const device = await mqtt.connectAsync(url, { clientId: 'ac-1' })
  t.teardown(() => device.endAsync(true))
  const pool = stack.bridge?.pool as pg.Pool
  const rows = async () =>
    Number(
      (await pool.query("SELECT count(*) FROM telemetry WHERE device_id = 'ac-1'")).rows[0].count,
    )
  return { c, stack, device, rows }
}

t.test('a device PUBACK means its readings are already in Postgres', async (t) => {
  const { device, rows } = await directStack(t)
  let behind = 0
  for (let i = 0; i < 40; i++) {
    await device.publishAsync(
      'devices/ac-1/telemetry',
      JSON.stringify({ ts: T0 + i, a: i, b: i * 2 }),
      { qos: 1 },
    )
    if ((await rows()) !== 2 * (i + 1)) behind++
  }
  t.equal(behind, 0, 'after every PUBACK, the rows of that message were visible')
})

t.test('no PUBACK while the table is locked; it comes once the rows commit', async (t) => {
  const { c, device, rows } = await directStack(t)
  const locker = new pg.Client({ connectionString: c.DATABASE_URL })
  await locker.connect()
  t.teardown(() => locker.end())
  await locker.query('BEGIN')
  await locker.query(`LOCK TABLE ${c.PG_SCHEMA}.telemetry IN ACCESS EXCLUSIVE MODE`)

  let acked = false
  const publishing = device
    .publishAsync('devices/ac-1/telemetry', JSON.stringify({ ts: T0, a: 1 }), { qos: 1 })
    .then(() => {
      acked = true
    })
  await new Promise((r) => setTimeout(r, 1_500))
  t.notOk(acked, 'no PUBACK while the batch cannot commit')

  await locker.query('COMMIT')
  await publishing
  t.equal(await rows(), 1, 'acknowledged once committed')
})

t.test('kill -9 of broker and bridge: every acknowledged message is stored', async (t) => {
  const c = isolatedConfig(t)
  const stack = spawnCli(t, ['all'], cliEnv(c, { BROKER_ACK_AFTER_COMMIT: 'true' }))
  const { port } = await stack.waitFor((e) => e.msg === 'broker listening')
  await stack.waitFor((e) => e.msg === 'http api listening')

  const url = `mqtt://127.0.0.1:${port}`
  const fleet = publishFleet({ url, devices: 30, rate: 20, durationMs: 5_000, prefix: 'ak-' })
  await new Promise((r) => setTimeout(r, 2_500))
  t.equal(await stack.stop('SIGKILL'), 'SIGKILL')

  const verdict = await verify(c.DATABASE_URL as string, c.PG_SCHEMA, await fleet)
  t.ok(verdict.acked > 200, `${verdict.acked} messages acknowledged before the kill`)
  t.equal(verdict.lost, 0, 'none lost, with no restart needed')
})
