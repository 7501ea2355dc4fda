import { createServer, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import mqttPacket from 'mqtt-packet'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import type { Ack } from '../bridge/batcher.js'
import { openSource } from '../bridge/source.js'
import { eventually } from './helpers/env.js'

// A broker that sends every payload under one packet id, with no PUBACK in
// between. No real broker can be made to do that on demand, which is why
// this one is a few lines of mqtt-packet.
function oneIdBroker(payloads: string[], received: mqttPacket.Packet[]) {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    const send = (p: object) => socket.write(mqttPacket.generate(p as mqttPacket.Packet))
    parser.on('packet', (p) => {
      received.push(p)
      if (p.cmd === 'connect') send({ cmd: 'connack', returnCode: 0, sessionPresent: false })
      if (p.cmd === 'subscribe') {
        send({ cmd: 'suback', messageId: p.messageId, granted: [1] })
        for (const payload of payloads)
          send({ cmd: 'publish', topic: 'devices/d/telemetry', qos: 1, messageId: 7, payload })
      }
    })
    socket.on('data', (d) => parser.parse(d))
    socket.on('error', () => undefined)
  })
  return {
    server,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((r) => server.close(r))
    },
  }
}

async function run(t: Test, payloads: string[]) {
  const received: mqttPacket.Packet[] = []
  const broker = oneIdBroker(payloads, received)
  await new Promise<void>((r) => broker.server.listen(0, '127.0.0.1', r))
  t.teardown(() => broker.close())
  const { port } = broker.server.address() as { port: number }

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
  await eventually(async () => got.length === payloads.length)

  // Every message is still handed on and acknowledged: the bridge cannot
  // tell which one the broker will clear, and dropping one would lose it.
  t.same(
    got.map((g) => g.payload),
    payloads,
    'every message handed on',
  )
  for (const g of got) g.ack?.()
  const pubacks = () => received.filter((p) => p.cmd === 'puback').length
  await eventually(async () => pubacks() === payloads.length)
  t.pass('every PUBACK written')
  return lines.filter((l) => l.msg.startsWith('broker reused a packet id'))
}

t.test('one message sent twice under its packet id is not an error', async (t) => {
  // Aedes does this when a publish races a session's resumption.
  t.same(await run(t, ['first', 'first']), [], 'no error line')
})

t.test('another message under a packet id still in flight is reported', async (t) => {
  const reuse = await run(t, ['first', 'second'])
  t.equal(reuse.length, 1, 'one error line')
  t.equal(reuse[0]?.messageId, 7, 'naming the id')
  t.equal(reuse[0]?.level, 50, 'at level error')
})
