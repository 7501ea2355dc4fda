import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../common/config.js'
import { ERROR_CODES, TelemetryError } from '../common/errors.js'
import { VARIABLES } from '../common/variables.js'

t.test('defaults load and the result is frozen', async (t) => {
  const c = loadConfig({})
  t.equal(c.MQTT_PORT, 1883)
  t.equal(c.BROKER_ALLOW_ANONYMOUS, false, 'anonymous access is off unless asked for')
  t.same(c.TOPIC_PATTERNS, ['devices/{device}/telemetry', 'devices/{device}/telemetry/{metric}'])
  t.ok(Object.isFrozen(c))
})

t.test('bad values are all reported, each naming its variable and value', async (t) => {
  const err = t.throws(() =>
    loadConfig({ MQTT_PORT: 'abc', BATCH_MAX_ROWS: '-5', DATABASE_URL: 'mysql://x' }),
  )
  t.ok(err instanceof TelemetryError)
  t.equal((err as TelemetryError).code, 'CONFIG_INVALID')
  t.match((err as Error).message, /MQTT_PORT must be an integer from 0 to 65535, got "abc"/)
  t.match((err as Error).message, /BATCH_MAX_ROWS must be .*got "-5"/)
  t.match((err as Error).message, /DATABASE_URL must be a postgres:\/\/ URL, got "mysql:\/\/x"/)
})

t.test('the README documents every variable with its default', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const rows = new Map(
    [...readme.matchAll(/^\| `([A-Z0-9_]+)`\s*\|\s*([^|]+?)\s*\|/gm)].map((m) => [
      m[1],
      (m[2] ?? '').trim(),
    ]),
  )

  for (const [name, spec] of Object.entries(VARIABLES)) {
    const want = spec.default === undefined ? '(unset)' : `\`${spec.default}\``
    t.equal(rows.get(name), want, `${name} is in the README table with its default`)
  }

  t.same(
    [...rows.keys()].filter((k) => k !== undefined && !(k in VARIABLES)),
    [],
    'no README row without a variable',
  )
})

t.test('docs/errors.md lists exactly the error codes', async (t) => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
  const listed = [...doc.matchAll(/^\| `([A-Z_]+)`\s*\|/gm)].map((m) => m[1])
  t.same(listed.sort(), Object.keys(ERROR_CODES).sort())
})

t.test('docs/data-contract.md lists exactly the reject reasons', async (t) => {
  const { REJECT_REASONS } = await import('../bridge/decode/reasons.js')
  const doc = readFileSync(new URL('../docs/data-contract.md', import.meta.url), 'utf8')
  const listed = [...doc.matchAll(/^\| `([a-z_][a-z_0-9]*)`\s*\|\s*[^|\s]/gm)].map((m) => m[1])
  t.same(listed.sort(), Object.keys(REJECT_REASONS).sort())
})
