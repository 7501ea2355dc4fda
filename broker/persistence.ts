import memoryPersistence from 'aedes-persistence'
import redisPersistence from 'aedes-persistence-redis'
import { Redis } from 'ioredis'
import mqemitterRedis from 'mqemitter-redis'
import type { Logger } from '../common/logger.js'
import { memoryEmitter, withoutRecursion } from './emitter.js'
import { MemoryOutgoing } from './memory-outgoing.js'
import type { QueueDepths } from './offline-cap.js'
import { redisDepths } from './offline-cap.js'

/** Where sessions, subscriptions, queued and retained messages live. */
export type PersistenceKind = 'memory' | 'redis'

export interface PersistenceOptions {
  persistence: PersistenceKind
  /** redis: Redis pub/sub fan-out, so several broker processes act as one. */
  emitter: PersistenceKind
  /** Required when either of the above is redis. */
  redisUrl?: string | undefined
  /** Prefix of every key the broker writes; pub/sub channels get none. */
  keyPrefix: string
  /** Messages held for one persistent subscriber (broker/offline-cap.ts). */
  maxQueuedPerClient: number
}

/** A message as the store keeps it for one client (aedes-packet). */
export interface StoredPacket {
  cmd: string
  brokerId: string
  brokerCounter: number
  /** Set once the message has been sent to the client; kept for re-sending. */
  messageId?: number | undefined
}

/**
 * The promise-returning calls Aedes 1.2 makes on its persistence
 * (aedes.js storeRetained/enqueueOffline, lib/client.js publish,
 * lib/handlers/puback.js, lib/handlers/connect.js emptyQueue). The
 * package's own types still describe the callback API, so this is what
 * we rely on instead.
 */
export interface BrokerPersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: object): Promise<void>
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: object): Promise<void>
  outgoingUpdate(client: { id: string }, packet: StoredPacket): Promise<void>
  outgoingClearMessageId(
    client: { id: string },
    packet: { messageId?: number },
  ): Promise<object | undefined>
  outgoingStream(client: { id: string }): AsyncIterable<StoredPacket>
  destroy(): Promise<void>
}

export interface BrokerStores {
  /** Passed to Aedes as `persistence`; Aedes awaits its setup() in listen(). */
  persistence: BrokerPersistence
  /** Passed to Aedes as `mq`: in-process (broker/emitter.ts) or Redis pub/sub. */
  mq: object
  /** How many messages each persistent client has queued. */
  depths: QueueDepths
  /** Aedes.close() closes the emitter but not the persistence. */
  close(): Promise<void>
}

/** Builds what Aedes needs from the configuration; no I/O until Aedes starts. */
export function createStores(opts: PersistenceOptions, log: Logger): BrokerStores {
  if (opts.persistence === 'memory') {
    // A CommonJS function whose types declare an ES default export.
    const create = memoryPersistence as unknown as () => BrokerPersistence
    const persistence = create()
    const outgoing = new MemoryOutgoing()
    outgoing.install(persistence)
    return {
      persistence,
      mq: memoryEmitter(log),
      depths: outgoing,
      close: () => persistence.destroy(),
    }
  }

  const url = opts.redisUrl
  if (!url) throw new Error('a Redis URL is required for redis broker persistence')

  // Channels are not keys: Redis pub/sub ignores prefixes and databases.
  const connect = (role: string, keyPrefix = opts.keyPrefix) => {
    const conn = new Redis(url, { keyPrefix })
    // ioredis retries on its own: warn once per outage, not per attempt.
    let down = false
    conn.on('error', (err) => {
      if (!down) log.warn({ err, role }, 'broker redis unreachable, retrying')
      down = true
    })
    conn.on('ready', () => {
      if (down) log.info({ role }, 'broker redis reachable again')
      down = false
    })
    return conn
  }

  const redis = connect('queue-depth')
  const persistence = redisPersistence({
    conn: connect('persistence'),
    // Without this only the first 1,000 queued messages are resent on
    // reconnect; the rest would wait for the next reconnect.
    maxSessionDelivery: opts.maxQueuedPerClient,
  }) as unknown as BrokerPersistence

  const mq =
    opts.emitter === 'redis'
      ? withoutRecursion(
          mqemitterRedis({
            subConn: connect('emitter-sub', ''),
            pubConn: connect('emitter-pub', ''),
            // What Aedes gives its default emitter [MQTT-4.7.1-3].
            concurrency: 100,
            matchEmptyLevels: true,
          }),
          log,
        )
      : memoryEmitter(log)

  async function close(): Promise<void> {
    await persistence.destroy()
    redis.disconnect()
  }

  return { persistence, mq, depths: redisDepths(redis), close }
}
