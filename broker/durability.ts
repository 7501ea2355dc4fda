import type { EventEmitter } from 'node:events'
import type { Aedes } from 'aedes'
import type { Config } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { BrokerMetrics } from './metrics.js'
import { capOfflineQueue } from './offline-cap.js'
import { uniquePacketIds } from './packet-ids.js'
import type { PersistenceOptions } from './persistence.js'
import { createStores } from './persistence.js'
import type { PendingPublishes } from './publishes.js'
import { trackPublishes } from './publishes.js'

export type { PersistenceOptions }

/** Memory persistence, no Redis: what a broker gets when nothing is configured. */
export const DEFAULT_PERSISTENCE: PersistenceOptions = Object.freeze({
  persistence: 'memory',
  emitter: 'memory',
  keyPrefix: 'tlm:broker:',
  maxQueuedPerClient: 100_000,
})

/** How long closing waits for publishes Aedes has acknowledged but not yet queued. */
const PUBLISH_DRAIN_MS = 5_000

export interface Durability {
  /** Spread into the Aedes options. */
  aedesOptions: { persistence: object; mq: object }
  metrics: BrokerMetrics
  /** Tells the cap which clients are connected to this broker. */
  attach(broker: Aedes): void
  /** After Aedes has closed: releases the persistence and its connections. */
  close(): Promise<void>
}

/** Persistence, emitter and the offline-queue cap, ready for Aedes.createBroker. */
export function durability(opts: PersistenceOptions, log: Logger): Durability {
  let broker: Aedes | undefined
  const stores = createStores(opts, log)
  const depths = stores.depths
  const metrics = new BrokerMetrics(() => depths.all())

  const ids = uniquePacketIds(stores.persistence, log)
  const cap = capOfflineQueue(stores.persistence, depths, {
    maxQueuedPerClient: opts.maxQueuedPerClient,
    connectedHere: (id) => connected(broker, id),
    metrics,
    log,
  })

  log.info(
    { persistence: opts.persistence, emitter: opts.emitter, maxQueued: opts.maxQueuedPerClient },
    'broker persistence',
  )

  const aedesOptions = { persistence: stores.persistence, mq: stores.mq }

  let pending: PendingPublishes | undefined
  const attach = (b: Aedes) => {
    broker = b
    pending = trackPublishes(b)
    // A client that comes back drains its queue; one that leaves may have
    // left some of it unacknowledged. Either way, ask the store next time.
    b.on('client', (client) => {
      cap.forget(client.id)
      if (client.clean) ids.forget(client.id)
    })
    b.on('clientDisconnect', (client) => {
      cap.forget(client.id)
      ids.disconnected(client)
    })
    // Aedes emits 'error' when its persistence fails outside a client's
    // packet (will sweeps, subscription lookups); unheard, it would end
    // the process on a Redis outage. Its types list only client events.
    const events = b as unknown as EventEmitter
    events.on('error', (err: Error) => log.error({ err }, 'broker persistence error'))
  }

  // Called after Aedes has closed its clients, so no new publish starts.
  const close = async () => {
    const left = (await pending?.settled(PUBLISH_DRAIN_MS)) ?? 0
    if (left > 0)
      log.warn({ left }, 'broker store closed with acknowledged publishes not yet queued')
    await stores.close()
  }

  return { aedesOptions, metrics, attach, close }
}

// Aedes keeps connected clients by id; its types leave the map out.
function connected(broker: Aedes | undefined, id: string): boolean {
  const clients = (broker as { clients?: Record<string, unknown> } | undefined)?.clients
  return clients?.[id] !== undefined
}

/** The broker's persistence settings from the configuration catalogue. */
export function persistenceOptions(c: Config): PersistenceOptions {
  const needsRedis = c.BROKER_PERSISTENCE === 'redis' || c.BROKER_EMITTER === 'redis'
  const redisUrl = c.BROKER_REDIS_URL ?? c.REDIS_URL

  if (c.BROKER_EMITTER === 'redis' && c.BROKER_PERSISTENCE !== 'redis') {
    throw new TelemetryError(
      'CONFIG_INVALID',
      'BROKER_EMITTER=redis needs BROKER_PERSISTENCE=redis: brokers sharing messages must share sessions',
    )
  }
  if (needsRedis && !redisUrl) {
    throw new TelemetryError(
      'CONFIG_INVALID',
      'BROKER_PERSISTENCE=redis needs BROKER_REDIS_URL or REDIS_URL, got neither',
    )
  }

  return {
    persistence: c.BROKER_PERSISTENCE,
    emitter: c.BROKER_EMITTER,
    redisUrl,
    keyPrefix: c.BROKER_REDIS_KEY_PREFIX,
    maxQueuedPerClient: c.BROKER_OFFLINE_QUEUE_MAX,
  }
}
