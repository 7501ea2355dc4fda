// Times must come out in UTC whatever the process's zone: run in New York.
process.env.TZ = 'America/New_York'

import mqtt from 'mqtt'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { eventually, isolatedConfig } from './helpers/env.js'
import { devicePath, get } from './helpers/http.js'

const T0 = Date.parse('2026-03-08T06:59:58Z') // 01:59:58 in New York, just before DST starts
const BIG = '123456789012345678901234567890'
const DEVICES = ['Gerät-7:a@b.c_d', '温度计', 'plain-1']

t.test('every /v1 route answers with exact values and clear errors', async (t) => {
  const config = isolatedConfig(t, { HISTORY_MAX_ROWS: '50' })
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())
  await stack.bridge!.rebuilder.idle()

  // Ten readings a second apart per device, of every value type. An
  // anonymous client may publish only as the device its client id names.
  for (const [d, id] of DEVICES.entries()) {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.broker!.port}`, {
      clientId: id,
    })
    t.teardown(() => client.endAsync())
    for (let i = 0; i < 10; i++) {
      const body = `{"ts":${T0 + i * 1000 + d},"temp":${20.5 + i},"n":${i},"big":${BIG}${i},"on":${i % 2 === 0},"s":"v${i}","arr":[${i},"x"]}`
      await client.publishAsync(`devices/${id}/telemetry`, body, { qos: 1 })
    }
  }

  const pool = stack.bridge!.pool
  await eventually(
    async () => Number((await pool.query('SELECT count(*) FROM telemetry')).rows[0].count) === 180,
    15_000,
    '180 rows',
  )
  await stack.bridge!.pipeline.flush()

  const api = `http://127.0.0.1:${stack.apiPort}`
  const [gerat] = DEVICES as [string]

  t.test('latest: every metric, its type, UTC time and exact value', async (t) => {
    const r = await get(api + devicePath(gerat, 'latest'))
    t.equal(r.status, 200)
    t.equal(r.headers.get('x-telemetry-source'), 'redis')
    t.equal(r.json.device, gerat, 'a device id with non-ASCII and : @ . _ - round-trips')
    t.same(r.json.metrics.temp, { type: 'float', ts: '2026-03-08T07:00:07.000000Z', value: 29.5 })
    t.same(r.json.metrics.n, { type: 'int', ts: '2026-03-08T07:00:07.000000Z', value: 9 })
    t.match(r.text, `"big":{"type":"numeric","ts":"2026-03-08T07:00:07.000000Z","value":${BIG}9}`)
    t.same(r.json.metrics.on.value, false)
    t.same(r.json.metrics.s, { type: 'string', ts: '2026-03-08T07:00:07.000000Z', value: 'v9' })
    t.same(r.json.metrics.arr.value, [9, 'x'])
    t.equal(r.json.metrics.arr.type, 'json')
  })

  t.test('latest of one metric; 404 for unknown device or metric', async (t) => {
    const r = await get(api + devicePath('温度计', 'latest', 'big'))
    t.equal(r.status, 200)
    t.equal(
      r.text,
      `{"device":"温度计","metric":"big","type":"numeric","ts":"2026-03-08T07:00:07.001000Z","value":${BIG}9}`,
    )

    const none = await get(api + devicePath('nobody', 'latest'))
    t.equal(none.status, 404)
    t.equal(none.json.error, 'device_not_found')
    const noMetric = await get(api + devicePath(gerat, 'latest', 'humidity'))
    t.equal(noMetric.status, 404)
    t.equal(noMetric.json.error, 'metric_not_found')
  })

  t.test('history raw: oldest first, a page at a time', async (t) => {
    const from = new Date(T0).toISOString()
    const base = `${api + devicePath(gerat, 'history')}?metric=big&from=${from}`
    const first = await get(`${base}&limit=4`)
    t.equal(first.status, 200)
    t.equal(first.json.points.length, 4)
    t.match(first.text, `{"ts":"2026-03-08T06:59:58.000000Z","type":"numeric","value":${BIG}0}`)
    t.equal(first.json.next, '2026-03-08T07:00:02.000000Z')

    const rest = await get(
      `${api + devicePath(gerat, 'history')}?metric=big&from=${first.json.next}&limit=50`,
    )
    t.equal(rest.json.points.length, 6)
    t.equal(rest.json.next, null)
    t.equal(rest.json.from, '2026-03-08T07:00:02.000000Z', 'the window is echoed in UTC')
  })

  t.test('history aggregated per bucket', async (t) => {
    const q = (metric: string, agg: string) =>
      get(
        `${api + devicePath(gerat, 'history')}?metric=${metric}&from=2026-03-08T06:59:00Z&to=2026-03-08T07:01:00Z&bucket=5s&agg=${agg}`,
      )
    // Buckets [55,00) [00,05) [05,10) hold readings 0-1, 2-6, 7-9.
    const buckets = [
      '2026-03-08T06:59:55.000000Z',
      '2026-03-08T07:00:00.000000Z',
      '2026-03-08T07:00:05.000000Z',
    ]
    const values = async (metric: string, agg: string) => (await q(metric, agg)).json.points

    t.same(
      (await values('n', 'sum')).map((p: { ts: string }) => p.ts),
      buckets,
    )
    t.same(
      (await values('n', 'sum')).map((p: { value: number; type: string }) => [p.type, p.value]),
      [
        ['int', 1],
        ['int', 20],
        ['int', 24],
      ],
    )
    t.same(
      (await values('temp', 'min')).map((p: { value: number }) => p.value),
      [20.5, 22.5, 27.5],
    )
    t.same(
      (await values('temp', 'max')).map((p: { value: number }) => p.value),
      [21.5, 26.5, 29.5],
    )
    t.same(
      (await values('n', 'avg')).map((p: { value: number }) => p.value),
      [0.5, 4, 8],
    )
    t.same(
      (await values('s', 'count')).map((p: { value: number }) => p.value),
      [2, 5, 3],
    )
    t.same(
      (await values('s', 'last')).map((p: { value: string }) => p.value),
      ['v1', 'v6', 'v9'],
    )
    t.same(await values('s', 'sum'), [], 'sum over strings has no numeric bucket')

    const big = await q('big', 'max')
    t.match(big.text, `"type":"numeric","value":${BIG}9}`, 'numeric max keeps every digit')
  })

  t.test('bad queries: 400 naming the parameter', async (t) => {
    const h = api + devicePath(gerat, 'history')
    const cases: [string, RegExp][] = [
      ['', /metric/],
      ['?metric=n&limit=51', /limit/],
      ['?metric=n&from=yesterday', /from/],
      ['?metric=n&bucket=5s', /agg/],
      ['?metric=n&agg=avg', /bucket/],
      ['?metric=n&bucket=5w&agg=avg', /bucket/],
      ['?metric=n&agg=median&bucket=1m', /agg/],
      ['?metric=n&from=2026-03-09T00:00:00Z&to=2026-03-08T00:00:00Z', /from/],
    ]

    for (const [query, names] of cases) {
      const r = await get(h + query)
      t.equal(r.status, 400, query)
      t.equal(r.json.error, 'bad_request')
      t.match(r.json.message, names, `${query}: ${r.json.message}`)
    }

    const nul = await get(`${api}/v1/devices/a%00b/latest`)
    t.equal(nul.status, 400, 'a control character in an id is refused, not sent to a store')
    t.equal((await get(`${h}?metric=n&from=2020-01-01T00:00:00Z`)).status, 200)
    t.equal((await get(`${api + devicePath('nobody', 'history')}?metric=n`)).status, 404)
  })

  t.test('fleet listing: newest first, paged, filtered by last seen', async (t) => {
    const all = await get(`${api}/v1/devices`)
    t.equal(all.status, 200)
    t.same(
      all.json.devices.map((d: { id: string }) => d.id),
      ['plain-1', '温度计', 'Gerät-7:a@b.c_d'],
      'newest last reading first',
    )
    t.same(all.json.devices[0], { id: 'plain-1', last_seen: '2026-03-08T07:00:07.002000Z' })
    t.equal(all.json.total, 3)
    t.equal(all.json.next_offset, null)

    const page = await get(`${api}/v1/devices?limit=2`)
    t.equal(page.json.devices.length, 2)
    t.equal(page.json.next_offset, 2)
    const page2 = await get(`${api}/v1/devices?limit=2&offset=2`)
    t.same(
      page2.json.devices.map((d: { id: string }) => d.id),
      ['Gerät-7:a@b.c_d'],
    )

    const window = await get(`${api}/v1/devices?seen_after=2026-03-08T07:00:07.001Z`)
    t.same(
      window.json.devices.map((d: { id: string }) => d.id),
      ['plain-1', '温度计'],
    )
    t.equal((await get(`${api}/v1/devices?limit=0`)).status, 400)
  })

  t.test('health, readiness, metrics', async (t) => {
    t.same((await get(`${api}/healthz`)).json, { status: 'ok' })
    const ready = await get(`${api}/readyz`)
    t.equal(ready.status, 200)
    t.same(ready.json, { status: 'ready', checks: { postgres: 'up', redis: 'up', mqtt: 'up' } })

    const metrics = await get(`${api}/metrics`)
    t.match(
      metrics.text,
      /telemetry_http_request_seconds_count\{method="GET",route="\/v1\/devices\/:id\/latest",status="200"\} \d+/,
    )
    t.match(metrics.text, /telemetry_latest_reads_total\{source="redis"\} \d+/)
    t.match(metrics.text, /telemetry_messages_total\{outcome="stored"\} 30/)
  })

  t.test('the OpenAPI document describes every route', async (t) => {
    const doc = (await get(`${api}/openapi.json`)).json
    t.equal(doc.openapi, '3.0.3')
    const paths = Object.keys(doc.paths).sort()
    t.same(paths, [
      '/healthz',
      '/metrics',
      '/readyz',
      '/v1/devices',
      '/v1/devices/{id}/history',
      '/v1/devices/{id}/latest',
      '/v1/devices/{id}/latest/{metric}',
    ])

    for (const p of paths) {
      const op = doc.paths[p].get
      t.ok(op.summary, `${p} has a summary`)
      t.ok(op.responses['200'], `${p} describes its 200 response`)
    }

    const history = doc.paths['/v1/devices/{id}/history'].get
    t.same(history.parameters.map((p: { name: string }) => p.name).sort(), [
      'agg',
      'bucket',
      'from',
      'id',
      'limit',
      'metric',
      'to',
    ])
    t.ok(history.responses['400'], 'errors are described')
  })
})
