import type { Redis } from 'ioredis'
import type { Logger } from '../common/logger.js'
import type { BrokerMetrics } from './metrics.js'
import type { BrokerPersistence } from './persistence.js'

type Sub = { clientId: string }

/** How many messages the store holds for each persistent client. */
export interface QueueDepths {
  depth(clientId: string): Promise<number>
  all(): Promise<number[]>
}

export interface CapOptions {
  maxQueuedPerClient: number
  /** True while the client is connected to this broker process. */
  connectedHere(clientId: string): boolean
  metrics: BrokerMetrics
  log: Logger
}

/**
 * Aedes queues every QoS 1/2 message for every persistent-session
 * subscription without limit (aedes.js enqueueOffline ->
 * persistence.outgoingEnqueueCombi). This wraps that call: a subscriber
 * not connected here that already has `maxQueuedPerClient` messages
 * waiting does not get the new one (the newest is dropped, the queue
 * keeps its oldest), and the drop is counted.
 *
 * A connected subscriber is left alone: Aedes also delivers to it directly
 * and expects the queued copy when it acknowledges. For one that is away,
 * the store is asked for its depth once, then every granted slot is counted
 * here, synchronously, so racing publishes cannot both take the last one.
 * `forget` drops that count when the client comes or goes.
 */
export function capOfflineQueue(
  p: BrokerPersistence,
  depths: QueueDepths,
  o: CapOptions,
): { forget(clientId: string): void } {
  const enqueue = p.outgoingEnqueueCombi.bind(p)
  const counts = new Map<string, number>()
  const seeds = new Map<string, Promise<void>>()
  const full = new Set<string>()

  const seed = (id: string): Promise<void> => {
    let pending = seeds.get(id)
    if (!pending) {
      pending = depths
        .depth(id)
        .then((n) => {
          if (!counts.has(id)) counts.set(id, n)
        })
        .finally(() => seeds.delete(id))
      seeds.set(id, pending)
    }
    return pending
  }

  // 'pass': connected here, not capped; 'slot': counted; 'drop': full.
  const admit = async (sub: Sub): Promise<'pass' | 'slot' | 'drop'> => {
    const id = sub.clientId
    if (o.connectedHere(id)) return 'pass'
    if (!counts.has(id)) await seed(id)

    const depth = counts.get(id) ?? 0
    if (depth < o.maxQueuedPerClient) {
      counts.set(id, depth + 1)
      return 'slot'
    }

    // Warn once per episode; the counter carries the rest.
    if (!full.has(id)) {
      full.add(id)
      o.log.warn(
        { clientId: id, depth, max: o.maxQueuedPerClient },
        'offline queue full: dropping new messages for this subscriber',
      )
    }
    return 'drop'
  }

  p.outgoingEnqueueCombi = async (subs, packet) => {
    if (!subs || subs.length === 0) return enqueue(subs, packet)

    const verdicts = await Promise.all(subs.map(admit))
    const keep = subs.filter((_, i) => verdicts[i] !== 'drop')
    const dropped = subs.length - keep.length
    if (dropped > 0) o.metrics.offlineDropped.inc(dropped)
    if (keep.length === 0) return

    try {
      await enqueue(keep, packet)
    } catch (err) {
      // Nothing was queued for the slots this call took.
      subs.forEach((s, i) => {
        const n = counts.get(s.clientId)
        if (verdicts[i] === 'slot' && n !== undefined) counts.set(s.clientId, n - 1)
      })
      throw err
    }
    o.metrics.offlineEnqueued.inc(keep.length)
  }

  return {
    forget(id) {
      counts.delete(id)
      if (full.delete(id)) o.log.info({ clientId: id }, 'offline queue no longer capped')
    },
  }
}

/** Redis keeps each client's queue as a list (aedes-persistence-redis `outgoing:<id>`). */
export function redisDepths(redis: Redis): QueueDepths {
  const key = (id: string) => `outgoing:${encodeURIComponent(id)}`

  return {
    depth: (id) => redis.llen(key(id)),
    async all() {
      const ids = await redis.smembers('clients')
      if (ids.length === 0) return []

      const pipe = redis.pipeline()
      for (const id of ids) pipe.llen(key(id))
      const replies = (await pipe.exec()) ?? []
      return replies.map(([err, n]) => (err ? 0 : Number(n)))
    },
  }
}
