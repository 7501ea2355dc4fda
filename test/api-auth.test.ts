import t from 'tap'
import { startStack } from '../cli/stack.js'
import { loadConfig } from '../common/config.js'
import type { TelemetryError } from '../common/errors.js'
import { createLogger } from '../common/logger.js'
import { isolatedConfig } from './helpers/env.js'
import { get } from './helpers/http.js'

const GRAFANA = 'grafana-0123456789abcdef'
const OPS = 'ops-token-fedcba9876543210'
const TOKENS = `grafana:${GRAFANA},ops:${OPS}`

t.test('bearer tokens guard /v1; health stays open; metrics as configured', async (t) => {
  const config = isolatedConfig(t, { API_AUTH: 'bearer', API_TOKENS: TOKENS })
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())
  const api = `http://127.0.0.1:${stack.apiPort}`

  const missing = await get(`${api}/v1/devices/x/latest`)
  t.equal(missing.status, 401)
  t.same(missing.json, { error: 'unauthorized', message: 'missing bearer token' })
  t.match(missing.headers.get('www-authenticate'), /^Bearer realm="telemetry"/)

  const wrong = await get(`${api}/v1/devices/x/latest`, `${GRAFANA}x`)
  t.equal(wrong.status, 401)
  t.equal(wrong.json.message, 'invalid token')
  t.match(wrong.headers.get('www-authenticate'), /error="invalid_token"/)

  const basic = await fetch(`${api}/v1/devices`, { headers: { authorization: `Basic ${GRAFANA}` } })
  t.equal(basic.status, 401, 'another scheme is no bearer token')

  t.equal((await get(`${api}/v1/devices/x/latest`, GRAFANA)).status, 404, 'first token admitted')
  t.equal((await get(`${api}/v1/devices`, OPS)).status, 200, 'second token admitted')

  t.equal((await get(`${api}/healthz`)).status, 200)
  t.equal((await get(`${api}/readyz`)).status, 200)
  t.equal((await get(`${api}/openapi.json`)).status, 200)

  const metrics = await get(`${api}/metrics`)
  t.equal(metrics.status, 200, 'metrics are open by default')
  t.match(metrics.text, 'telemetry_http_auth_refusals_total{reason="missing"} 2')
  t.match(metrics.text, 'telemetry_http_auth_refusals_total{reason="invalid"} 1')

  const doc = (await get(`${api}/openapi.json`)).json
  t.same(doc.paths['/v1/devices'].get.security, [{ bearerAuth: [] }])
  t.notOk(doc.paths['/healthz'].get.security, 'health needs no token')
})

t.test('METRICS_AUTH=bearer puts /metrics behind the tokens too', async (t) => {
  const config = isolatedConfig(t, {
    API_AUTH: 'bearer',
    API_TOKENS: TOKENS,
    METRICS_AUTH: 'bearer',
  })
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())
  const api = `http://127.0.0.1:${stack.apiPort}`

  t.equal((await get(`${api}/metrics`)).status, 401)
  t.equal((await get(`${api}/metrics`, OPS)).status, 200)
  t.equal((await get(`${api}/healthz`)).status, 200)
})

t.test(
  'a bearer API without tokens does not start; a bad token list is refused unechoed',
  async (t) => {
    const config = isolatedConfig(t, { API_AUTH: 'bearer' })
    const err = await t.rejects(startStack(config, createLogger('silent'), ['broker', 'bridge']))
    t.equal((err as unknown as TelemetryError).code, 'CONFIG_INVALID')

    const secret = 'short-secret'
    const bad = t.throws(() => loadConfig({ API_TOKENS: `a:${secret}` })) as Error
    t.match(bad.message, /API_TOKENS must be comma-separated name:token pairs/)
    t.notMatch(bad.message, secret, 'the token is not echoed')
    t.throws(() => loadConfig({ API_TOKENS: `a:${GRAFANA},a:${OPS}` }), 'names are unique')
    t.same(loadConfig({ API_TOKENS: TOKENS }).API_TOKENS, [
      { name: 'grafana', token: GRAFANA },
      { name: 'ops', token: OPS },
    ])
  },
)
