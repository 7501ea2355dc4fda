import { createServer, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import mqttPacket from 'mqtt-packet'
import { pino } from 'pino'
import t from 'tap'
import type { Ack } from '../bridge/batcher.js'
import { openSource } from '../bridge/source.js'
import { eventually } from './helpers/env.js'

// A broker that breaks MQTT on purpose: it sends a second message under a
// packet id it has not had a PUBACK for. No real broker can be made to do
// that on demand, which is why this one is a few lines of mqtt-packet.
function misbehavingBroker(received: mqttPacket.Packet[]) {
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
        for (const payload of ['first', 'second'])
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

t.test('a broker reusing an unacknowledged packet id is reported', async (t) => {
  const received: mqttPacket.Packet[] = []
  const broker = misbehavingBroker(received)
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

  await eventually(async () => got.length === 2)
  const reuse = lines.filter((l) => l.msg.startsWith('broker reused a packet id'))
  t.equal(reuse.length, 1, 'one error line')
  t.equal(reuse[0]?.messageId, 7, 'naming the id')
  t.equal(reuse[0]?.level, 50, 'at level error')

  // Both are still handed on and acknowledged: the bridge cannot tell which
  // one the broker will clear, and dropping either would lose it for sure.
  t.same(
    got.map((g) => g.payload),
    ['first', 'second'],
    'both messages handed on',
  )
  for (const g of got) g.ack?.()
  await eventually(async () => received.filter((p) => p.cmd === 'puback').length === 2)
  t.pass('both PUBACKs written')
})
