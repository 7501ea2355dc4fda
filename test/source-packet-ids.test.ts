import { createServer, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import mqttPacket from 'mqtt-packet'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import type { Ack } from '../bridge/batcher.js'
import { openSource } from '../bridge/source.js'
import { eventually } from './helpers/env.js'

// A broker that sends what the test tells it, under packet ids the test
// picks. No real broker can be made to reuse an id on demand, which is why
// this one is a few lines of mqtt-packet.
async function scriptedBroker(t: Test) {
  const received: mqttPacket.Packet[] = []
  let socket: Socket | undefined
  const server = createServer((s) => {
    socket = s
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p) => {
      received.push(p)
      if (p.cmd === 'connect') send({ cmd: 'connack', returnCode: 0, sessionPresent: false })
      if (p.cmd === 'subscribe') send({ cmd: 'suback', messageId: p.messageId, granted: [1] })
    })
    s.on('data', (d) => parser.parse(d))
    s.on('error', () => undefined)
  })
  const send = (p: object) => socket?.write(mqttPacket.generate(p as mqttPacket.Packet))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    socket?.destroy()
    return new Promise((r) => server.close(r))
  })

  return {
    port: (server.address() as { port: number }).port,
    publish: (messageId: number, payload: string) =>
      send({ cmd: 'publish', topic: 'devices/d/telemetry', qos: 1, messageId, payload }),
    pubacks: () => received.filter((p) => p.cmd === 'puback').map((p) => p.messageId),
    /** Resolves once the broker has read everything the bridge wrote before now. */
    async sync(source: { client: { publish(topic: string, msg: string): void } }) {
      const marker = `sync-${received.length}-${Math.random()}`
      source.client.publish('sync', marker)
      await eventually(async () =>
        received.some((p) => p.cmd === 'publish' && String(p.payload) === marker),
      )
    },
  }
}

async function bridgeOf(t: Test, port: number) {
  const lines: { level: number; msg: string; messageId?: number }[] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  const got: { payload: string; ack: Ack | undefined }[] = []
  const source = await openSource(
    { url: `mqtt://127.0.0.1:${port}`, clientId: 'b', filters: ['devices/+/telemetry'] },
    (_topic, payload, _us, ack) => got.push({ payload: payload.toString(), ack }),
    pino({ level: 'info' }, sink),
  )
  t.teardown(() => source.close())
  const reuse = () => lines.filter((l) => l.msg.startsWith('broker reused a packet id'))
  return { source, got, reuse }
}

t.test('one message sent twice under its id: one PUBACK, after both copies', async (t) => {
  const broker = await scriptedBroker(t)
  const { source, got, reuse } = await bridgeOf(t, broker.port)
  // Aedes does this when a publish races a session's resumption.
  broker.publish(7, 'first')
  broker.publish(7, 'first')
  await eventually(async () => got.length === 2)
  t.same(
    got.map((g) => g.payload),
    ['first', 'first'],
    'both copies handed on',
  )

  got[0]?.ack?.()
  await broker.sync(source)
  t.same(broker.pubacks(), [], 'no PUBACK while a copy is not durable')

  got[1]?.ack?.()
  got[1]?.ack?.()
  await broker.sync(source)
  t.same(broker.pubacks(), [7], 'one PUBACK once both are, however often acked')
  t.same(reuse(), [], 'no error line')
})

t.test('an id the broker reuses after its PUBACK gets a PUBACK of its own', async (t) => {
  const broker = await scriptedBroker(t)
  const { source, got, reuse } = await bridgeOf(t, broker.port)
  broker.publish(7, 'first')
  await eventually(async () => got.length === 1)
  got[0]?.ack?.()
  await broker.sync(source)

  broker.publish(7, 'second')
  await eventually(async () => got.length === 2)
  await broker.sync(source)
  t.same(broker.pubacks(), [7], 'the new message is not acknowledged by the old PUBACK')
  got[1]?.ack?.()
  await broker.sync(source)
  t.same(broker.pubacks(), [7, 7], 'its own PUBACK once it is durable')
  t.same(reuse(), [], 'a reuse after the PUBACK is no error')
})

t.test('another message under an id still in flight is reported', async (t) => {
  const broker = await scriptedBroker(t)
  const { source, got, reuse } = await bridgeOf(t, broker.port)
  broker.publish(7, 'first')
  broker.publish(7, 'second')
  await eventually(async () => got.length === 2)

  // Both are handed on: the bridge cannot tell which one the broker will
  // clear, and dropping one would lose it.
  t.same(
    got.map((g) => g.payload),
    ['first', 'second'],
    'every message handed on',
  )
  got[1]?.ack?.()
  await broker.sync(source)
  t.same(broker.pubacks(), [], 'no PUBACK while the other is not durable')
  got[0]?.ack?.()
  await broker.sync(source)
  t.same(broker.pubacks(), [7], 'one PUBACK once both are')

  const lines = reuse()
  t.equal(lines.length, 1, 'one error line')
  t.equal(lines[0]?.messageId, 7, 'naming the id')
  t.equal(lines[0]?.level, 50, 'at level error')
})
