import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { generate } from 'selfsigned'
import t from 'tap'
import { connectFrame, counter, rawExchange, testBroker } from './helpers/broker.js'

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it. */
async function throwawayPki(dir: string) {
  const ca = await generate([{ name: 'commonName', value: 'telemetry test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  })
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  })
  const certFile = join(dir, 'server.crt')
  const keyFile = join(dir, 'server.key')
  writeFileSync(certFile, server.cert)
  writeFileSync(keyFile, server.private)
  return { ca: ca.cert, certFile, keyFile }
}

t.test('TLS and WebSocket listeners authenticate and limit like TCP', async (t) => {
  const pki = await throwawayPki(t.testdir())
  const b = await testBroker(t, {
    BROKER_LISTENERS: 'tls,ws',
    BROKER_TLS_PORT: '0',
    BROKER_WS_PORT: '0',
    BROKER_TLS_CERT_FILE: pki.certFile,
    BROKER_TLS_KEY_FILE: pki.keyFile,
    BROKER_MAX_PACKET_BYTES: '1024',
  })
  const { tls, ws, tcp } = b.broker.ports
  t.equal(tcp, undefined, 'tcp is off when not listed')
  t.ok(tls && ws, 'tls and ws are on')

  const secret = (await b.registry.add('dev-t', 'device')) as string
  const urls = {
    tls: `mqtts://127.0.0.1:${tls}`,
    ws: `ws://127.0.0.1:${ws}/mqtt`,
  }

  for (const [kind, url] of Object.entries(urls)) {
    const opts = { reconnectPeriod: 0, connectTimeout: 5_000, ca: pki.ca }
    const c = await mqtt.connectAsync(url, {
      ...opts,
      clientId: 'dev-t',
      username: 'dev-t',
      password: secret,
    })
    const granted = await c.subscribeAsync('devices/dev-t/commands/#', { qos: 1 })
    t.same(
      granted.map((g) => g.qos),
      [1],
      `${kind}: logged in and subscribed`,
    )
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
    c.publish('devices/dev-t/telemetry', Buffer.alloc(2000, 0x20), { qos: 1 })
    await closed
    c.end(true)
    t.pass(`${kind}: an oversized publish closes the connection`)

    const anon = mqtt.connect(url, { ...opts, clientId: 'dev-t' })
    const err = await new Promise<Error & { code?: number }>((resolve) =>
      anon.once('error', resolve),
    )
    anon.end(true)
    t.equal(err.code, 5, `${kind}: anonymous is refused with CONNACK 5`)
  }

  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'packet_too_large' }), 2)
  t.equal(await counter(b.broker, 'broker_refusals_total', { reason: 'anonymous' }), 2)
})

t.test('tls without a certificate is a configuration error', async (t) => {
  await t.rejects(testBroker(t, { BROKER_LISTENERS: 'tls' }), { code: 'CONFIG_INVALID' })
  await t.rejects(
    testBroker(t, {
      BROKER_LISTENERS: 'tls',
      BROKER_TLS_PORT: '0',
      BROKER_TLS_CERT_FILE: '/nonexistent/cert.pem',
      BROKER_TLS_KEY_FILE: '/nonexistent/key.pem',
    }),
    { code: 'CONFIG_INVALID' },
  )
})

t.test('a broker on its own serves its counters on BROKER_METRICS_PORT', async (t) => {
  const b = await testBroker(t, { BROKER_METRICS_PORT: '0' })
  await rawExchange(b.broker.port, [connectFrame({ clientId: 'm-1' })])

  const res = await fetch(`http://127.0.0.1:${b.broker.metricsPort}/metrics`)
  const text = await res.text()
  t.equal(res.status, 200)
  t.match(text, /^broker_refusals_total\{reason="anonymous"\} 1$/m)
  t.match(text, /^process_resident_memory_bytes /m, 'process metrics too')
  t.equal((await fetch(`http://127.0.0.1:${b.broker.metricsPort}/other`)).status, 404)
})
