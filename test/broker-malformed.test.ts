import mqtt from 'mqtt'
import type { IConnackPacket } from 'mqtt-packet'
import t from 'tap'
import { startStack } from '../cli/stack.js'
import { createLogger } from '../common/logger.js'
import { connectFrame, counter, frame, rawExchange } from './helpers/broker.js'
import { eventually, isolatedConfig } from './helpers/env.js'

const publishFrame = (topic: string, payload: string | Buffer, qos: 0 | 1 = 0) =>
  frame({
    cmd: 'publish',
    topic,
    payload,
    qos,
    dup: false,
    retain: false,
    ...(qos ? { messageId: 1 } : {}),
  })

/** A CONNECT whose client id bytes are replaced after encoding. */
function connectWithIdBytes(id: Buffer): Buffer {
  const placeholder = 'Z'.repeat(id.length)
  const bytes = connectFrame({ clientId: placeholder })
  const at = bytes.indexOf(placeholder)
  id.copy(bytes, at)
  return bytes
}

const connack = (r: { packets: unknown[] }) =>
  (r.packets.find((p) => (p as IConnackPacket).cmd === 'connack') as IConnackPacket | undefined)
    ?.returnCode

t.test('malformed frames close only their own socket; nothing of them is stored', async (t) => {
  const config = isolatedConfig(t, {
    BROKER_ALLOW_ANONYMOUS: 'true',
    BROKER_CONNECT_TIMEOUT_MS: '300',
    BROKER_MAX_PACKET_BYTES: '4096',
    BROKER_AUTH_FAILS_PER_MIN: '0',
  })
  const stack = await startStack(config, createLogger('silent'), ['broker', 'bridge'])
  t.teardown(() => stack.close())

  const broker = stack.broker!
  const port = broker.port
  const url = `mqtt://127.0.0.1:${port}`
  const good = await mqtt.connectAsync(url, { clientId: 'ok-1', reconnectPeriod: 0 })
  t.teardown(() => good.endAsync(true))

  const hello = connectFrame({ clientId: 'bad-m' })
  const cases: [string, Buffer[]][] = [
    ['truncated remaining length', [Buffer.from([0x10, 0xff, 0xff])]],
    ['remaining length of five bytes', [Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])]],
    [
      'string length beyond the packet',
      [Buffer.from([0x10, 0x06, 0x00, 0xff, 0x4d, 0x51, 0x54, 0x54])],
    ],
    ['PUBLISH before CONNECT', [publishFrame('devices/bad-m/telemetry', '{"a":1}')]],
    [
      'SUBSCRIBE before CONNECT',
      [frame({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] })],
    ],
    ['unknown protocol level', [Buffer.from(hello).fill(9, 8, 9)]],
    ['SUBSCRIBE with no filters', [hello, Buffer.from([0x82, 0x02, 0x00, 0x01])]],
    ['CONNECT declaring 256 MB, then silence', [Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f, 0x00])]],
    [
      'PUBLISH declaring 256 MB, then silence',
      [hello, Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00])],
    ],
    ['U+0000 in a topic', [hello, publishFrame('devices/bad-m/telemetry/a\u0000b', '1')]],
    [
      'invalid UTF-8 in a topic',
      [
        hello,
        Buffer.concat([
          Buffer.from([0x30, 0x1b, 0x00, 0x18]),
          Buffer.from('devices/bad-m/telemetry'),
          Buffer.from([0xff]),
          Buffer.from('1'),
        ]),
      ],
    ],
    ['a second CONNECT', [hello, hello]],
    ['an unknown packet type', [hello, Buffer.from([0xf0, 0x00])]],
  ]

  for (const [what, chunks] of cases) {
    const r = await rawExchange(port, chunks, 3_000)
    t.ok(r.closed, `${what}: socket closed`)
  }

  for (const [what, id] of [
    ['invalid UTF-8 in the client id', Buffer.from([0x61, 0xff, 0xfe])],
    ['U+0000 in the client id', Buffer.from('a\u0000b')],
  ] as const) {
    const r = await rawExchange(port, [connectWithIdBytes(id)])
    t.equal(connack(r), 2, `${what}: identifier rejected`)
    t.ok(r.closed, `${what}: socket closed`)
  }

  t.ok(good.connected, 'a normal client stayed connected through all of it')
  await good.publishAsync('devices/ok-1/telemetry', '{"ts":1767225600000,"v":1}', { qos: 1 })

  const pool = stack.bridge!.pool
  await eventually(async () => (await pool.query('SELECT 1 FROM telemetry')).rowCount === 1)
  await stack.bridge!.pipeline.flush()
  const { rows } = await pool.query('SELECT device_id FROM telemetry')
  t.same(rows, [{ device_id: 'ok-1' }], 'only the normal client reading is stored')
  const letters = await pool.query('SELECT count(*)::int AS n FROM dead_letters')
  t.equal(letters.rows[0].n, 0, 'nothing of the malformed input reached the bridge')

  const reason = (r: string) => counter(broker, 'broker_refusals_total', { reason: r })
  t.equal(await reason('packet_too_large'), 2, 'both 256 MB headers are counted')
  t.equal(await reason('first_packet_not_connect'), 2)
  t.equal(await reason('malformed_packet'), 1)
  t.equal(await reason('topic_invalid'), 2)
  // String length beyond the packet, protocol level, no filters, second CONNECT, type 15.
  t.ok((await reason('connection_error')) >= 5, 'parser errors are counted too')
})
