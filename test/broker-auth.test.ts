import { Writable } from 'node:stream'
import mqtt from 'mqtt'
import type { IConnackPacket } from 'mqtt-packet'
import t from 'tap'
import { createLogger } from '../common/logger.js'
import { connectFrame, counter, rawExchange, testBroker } from './helpers/broker.js'

const returnCode = (r: { packets: unknown[] }) =>
  (r.packets.find((p) => (p as IConnackPacket).cmd === 'connack') as IConnackPacket | undefined)
    ?.returnCode

const login = (url: string, id: string, password: string | Buffer, clientId = id) =>
  mqtt.connectAsync(url, {
    clientId,
    username: id,
    password: password as string,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  })

/** Log lines written to a sink instead of stderr. */
function capturedLog() {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  return { lines, sink }
}

t.test('a registered device gets in with its secret; every bad CONNECT is refused', async (t) => {
  const b = await testBroker(t, { BROKER_AUTH_FAILS_PER_MIN: '0' })
  const secret = (await b.registry.add('dev-1', 'device')) as string
  const port = b.broker.port

  const ok = await login(b.url, 'dev-1', secret)
  t.ok(ok.connected, 'right id and secret: connected')
  await ok.endAsync()

  const refusals: [string, Buffer, number][] = [
    ['anonymous', connectFrame({ clientId: 'dev-1' }), 5],
    ['username without password', connectFrame({ clientId: 'dev-1', username: 'dev-1' }), 4],
    [
      'empty password',
      connectFrame({ clientId: 'dev-1', username: 'dev-1', password: Buffer.alloc(0) }),
      4,
    ],
    [
      'wrong secret',
      connectFrame({ clientId: 'dev-1', username: 'dev-1', password: Buffer.from(`${secret}x`) }),
      4,
    ],
    [
      'binary (not UTF-8) password',
      connectFrame({ clientId: 'dev-1', username: 'dev-1', password: Buffer.from([0xff, 0xfe]) }),
      4,
    ],
    [
      'oversized password',
      connectFrame({ clientId: 'dev-1', username: 'dev-1', password: Buffer.alloc(5000, 97) }),
      4,
    ],
    [
      'unknown device',
      connectFrame({ clientId: 'nobody', username: 'nobody', password: Buffer.from(secret) }),
      4,
    ],
    [
      'username with forbidden characters',
      connectFrame({ clientId: 'a/#', username: 'a/#', password: Buffer.from(secret) }),
      4,
    ],
    [
      'client id of another device',
      connectFrame({ clientId: 'dev-2', username: 'dev-1', password: Buffer.from(secret) }),
      2,
    ],
  ]

  for (const [what, bytes, code] of refusals) {
    const r = await rawExchange(port, [bytes])
    t.equal(returnCode(r), code, `${what}: CONNACK ${code}`)
    t.ok(r.closed, `${what}: connection closed`)
  }

  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'secret_wrong' }), 1)
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'credentials_missing' }), 2)
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'credentials_malformed' }), 3)

  const again = await login(b.url, 'dev-1', secret)
  t.ok(again.connected, 'the broker still serves the device after all that')
  await again.endAsync()
})

t.test('disable and rotate take effect at the next connect', async (t) => {
  const b = await testBroker(t)
  const old = (await b.registry.add('dev-r', 'device')) as string
  await (await login(b.url, 'dev-r', old)).endAsync()

  await b.registry.disable('dev-r')
  const disabled = await rawExchange(b.broker.port, [
    connectFrame({ clientId: 'dev-r', username: 'dev-r', password: Buffer.from(old) }),
  ])
  t.equal(returnCode(disabled), 5, 'disabled: not authorized, although the secret was cached')

  const fresh = (await b.registry.rotate('dev-r')) as string
  t.not(fresh, old)
  const stale = await rawExchange(b.broker.port, [
    connectFrame({ clientId: 'dev-r', username: 'dev-r', password: Buffer.from(old) }),
  ])
  t.equal(returnCode(stale), 4, 'the old secret is refused after rotation')
  await (await login(b.url, 'dev-r', fresh)).endAsync()
  t.pass('the new secret gets in and rotation enabled the account again')

  const { rows } = await b.pool.query(
    "SELECT last_seen_at, secret_hash FROM device_credentials WHERE id = 'dev-r'",
  )
  t.ok(rows[0].last_seen_at instanceof Date, 'last_seen_at is set on connect')
  t.match(rows[0].secret_hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/)
  t.notMatch(rows[0].secret_hash, fresh, 'only the hash is stored')
})

t.test('a reconnect with a known secret does not hash again', async (t) => {
  const b = await testBroker(t)
  const secret = (await b.registry.add('dev-c', 'device')) as string

  for (let i = 0; i < 5; i++) await (await login(b.url, 'dev-c', secret)).endAsync()

  t.equal(await counter(b.broker, 'broker_auth_total', { outcome: 'hashed' }), 1)
  t.equal(await counter(b.broker, 'broker_auth_total', { outcome: 'cached' }), 4)
  t.equal(
    await counter(b.broker, 'broker_refusals_total', { reason: 'connection_error' }),
    0,
    'a clean DISCONNECT is no connection error',
  )
})

t.test('a second login under a connected id takes the session over, counted by role', async (t) => {
  const { lines, sink } = capturedLog()
  const b = await testBroker(t, {}, createLogger('debug', sink as never))
  const service = (await b.registry.add('bridge-x', 'service')) as string
  const device = (await b.registry.add('dev-x', 'device')) as string

  for (const [id, secret] of [
    ['bridge-x', service],
    ['dev-x', device],
  ] as const) {
    const first = await login(b.url, id, secret)
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))
    const second = await login(b.url, id, secret)
    await closed
    t.ok(second.connected, `${id}: the new connection stays`)
    await second.endAsync()
    first.end(true)
  }

  t.equal(await counter(b.broker, 'broker_session_takeovers_total', { role: 'service' }), 1)
  t.equal(await counter(b.broker, 'broker_session_takeovers_total', { role: 'device' }), 1)
  const warned = lines.map((l) => JSON.parse(l)).filter((e) => e.level === 40)
  t.match(warned, [{ clientId: 'bridge-x', msg: /is this client id shared/ }])
  t.equal(warned.length, 1, 'a device reconnecting is not a warning')
})

t.test('anonymous access, when on, is a device named by its client id', async (t) => {
  const b = await testBroker(t, { BROKER_ALLOW_ANONYMOUS: 'true' })
  const c = await mqtt.connectAsync(b.url, { clientId: 'anon-1', reconnectPeriod: 0 })
  t.ok(c.connected)
  await c.endAsync()

  const bad = await rawExchange(b.broker.port, [connectFrame({ clientId: 'x/+' })])
  t.equal(returnCode(bad), 2, 'a client id that cannot be a device id: identifier rejected')

  await b.registry.add('dev-owned', 'device')
  const squatter = await rawExchange(b.broker.port, [connectFrame({ clientId: 'dev-owned' })])
  t.equal(returnCode(squatter), 5, 'the id of a registered device needs its secret')
})

t.test('secrets never reach the log', async (t) => {
  const { lines, sink } = capturedLog()
  const b = await testBroker(t, {}, createLogger('trace', sink as never))
  const secret = (await b.registry.add('dev-l', 'device')) as string

  await (await login(b.url, 'dev-l', secret)).endAsync()
  await rawExchange(b.broker.port, [
    connectFrame({ clientId: 'dev-l', username: 'dev-l', password: Buffer.from(`${secret}!`) }),
  ])

  const log = lines.join('')
  t.match(log, /"reason":"secret_wrong"/, 'the refusal is logged with its reason')
  t.notOk(log.includes(secret), 'the secret is not in any log line')

  lines.length = 0
  createLogger('info', sink as never).info({ password: secret, opts: { password: secret } }, 'x')
  await new Promise((r) => setImmediate(r))
  t.notOk(lines.join('').includes(secret), 'password fields are redacted by configuration')
})
