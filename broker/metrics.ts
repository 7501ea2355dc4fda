import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RefusalReason } from './refusals.js'

/**
 * The broker's counters, on a registry of its own that a host process can
 * merge. The offline-queue gauges are filled at scrape time by whoever
 * knows the depths (broker/offline-cap.ts).
 */
export class BrokerMetrics {
  readonly registry = new Registry()

  readonly offlineEnqueued = new Counter({
    name: 'broker_offline_enqueued_total',
    help: 'QoS 1/2 messages queued for a persistent-session subscriber not connected here',
    registers: [this.registry],
  })

  readonly offlineDropped = new Counter({
    name: 'broker_offline_dropped_total',
    help: 'Messages not queued because the subscriber already had BROKER_OFFLINE_QUEUE_MAX waiting',
    registers: [this.registry],
  })

  readonly offlineQueued: Gauge

  readonly offlineDeepest: Gauge

  readonly refusals = new Counter({
    name: 'broker_refusals_total',
    help: 'Connections, packets and subscriptions the broker refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  readonly auth = new Counter({
    name: 'broker_auth_total',
    help: 'CONNECT authentications by outcome: cached (no hash), hashed, anonymous, internal, refused',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly hashSeconds = new Histogram({
    name: 'broker_secret_hash_seconds',
    help: 'Time to check one secret with scrypt, waiting for a slot included',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  })

  readonly takeovers = new Counter({
    name: 'broker_session_takeovers_total',
    help: 'Connections that logged in under a client id already connected, closing the older one, by role',
    labelNames: ['role'] as const,
    registers: [this.registry],
  })

  readonly connections = new Gauge({
    name: 'broker_connections',
    help: 'Open client connections on every listener',
    registers: [this.registry],
  })

  constructor(depths: () => Promise<number[]> = async () => []) {
    // One scrape asks the store once and feeds both gauges.
    let pending: Promise<number[]> | undefined
    const read = () => {
      pending ??= depths().finally(() => {
        pending = undefined
      })
      return pending
    }

    this.offlineQueued = new Gauge({
      name: 'broker_offline_queued_messages',
      help: 'Messages the broker holds for persistent-session subscribers (queued and unacknowledged)',
      registers: [this.registry],
      async collect() {
        this.set((await read()).reduce((a, b) => a + b, 0))
      },
    })

    this.offlineDeepest = new Gauge({
      name: 'broker_offline_queue_deepest_messages',
      help: 'Messages held for the persistent-session subscriber with the longest queue',
      registers: [this.registry],
      async collect() {
        this.set(Math.max(0, ...(await read())))
      },
    })
  }

  /** Registers the same counters on a host's registry too (one /metrics for the process). */
  alsoOn(registry: Registry): void {
    registry.registerMetric(this.offlineEnqueued)
    registry.registerMetric(this.offlineDropped)
    registry.registerMetric(this.offlineQueued)
    registry.registerMetric(this.offlineDeepest)
    registry.registerMetric(this.refusals)
    registry.registerMetric(this.auth)
    registry.registerMetric(this.hashSeconds)
    registry.registerMetric(this.connections)
    registry.registerMetric(this.takeovers)
  }

  refused(reason: RefusalReason): void {
    this.refusals.inc({ reason })
  }
}
