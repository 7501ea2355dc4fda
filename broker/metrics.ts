import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RefusalReason } from './refusals.js'

/** The broker's counters, on a registry of its own that a host process can merge. */
export class BrokerMetrics {
  readonly registry = new Registry()

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

  readonly connections = new Gauge({
    name: 'broker_connections',
    help: 'Open client connections on every listener',
    registers: [this.registry],
  })

  /** Registers the same counters on a host's registry too (one /metrics for the process). */
  alsoOn(registry: Registry): void {
    registry.registerMetric(this.refusals)
    registry.registerMetric(this.auth)
    registry.registerMetric(this.hashSeconds)
    registry.registerMetric(this.connections)
  }

  refused(reason: RefusalReason): void {
    this.refusals.inc({ reason })
  }
}
