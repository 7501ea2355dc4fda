import type { Socket } from 'node:net'
import type { MqttClient } from 'mqtt'
import mqtt from 'mqtt'
import { generate } from 'mqtt-packet'
import type { Logger } from '../common/logger.js'
import type { Ack } from './batcher.js'
import { receiveClock } from './clock.js'
import { backoffMs } from './retry.js'

export interface SourceOptions {
  url: string
  clientId: string
  username?: string | undefined
  password?: string | undefined
  filters: readonly string[]
}

/** `ack` sends the message's PUBACK; undefined for QoS 0. */
export type OnMessage = (
  topic: string,
  payload: Buffer,
  receivedUs: number,
  ack: Ack | undefined,
) => void

export interface Source {
  client: MqttClient
  /** Disconnects (the broker keeps the session, queues for it, and later sends again what was refused) until resume(). */
  pause(): void
  resume(): void
  /** Ends the connection after what was written to the socket, PUBACKs included, is sent. */
  close(): Promise<void>
}

const RECONNECT = { baseMs: 500, capMs: 30_000 }

// MQTT.js acknowledges a QoS 1 message as soon as its handler returns and
// handles one packet at a time, so it offers no way to acknowledge later
// without stalling the connection, keepalive included. Its customHandleAcks
// hook, answered with an error, sends no PUBACK and moves on to the next
// packet; the PUBACK is then written by us once the message is durable.
// One shared error: this runs per message.
const DEFERRED = Object.freeze(new Error('PUBACK deferred until the batch is durable'))

/**
 * The bridge's MQTT subscription: QoS 1, a persistent session under a stable
 * client id, so messages published while the bridge is away (or has paused)
 * wait for it. A message is acknowledged only when the pipeline says it is
 * durable; until then the broker holds it and sends it again after a
 * reconnect. Reconnects back off exponentially with jitter.
 */
export async function openSource(
  opts: SourceOptions,
  onMessage: OnMessage,
  log: Logger,
): Promise<Source> {
  const client = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    clean: false,
    protocolVersion: 4,
    username: opts.username,
    password: opts.password,
    reconnectPeriod: RECONNECT.baseMs,
    connectTimeout: 10_000,
    keepalive: 30,
  })
  let attempt = 0
  let paused = false
  let ending: Promise<void> = Promise.resolve()

  const now = receiveClock()
  const receive = (topic: string, payload: Buffer, ack: Ack | undefined) =>
    onMessage(topic, payload, now(), ack)

  // Packet ids the broker has in flight to us on this connection. MQTT
  // forbids reusing one for another message before its PUBACK: the
  // acknowledgement could then clear the wrong message from the session
  // (Aedes did, broker/packet-ids.ts). The same message sent twice under
  // its id is harmless, since writes are idempotent; Aedes does that when a
  // publish races a session's resumption.
  let inFlight: InFlight = new Map()
  let reuseLogged = false
  client.options.customHandleAcks = (topic, payload, packet, done) => {
    const id = packet.messageId
    const prior = id === undefined ? undefined : inFlight.get(id)
    if (prior && !prior.payload.equals(payload) && !reuseLogged) {
      reuseLogged = true
      log.error(
        { messageId: id, topic },
        'broker reused a packet id still in flight: messages of this session may be lost',
      )
    }
    receive(topic, payload, pubackLater(client, packet.messageId, payload, inFlight))
    done(DEFERRED)
  }
  client.on('message', (topic, payload, packet) => {
    if (packet.qos === 0) receive(topic, payload, undefined)
  })
  client.on('error', (err) => {
    if (err !== DEFERRED) log.warn({ err }, 'mqtt error')
  })
  client.on('offline', () => {
    if (!paused) log.warn('mqtt offline')
  })
  client.on('reconnect', () => {
    attempt++
    client.options.reconnectPeriod = backoffMs(attempt, RECONNECT)
  })

  client.on('connect', (connack) => {
    attempt = 0
    inFlight = new Map()
    reuseLogged = false
    log.info({ sessionPresent: connack.sessionPresent }, 'mqtt connected')
    // PUBACKs are small writes; Nagle would hold one back for the broker's
    // delayed ACK. A WebSocket stream has no such switch (its socket has it on).
    const socket = client.stream as Partial<Pick<Socket, 'setNoDelay'>>
    socket.setNoDelay?.(true)

    // A present session still holds our subscriptions; a lost one must be
    // rebuilt or nothing arrives.
    if (connack.sessionPresent) return
    subscribe(client, opts.filters, log)
  })

  // A daemon waits for its broker: errors until then are logged and retried.
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))

  return {
    client,
    pause() {
      if (paused) return
      paused = true
      log.warn(
        'intake paused and all held messages acknowledged: disconnecting until there is room',
      )
      ending = client.endAsync().catch((err) => log.warn({ err }, 'mqtt end failed'))
    },
    resume() {
      if (!paused) return
      paused = false
      log.info('room again: reconnecting')
      // end() takes a moment; a reconnect issued before it finished would be
      // lost and the bridge would stay away for good.
      void ending.then(() => {
        if (!paused) client.reconnect()
      })
    },
    close: () => client.endAsync(),
  }
}

/** Receipts under one packet id on one connection, not yet durable. */
type InFlight = Map<number, { payload: Buffer; pending: number }>

/**
 * The PUBACK of one message, bound to the connection it arrived on. After a
 * reconnect the broker sends unacknowledged messages again under the same
 * packet ids and may reuse ids afterwards, so an acknowledgement is never
 * carried over to a later connection.
 *
 * When one id arrived more than once, its PUBACK goes out once, after the
 * last receipt is durable. A PUBACK per receipt could reach the broker
 * after it had freed the id and given it to a new message, and acknowledge
 * that one before it was written.
 */
function pubackLater(
  client: MqttClient,
  id: number | undefined,
  payload: Buffer,
  inFlight: InFlight,
): Ack {
  const stream = client.stream
  if (id === undefined) return () => undefined

  const entry = inFlight.get(id)
  if (entry) {
    entry.pending++
    entry.payload = payload
  } else {
    inFlight.set(id, { payload, pending: 1 })
  }

  let acked = false
  return () => {
    if (acked || client.stream !== stream || !client.connected) return
    acked = true
    const held = inFlight.get(id)
    if (!held || --held.pending > 0) return
    inFlight.delete(id)
    writeInBurst(stream, generate({ cmd: 'puback', messageId: id }))
  }
}

const corked = new WeakSet<MqttClient['stream']>()

/**
 * A batch's PUBACKs are written in one loop: the socket is corked at the
 * first and uncorked on the next tick, so they leave in one system call
 * rather than one each.
 */
function writeInBurst(stream: MqttClient['stream'], bytes: Buffer): void {
  if (!corked.has(stream)) {
    corked.add(stream)
    stream.cork()
    process.nextTick(() => {
      corked.delete(stream)
      stream.uncork()
    })
  }
  stream.write(bytes)
}

function subscribe(client: MqttClient, filters: readonly string[], log: Logger): void {
  const wanted = Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }]))

  client.subscribe(wanted, (err, granted) => {
    if (err) {
      log.error({ err }, 'mqtt subscribe failed')
      return
    }

    const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic)
    if (refused.length > 0) log.error({ refused }, 'broker refused subscriptions')
    else log.info({ filters }, 'subscribed')
  })
}
