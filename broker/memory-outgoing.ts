import { Readable } from 'node:stream'
import memoryPersistence from 'aedes-persistence'
import type { QueueDepths } from './offline-cap.js'
import type { BrokerPersistence, StoredPacket } from './persistence.js'

type Packet = StoredPacket & Record<string, unknown>

/** aedes-packet: the copy Aedes' stores keep of a message for one client. */
const PacketCopy = (memoryPersistence as unknown as { Packet: new (p: object) => Packet }).Packet

/** One client's messages in arrival order, and which packet id each one was sent under. */
interface Queue {
  byKey: Map<string, Packet>
  byId: Map<number, string>
}

const keyOf = (p: StoredPacket) => `${p.brokerId}:${p.brokerCounter}`

/**
 * The queue of messages the memory persistence keeps for each persistent
 * client, with every operation in constant time.
 *
 * aedes-persistence keeps that queue as an array and finds a message by
 * scanning it: every PUBACK costs a scan and a splice of everything the
 * client has not acknowledged yet. The bridge acknowledges only after the
 * commit, so it has thousands in flight, and those scans took a fifth of
 * the broker's CPU under load. Here a queue is an insertion-ordered Map by
 * message, indexed by packet id. It keeps aedes-persistence's behaviour:
 * update and clear match the same message, the stream is a snapshot, a
 * PUBREL takes the place of its PUBLISH. One difference: a message queued
 * twice for one client (overlapping subscriptions) is kept once.
 */
export class MemoryOutgoing implements QueueDepths {
  readonly #queues = new Map<string, Queue>()

  /** Replaces the persistence's outgoing calls with this store's. */
  install(p: BrokerPersistence): void {
    const destroy = p.destroy.bind(p)
    p.outgoingEnqueue = async (sub, packet) => this.enqueue(sub.clientId, packet as Packet)
    p.outgoingEnqueueCombi = async (subs, packet) => {
      for (const sub of subs ?? []) this.enqueue(sub.clientId, packet as Packet)
    }
    p.outgoingUpdate = async (client, packet) => this.update(client.id, packet as Packet)
    p.outgoingClearMessageId = async (client, packet) => this.clear(client.id, packet as Packet)
    p.outgoingStream = (client) => this.stream(client.id)
    p.destroy = async () => {
      this.#queues.clear()
      await destroy()
    }
  }

  enqueue(clientId: string, packet: Packet): void {
    let q = this.#queues.get(clientId)
    if (!q) {
      q = { byKey: new Map(), byId: new Map() }
      this.#queues.set(clientId, q)
    }
    const key = keyOf(packet)
    if (!q.byKey.has(key)) q.byKey.set(key, new PacketCopy(packet))
  }

  update(clientId: string, packet: Packet): void {
    const q = this.#queues.get(clientId)
    const id = packet.messageId

    // A PUBREL (QoS 2) carries only the packet id of the PUBLISH it replaces.
    if (packet.cmd === 'pubrel') {
      const key = id === undefined ? undefined : q?.byId.get(id)
      if (!q || key === undefined) throw new Error('no such packet')
      q.byKey.set(key, packet)
      return
    }

    const key = keyOf(packet)
    const stored = q?.byKey.get(key)
    if (!q || !stored) throw new Error('no such packet')
    if (stored.messageId !== undefined && q.byId.get(stored.messageId) === key) {
      q.byId.delete(stored.messageId)
    }
    stored.messageId = id
    if (id !== undefined) q.byId.set(id, key)
  }

  /** A snapshot of the client's queue, in arrival order. */
  stream(clientId: string): Readable {
    return Readable.from([...(this.#queues.get(clientId)?.byKey.values() ?? [])])
  }

  /** Removes the message sent under the packet's id (or, unsent, the message itself). */
  clear(clientId: string, packet: Packet): Packet | undefined {
    const q = this.#queues.get(clientId)
    if (!q) return undefined

    const id = packet.messageId
    const key = id === undefined ? keyOf(packet) : q.byId.get(id)
    if (key === undefined) return undefined
    const stored = q.byKey.get(key)
    if (!stored) return undefined

    q.byKey.delete(key)
    if (stored.messageId !== undefined) q.byId.delete(stored.messageId)
    if (q.byKey.size === 0) this.#queues.delete(clientId)
    return stored
  }

  async depth(clientId: string): Promise<number> {
    return this.#queues.get(clientId)?.byKey.size ?? 0
  }

  async all(): Promise<number[]> {
    return [...this.#queues.values()].map((q) => q.byKey.size)
  }
}
