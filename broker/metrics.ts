import { Counter, Gauge, Registry } from 'prom-client'

/**
 * The broker's own counters. The offline-queue gauges are filled at
 * scrape time by whoever knows the depths (broker/offline-cap.ts).
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

  constructor(depths: () => Promise<number[]>) {
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
}
