import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { DeliveryStats } from './delivery.js'

/**
 * The bridge's accounting. Every message ends in exactly one outcome of
 * telemetry_messages_total, or is still counted by telemetry_messages_in_flight.
 */
export class BridgeMetrics {
  readonly registry = new Registry()

  readonly messages = new Counter({
    name: 'telemetry_messages_total',
    help: 'MQTT messages by final outcome: stored, partial (some readings refused), rejected, ignored, deferred (not acknowledged, so the broker sends it again)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly readings = new Counter({
    name: 'telemetry_readings_total',
    help: 'Readings by outcome: stored (new row), duplicate (already stored), rejected',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly rejects = new Counter({
    name: 'telemetry_rejects_total',
    help: 'Refused messages and readings by reason code (docs/data-contract.md)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  // Gauges of what is held are read from the pipeline when scraped, so
  // they cannot drift from the truth.
  #stats: () => DeliveryStats = () => ({
    memoryMessages: 0,
    memoryBytes: 0,
    spoolMessages: 0,
    spoolBytes: 0,
    oldestMs: undefined,
    paused: false,
  })

  readonly inFlight = this.#gauge(
    'telemetry_messages_in_flight',
    'Messages received and not yet written or dead-lettered (in memory or spooled)',
    (s) => s.memoryMessages + s.spoolMessages,
  )

  readonly bufferMessages = this.#gauge(
    'telemetry_buffer_messages',
    'Messages held in memory: open batch, sealed batches, the batch being written',
    (s) => s.memoryMessages,
  )

  readonly bufferBytes = this.#gauge(
    'telemetry_buffer_bytes',
    'Payload bytes of the messages held in memory',
    (s) => s.memoryBytes,
  )

  readonly spoolMessages = this.#gauge(
    'telemetry_spool_messages',
    'Messages in batches spooled to local disk, acknowledged, waiting for Postgres',
    (s) => s.spoolMessages,
  )

  readonly spoolBytes = this.#gauge(
    'telemetry_spool_bytes',
    'Size of the spool on disk',
    (s) => s.spoolBytes,
  )

  readonly oldestUnwritten = this.#gauge(
    'telemetry_oldest_unwritten_seconds',
    'Age of the oldest message received and not yet written (0 when none)',
    (s) => (s.oldestMs === undefined ? 0 : Math.max(0, (Date.now() - s.oldestMs) / 1000)),
  )

  readonly paused = this.#gauge(
    'telemetry_intake_paused',
    '1 while the bridge has stopped reading because buffer and spool are full',
    (s) => (s.paused ? 1 : 0),
  )

  readonly batchRows = new Histogram({
    name: 'telemetry_batch_rows',
    help: 'Readings per committed batch',
    buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000],
    registers: [this.registry],
  })

  readonly copySeconds = new Histogram({
    name: 'telemetry_copy_seconds',
    help: 'Time to COPY and commit one batch',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  })

  readonly writeRetries = new Counter({
    name: 'telemetry_write_retries_total',
    help: 'Batches sent again after a transient Postgres failure',
    registers: [this.registry],
  })

  readonly lastValueErrors = new Counter({
    name: 'telemetry_last_value_errors_total',
    help: 'Committed batches whose Redis last-value update failed',
    registers: [this.registry],
  })

  /** Where the held-messages gauges read from. */
  observe(stats: () => DeliveryStats): void {
    this.#stats = stats
  }

  #gauge(name: string, help: string, read: (s: DeliveryStats) => number): Gauge {
    const stats = () => this.#stats()
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read(stats()))
      },
    })
  }
  readonly httpSeconds = new Histogram({
    name: 'telemetry_http_request_seconds',
    help: 'HTTP API response time by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })

  readonly httpAuthRefusals = new Counter({
    name: 'telemetry_http_auth_refusals_total',
    help: 'API requests refused for authentication: missing or invalid bearer token',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })

  readonly latestReads = new Counter({
    name: 'telemetry_latest_reads_total',
    help: 'Latest-value reads by source: redis; postgres while Redis is away or incomplete; refused (503) when too many wait for Postgres',
    labelNames: ['source'] as const,
    registers: [this.registry],
  })

  readonly lastValueRebuilds = new Counter({
    name: 'telemetry_last_value_rebuilds_total',
    help: 'Rebuilds of the Redis last values from Postgres by outcome: complete, lost (flushed meanwhile), superseded, failed; repaired (only devices whose update failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  constructor(withProcessMetrics: boolean) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry })
  }
}
