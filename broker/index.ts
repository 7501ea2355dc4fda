import { Duplex, pipeline } from 'node:stream'
import type { AuthenticateError, Client } from 'aedes'
import { Aedes } from 'aedes'
import { loadConfig } from '../common/config.js'
import type { Logger } from '../common/logger.js'
import type { Identity } from './auth.js'
import { Authenticator } from './auth.js'
import { coalescingWriter } from './coalesce.js'
import { DEFAULT_PERSISTENCE, durability } from './durability.js'
import { FrameGuard } from './frame-guard.js'
import { AddressBudget } from './limits.js'
import type { Listener, ListenerKind } from './listeners.js'
import { closeListeners, openListeners } from './listeners.js'
import type { BrokerMetrics } from './metrics.js'
import type { BrokerOptions } from './options.js'
import { brokerOptions, resolved } from './options.js'
import type { RefusalReason } from './refusals.js'
import { TopicRights } from './rights.js'

export type { BrokerOptions } from './options.js'
export { brokerOptions } from './options.js'

export interface RunningBroker {
  aedes: Aedes
  metrics: BrokerMetrics
  /** Port of the TCP listener (0 when it is off). */
  port: number
  ports: Partial<Record<ListenerKind, number>>
  /** Port of GET /metrics when BROKER_METRICS_PORT is set. */
  metricsPort?: number
  /** Stops accepting connections; the open ones stay. */
  stopListening(): Promise<void>
  close(): Promise<void>
}

// Refusals that spend the address's failed-auth budget.
const AUTH_FAILURES = new Set<RefusalReason>([
  'anonymous',
  'credentials_missing',
  'credentials_malformed',
  'unknown_account',
  'secret_wrong',
  'account_disabled',
])

const REFUSED = Symbol('refused')

function refusedError(reason: RefusalReason): Error {
  return Object.assign(new Error(reason), { [REFUSED]: true })
}

interface Conn {
  address: string
  kind: ListenerKind
  logged: boolean
  /** A refusal is closing it: the errors that follow are its echo, not new refusals. */
  closing: boolean
}

// A client that went away without DISCONNECT: not a refusal, logged at debug.
const GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE'])

/**
 * An Aedes broker behind default-deny authentication, per-account topic
 * rights and per-address limits, on the configured listeners. Each refusal
 * is counted by reason and logged once per connection, never with payload
 * or secret.
 */
export async function startBroker(opts: BrokerOptions, log: Logger): Promise<RunningBroker> {
  const { limits, patterns, command, maxIdLength, listeners } = resolved(
    opts,
    brokerOptions(loadConfig({})),
  )
  // Sessions, queues and the offline-queue cap (memory unless configured).
  const durable = durability(opts.persistence ?? DEFAULT_PERSISTENCE, log)
  const metrics = durable.metrics
  const conns = new WeakMap<object, Conn>()
  const identities = new WeakMap<Client, Identity>()
  const connects = new AddressBudget(limits.connectsPerMinute)
  const failures = new AddressBudget(limits.authFailuresPerMinute)
  const auth = new Authenticator(
    {
      allowAnonymous: opts.allowAnonymous,
      maxIdLength,
      registry: opts.registry,
      internal: opts.internal ?? new Map(),
    },
    metrics,
    log,
  )
  const rights = new TopicRights({
    telemetry: patterns,
    commandLevels: command,
    maxIdLength,
    maxTopicBytes: limits.maxTopicBytes,
    maxTopicLevels: limits.maxTopicLevels,
  })
  let open = 0

  function refuse(
    reason: RefusalReason,
    conn: object | undefined,
    clientId?: string,
    closes = true,
  ): void {
    metrics.refused(reason)
    const c = conn ? conns.get(conn) : undefined
    if (c && closes) c.closing = true
    if (c?.logged) return
    if (c) c.logged = true

    const id = clientId?.slice(0, 64)
    log.info({ reason, clientId: id, address: c?.address, listener: c?.kind }, 'refused')
  }

  // createBroker awaits the persistence's setup().
  const aedes = await Aedes.createBroker({
    ...durable.aedesOptions,
    connectTimeout: limits.connectTimeoutMs,
    maxClientsIdLength: maxIdLength,

    preConnect: (client, packet, done) => {
      const k = packet.keepalive ?? 0
      if (k > 0 && k <= limits.maxKeepaliveS) return done(null, true)

      refuse('keepalive_invalid', client.conn, packet.clientId)
      done(refusedError('keepalive_invalid'), false)
    },

    authenticate: (client, username, password, done) => {
      const checked = auth.check(client.id, username, password).catch((err) => {
        log.error({ err }, 'authentication failed unexpectedly')
        return { ok: false, returnCode: 3, reason: 'registry_unavailable' } as const
      })

      checked.then((r) => {
        if (r.ok) {
          identities.set(client, r.identity)
          noteTakeover(client, r.identity)
          return done(null, true)
        }

        const address = conns.get(client.conn)?.address
        if (address && AUTH_FAILURES.has(r.reason)) failures.take(address)
        metrics.auth.inc({ outcome: 'refused' })
        refuse(r.reason, client.conn, client.id)
        const err = Object.assign(refusedError(r.reason), { returnCode: r.returnCode })
        done(err as AuthenticateError, false)
      })
    },

    authorizePublish: (client, packet, done) => {
      const who = client && identities.get(client)
      // Wills of clients from another broker process arrive without one.
      const reason = who ? rights.publish(who, packet.topic) : 'publish_denied'

      if (reason) {
        refuse(reason, client?.conn, client?.id)
        return done(refusedError(reason))
      }

      // Retained telemetry would reach the bridge again at every resubscribe.
      if (who?.role === 'device') packet.retain = false
      // The last step before Aedes writes the PUBACK (BROKER_ACK_AFTER_COMMIT).
      if (!opts.beforeAck || !client) return done(null)
      opts.beforeAck(client, packet, (err) => done(err ?? null))
    },

    authorizeSubscribe: (client, sub, done) => {
      const who = identities.get(client)
      const reason = who ? rights.subscribe(who, sub.topic) : 'subscribe_denied'
      if (!reason) return done(null, sub)

      refuse(reason, client.conn, client.id, false)
      // A null subscription is a SUBACK failure, 0x80 [MQTT-3.9.3].
      done(null, null)
    },
  })

  // Aedes closes a connected client when another logs in under its id
  // [MQTT-3.1.4-2]. For a device that is a routine reconnect; for a service
  // account it usually means two bridges share BRIDGE_CLIENT_ID and keep
  // taking the session from each other.
  function noteTakeover(client: Client, who: Identity): void {
    const clients = (aedes as unknown as { clients: Record<string, Client | undefined> }).clients
    const older = clients[client.id]
    if (!older || older === client) return

    metrics.takeovers.inc({ role: who.role })
    const fields = {
      clientId: client.id,
      address: conns.get(client.conn)?.address,
      olderAddress: conns.get(older.conn)?.address,
    }
    if (who.role === 'device') log.debug(fields, 'session taken over by a new connection')
    else log.warn(fields, 'session taken over by a new connection: is this client id shared?')
  }

  // Parser and socket errors, counted once per connection; errors that
  // follow one of our own refusals are its echo and counted already. Aedes
  // answers a DISCONNECT by destroying the connection, which our duplex
  // reports as an AbortError: a clean goodbye, not an error.
  const onError = (client: Client, err: Error & { code?: string }) => {
    const c = conns.get(client.conn)
    // Errors on a connection that is closed already (a send cancelled by the
    // close, for one) are echoes too.
    const gone = client as { _disconnected?: boolean; closed?: boolean }
    const clean = gone._disconnected === true || gone.closed === true
    const echo = REFUSED in err || c?.closing || clean || GONE.has(err.code ?? '')
    log.debug({ clientId: client.id ?? undefined, err }, 'connection error')
    if (echo) return

    refuse('connection_error', client.conn, client.id ?? undefined)
  }
  aedes.on('clientError', onError)
  aedes.on('connectionError', onError)
  durable.attach(aedes)

  function accept(raw: Duplex, address: string, kind: ListenerKind): void {
    const c: Conn = { address, kind, logged: false, closing: false }
    conns.set(raw, c)

    const limit = admit(address)
    if (limit) {
      refuse(limit, raw)
      raw.destroy()
      return
    }

    open++
    metrics.connections.set(open)
    raw.once('close', () => {
      open--
      metrics.connections.set(open)
    })

    const guard = new FrameGuard(limits.maxPacketBytes, (reason) => {
      refuse(reason, raw)
      raw.destroy()
    })
    // The parser reads only what passed the guard; replies to a socket go out
    // in bursts. A WebSocket frames each write on its own, so corking it saves
    // nothing and would hold back the CONNACK of a refusal.
    pipeline(raw, guard, () => {})
    const writable = kind === 'ws' ? raw : coalescingWriter(raw)
    const conn = Duplex.from({ readable: guard, writable })
    conns.set(conn, c)
    aedes.handle(conn)
  }

  function admit(address: string): RefusalReason | undefined {
    if (limits.maxConnections > 0 && open >= limits.maxConnections) return 'max_connections'
    if (failures.exhausted(address)) return 'auth_failure_rate'
    if (!connects.take(address)) return 'connect_rate'
    return undefined
  }

  let opened: Listener[]
  try {
    opened = await openListeners(
      {
        host: opts.host,
        maxPacketBytes: limits.maxPacketBytes,
        ...(listeners.includes('tcp') ? { tcp: { port: opts.port } } : {}),
        ...(listeners.includes('tls') && opts.tls ? { tls: opts.tls } : {}),
        ...(listeners.includes('ws') ? { ws: { port: opts.wsPort ?? 8083 } } : {}),
      },
      accept,
      log,
    )
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await durable.close()
    throw err
  }

  const ports = Object.fromEntries(opened.map((l) => [l.kind, l.port]))
  const port = ports.tcp ?? 0
  log.info(
    { host: opts.host, port, ports, allowAnonymous: opts.allowAnonymous },
    'broker listening',
  )

  let listening: Promise<void> | undefined
  const stopListening = () => {
    listening ??= closeListeners(opened)
    return listening
  }

  async function close(): Promise<void> {
    connects.close()
    failures.close()
    const closed = stopListening()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await closed
    // Aedes does not close its persistence: its Redis connections are ours.
    await durable.close()
  }

  return { aedes, metrics, port, ports, stopListening, close }
}
