import type { Client, PublishPacket } from 'aedes'
import { compilePattern } from '../bridge/decode/topics.js'
import type { Config } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
import type { PersistenceOptions } from './durability.js'
import { persistenceOptions } from './durability.js'
import type { ListenerKind } from './listeners.js'
import type { Registry } from './registry.js'
import { commandLevels } from './rights.js'

/** Everything startBroker needs, read from the configuration once. */
export interface BrokerOptions {
  host: string
  /** TCP port; 0 picks a free one. */
  port: number
  /** Let clients in without credentials, as the device named by their client id. */
  allowAnonymous: boolean
  /** Listeners to open (BROKER_LISTENERS). Default: tcp only. */
  listeners?: readonly ListenerKind[]
  tls?: { port: number; certFile: string; keyFile: string }
  wsPort?: number
  /** Device and service accounts; without one only anonymous and internal accounts get in. */
  registry?: Registry
  /** Service accounts of this process only (the in-process bridge): id → secret. */
  internal?: ReadonlyMap<string, string>
  telemetryPatterns?: readonly string[]
  commandTopic?: string
  /** Longest device id, client id and username, in characters. Default 128. */
  maxIdLength?: number
  limits?: Partial<BrokerLimits>
  /** Sessions and queues: memory unless given (broker/persistence.ts). */
  persistence?: PersistenceOptions
  /**
   * Called for each authorized PUBLISH before Aedes acknowledges it (QoS 1
   * PUBACK) or routes it; `done()` lets it go on, `done(err)` drops the
   * device's connection (it sends the message again after reconnecting).
   */
  beforeAck?:
    | ((client: Client, packet: PublishPacket, done: (err?: Error) => void) => void)
    | undefined
}

export interface BrokerLimits {
  /** Largest MQTT packet, fixed header included, refused when its header arrives. */
  maxPacketBytes: number
  /** Open connections on all listeners together; 0 = no limit. */
  maxConnections: number
  /** New connections per address per minute (token bucket); 0 = no limit. */
  connectsPerMinute: number
  /** Failed authentications per address per minute before its connections are refused. */
  authFailuresPerMinute: number
  maxTopicBytes: number
  maxTopicLevels: number
  /** Keepalive a client may ask for, in seconds; 0 (never) is refused. */
  maxKeepaliveS: number
  /** Time from accepting a connection to its CONNECT. */
  connectTimeoutMs: number
}

export function brokerOptions(c: Config, extra: Partial<BrokerOptions> = {}): BrokerOptions {
  return {
    host: c.MQTT_HOST,
    port: c.MQTT_PORT,
    allowAnonymous: c.BROKER_ALLOW_ANONYMOUS,
    listeners: c.BROKER_LISTENERS,
    ...(c.BROKER_TLS_CERT_FILE && c.BROKER_TLS_KEY_FILE
      ? {
          tls: {
            port: c.BROKER_TLS_PORT,
            certFile: c.BROKER_TLS_CERT_FILE,
            keyFile: c.BROKER_TLS_KEY_FILE,
          },
        }
      : {}),
    wsPort: c.BROKER_WS_PORT,
    persistence: persistenceOptions(c),
    telemetryPatterns: c.TOPIC_PATTERNS,
    commandTopic: c.BROKER_COMMAND_TOPIC,
    maxIdLength: c.MAX_DEVICE_ID_LENGTH,
    limits: {
      maxPacketBytes: c.BROKER_MAX_PACKET_BYTES,
      maxConnections: c.BROKER_MAX_CONNECTIONS,
      connectsPerMinute: c.BROKER_CONNECTS_PER_MIN,
      authFailuresPerMinute: c.BROKER_AUTH_FAILS_PER_MIN,
      maxTopicBytes: c.BROKER_MAX_TOPIC_BYTES,
      maxTopicLevels: c.BROKER_MAX_TOPIC_LEVELS,
      maxKeepaliveS: c.BROKER_MAX_KEEPALIVE_S,
      connectTimeoutMs: c.BROKER_CONNECT_TIMEOUT_MS,
    },
    ...extra,
  }
}

/** Fills what a caller left out from the catalogue defaults, and checks the topics. */
export function resolved(o: BrokerOptions, defaults: BrokerOptions) {
  const limits = { ...(defaults.limits as BrokerLimits), ...o.limits }
  const patterns = (o.telemetryPatterns ?? defaults.telemetryPatterns ?? []).map(compilePattern)
  const command = commandLevels(o.commandTopic ?? (defaults.commandTopic as string))
  const maxIdLength = o.maxIdLength ?? (defaults.maxIdLength as number)
  const listeners = o.listeners ?? ['tcp']

  if (listeners.includes('tls') && !o.tls) {
    throw new TelemetryError(
      'CONFIG_INVALID',
      'BROKER_LISTENERS has tls: BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE must be set',
    )
  }

  return { limits, patterns, command, maxIdLength, listeners }
}
