import memoryPersistence from 'aedes-persistence'
import t from 'tap'
import { MemoryOutgoing } from '../broker/memory-outgoing.js'
import { uniquePacketIds } from '../broker/packet-ids.js'
import type { BrokerPersistence, StoredPacket } from '../broker/persistence.js'
import { createLogger } from '../common/logger.js'

// When every packet id of a client is in flight, a new message waits for a
// PUBACK instead of failing: failing closed the connection, and a bridge
// with a backlog over 65,535 was closed on every reconnect before its
// PUBACKs arrived. The window is 3 here instead of 65,535.

const log = createLogger('silent')
const create = memoryPersistence as unknown as () => BrokerPersistence

function setup() {
  const p = create()
  new MemoryOutgoing().install(p)
  const ids = uniquePacketIds(p, log, 3)
  const client = { id: 'bridge', _nextId: 1 }
  let counter = 0
  const message = async (): Promise<StoredPacket> => {
    const packet = {
      cmd: 'publish',
      brokerId: 'b',
      brokerCounter: ++counter,
      topic: 'devices/d/telemetry',
      payload: Buffer.from(String(counter)),
      qos: 1,
    } as unknown as StoredPacket
    await p.outgoingEnqueueCombi([{ clientId: client.id }], packet)
    return packet
  }
  // As Aedes does: the next id, then the store is told before the write.
  const send = async (packet: StoredPacket) => {
    const copy = { ...packet, messageId: client._nextId++ } as StoredPacket
    await p.outgoingUpdate(client, copy)
    return copy
  }
  const settled = (x: Promise<unknown>) =>
    Promise.race([x.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))])
  return { p, ids, client, message, send, settled }
}

t.test('a full window holds the next message until a PUBACK frees an id', async (t) => {
  const { p, client, message, send, settled } = setup()
  const sent = [
    await send(await message()),
    await send(await message()),
    await send(await message()),
  ]
  t.same(
    sent.map((s) => s.messageId),
    [1, 2, 3],
  )

  const fourth = send(await message())
  t.equal(await settled(fourth), false, 'the fourth waits')

  // A message sent again under its own id (a resumed session) never waits.
  t.equal(await settled(p.outgoingUpdate(client, sent[0] as StoredPacket)), true)

  await p.outgoingClearMessageId(client, { messageId: 2 } as StoredPacket)
  const got = await fourth
  t.notOk([1, 3].includes(got.messageId as number), 'under an id no message in flight holds')
})

t.test('a wait on a connection that closes is cancelled; the message stays queued', async (t) => {
  const { p, ids, client, message, send, settled } = setup()
  for (let i = 0; i < 3; i++) await send(await message())
  const waiting = send(await message())
  t.equal(await settled(waiting), false)

  ids.disconnected({ id: 'bridge' })
  t.equal(await settled(waiting), false, 'another connection object is not this one')
  ids.disconnected(client)
  await t.rejects(waiting, /connection closed/)

  const queued: StoredPacket[] = []
  for await (const s of p.outgoingStream(client)) queued.push(s)
  t.equal(queued.length, 4, 'all four are still queued for the next connection')
})

t.test(
  'waiting messages go out in the order they came; a closed connection does not wait',
  async (t) => {
    const { p, client, message, send } = setup()
    for (let i = 0; i < 3; i++) await send(await message())
    const order: number[] = []
    const a = send(await message()).then((s) => order.push(s.brokerCounter))
    const b = send(await message()).then((s) => order.push(s.brokerCounter))

    await p.outgoingClearMessageId(client, { messageId: 1 } as StoredPacket)
    await p.outgoingClearMessageId(client, { messageId: 2 } as StoredPacket)
    await Promise.all([a, b])
    t.same(order, [4, 5])

    const closed = { ...client, closed: true }
    await t.rejects(p.outgoingUpdate(closed, { ...(await message()), messageId: 9 }), /closed/)
  },
)
