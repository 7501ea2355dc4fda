import type { Logger } from '../common/logger.js'
import type { BrokerPersistence, StoredPacket } from './persistence.js'

const MAX_ID = 65_535
const GONE = 'connection closed while waiting for a free packet id'

/** The fields of an Aedes client this guard reads and steers. */
interface Client {
  id: string
  /** Aedes' next packet id for this connection (lib/qos-packet.js). */
  _nextId?: number
  /** Set by Aedes once the connection is closed. */
  closed?: boolean
}

/** One persistent client's in-flight messages: packet id <-> stored message. */
interface InFlight {
  byId: Map<number, string>
  byKey: Map<string, number>
  /** Deliveries waiting for a PUBACK to free an id, oldest first. */
  waiting: Waiter[]
  /** Whether the wait has been logged since ids last ran out. */
  warned: boolean
}

interface Waiter {
  client: Client
  wake(): void
  cancel(err: Error): void
}

export interface PacketIds {
  /** A clean session starts with nothing in flight. */
  forget(id: string): void
  /** A connection closed: what waited to be sent on it stays queued instead. */
  disconnected(client: object): void
}

const keyOf = (p: StoredPacket) => `${p.brokerId}:${p.brokerCounter}`

/**
 * Keeps packet ids unique among a persistent client's unacknowledged messages.
 *
 * Aedes starts every connection at a random packet id, but a resumed session
 * re-sends its unacknowledged messages under their old ids [MQTT-4.4.0-1].
 * A message queued while the client was away can then be sent under the id of
 * one still in flight, and the store clears the first message holding an id
 * when a PUBACK arrives: the acknowledgement of the new message deletes the
 * old one, which is never sent again. (Seen as a rare loss when the bridge
 * paused and resumed many times.)
 *
 * Aedes stores a message's packet id through outgoingUpdate before it writes
 * the PUBLISH, so this wraps that call: a new message whose id is held by
 * another in-flight message of the same client gets the next free id, and
 * Aedes' counter moves past it. Re-sent messages keep theirs. What a store
 * already held when this process started (Redis) is read once per client.
 *
 * When every id is in flight (65,535 unacknowledged messages, a backlog the
 * bridge is working through), a new message waits for a PUBACK to free one.
 * It used to fail instead, and Aedes closed the connection for it: with a
 * backlog over 65,535 the bridge reconnected, got the same 65,535 again, and
 * was closed before its PUBACKs arrived, for ever. A wait on a connection
 * that closes is cancelled; the message stays queued for the next one.
 */
export function uniquePacketIds(
  p: BrokerPersistence,
  log: Logger,
  maxInFlight = MAX_ID,
): PacketIds {
  const update = p.outgoingUpdate.bind(p)
  const clear = p.outgoingClearMessageId.bind(p)
  const clients = new Map<string, InFlight>()
  const seeds = new Map<string, Promise<InFlight>>()

  const load = async (client: Client): Promise<InFlight> => {
    const known = clients.get(client.id)
    if (known) return known

    let pending = seeds.get(client.id)
    if (!pending) {
      pending = (async () => {
        const held: InFlight = { byId: new Map(), byKey: new Map(), waiting: [], warned: false }
        for await (const stored of p.outgoingStream(client)) {
          if (stored.messageId) hold(held, stored.messageId, keyOf(stored))
        }
        clients.set(client.id, held)
        return held
      })().finally(() => seeds.delete(client.id))
      seeds.set(client.id, pending)
    }
    return pending
  }

  p.outgoingUpdate = async (client: Client, packet: StoredPacket) => {
    // PUBREL (QoS 2) keeps the id of the PUBLISH it follows.
    if (packet.cmd !== 'publish' || !packet.messageId) return update(client, packet)

    const held = await load(client)
    const key = keyOf(packet)
    const holder = held.byId.get(packet.messageId)
    const resent = holder === key
    // A message already in flight under another id takes no new slot. The
    // others wait, in arrival order, while the window is full or others wait.
    if (!resent && !held.byKey.has(key) && (!room(held) || held.waiting.length > 0)) {
      if (!held.warned) {
        held.warned = true
        log.warn(
          { clientId: client.id, inFlight: held.byId.size },
          'every packet id is in flight: new messages wait for PUBACKs',
        )
      }
      await freed(held, client, 'last')
      while (!room(held)) await freed(held, client, 'first')
    }
    if (!resent && held.byId.has(packet.messageId)) {
      // Another message holds this id. There is room, so some id is free.
      const free = nextFree(held, client._nextId ?? packet.messageId) as number
      packet.messageId = free
      client._nextId = free === MAX_ID ? 1 : free + 1
    }
    hold(held, packet.messageId, key)
    return update(client, packet)
  }

  const room = (held: InFlight) => held.byId.size < maxInFlight

  const freed = (held: InFlight, client: Client, place: 'first' | 'last') =>
    new Promise<void>((wake, cancel) => {
      // Closed before it could wait: no clientDisconnect will come for it.
      if (client.closed) return cancel(new Error(GONE))
      const w = { client, wake, cancel }
      if (place === 'first') held.waiting.unshift(w)
      else held.waiting.push(w)
    })

  p.outgoingClearMessageId = async (client: Client, packet: StoredPacket) => {
    const found = await clear(client, packet)
    const held = clients.get(client.id)
    if (held && packet.messageId && release(held, packet.messageId) && room(held)) {
      held.warned = false
      held.waiting.shift()?.wake()
    }
    return found
  }

  const cancel = (held: InFlight, which: (w: Waiter) => boolean) => {
    const gone = new Error(GONE)
    const keep: Waiter[] = []
    for (const w of held.waiting) {
      if (which(w)) w.cancel(gone)
      else keep.push(w)
    }
    held.waiting = keep
  }

  return {
    forget(id) {
      const held = clients.get(id)
      if (held) cancel(held, () => true)
      clients.delete(id)
    },
    disconnected(client) {
      const id = (client as Client).id
      const held = id === undefined ? undefined : clients.get(id)
      if (held) cancel(held, (w) => w.client === client)
    },
  }
}

function hold(held: InFlight, id: number, key: string): void {
  const previous = held.byKey.get(key)
  if (previous !== undefined && previous !== id) held.byId.delete(previous)
  held.byId.set(id, key)
  held.byKey.set(key, id)
}

function release(held: InFlight, id: number): boolean {
  const key = held.byId.get(id)
  if (key === undefined) return false
  held.byId.delete(id)
  held.byKey.delete(key)
  return true
}

function nextFree(held: InFlight, from: number): number | undefined {
  let id = from >= 1 && from <= MAX_ID ? from : 1
  for (let tries = 0; tries < MAX_ID; tries++) {
    if (!held.byId.has(id)) return id
    id = id === MAX_ID ? 1 : id + 1
  }
  return undefined
}
