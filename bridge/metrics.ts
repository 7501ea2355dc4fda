import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The bridge's accounting. Every message ends in exactly one outcome of
 * telemetry_messages_total, or is still counted by telemetry_messages_in_flight.
 */
export class BridgeMetrics {
  readonly registry = new Registry()

  readonly messages = new Counter({
    name: 'telemetry_messages_total',
    help: 'MQTT messages by final outcome: stored, partial (some readings refused), rejected, ignored',
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

  readonly inFlight = new Gauge({
    name: 'telemetry_messages_in_flight',
    help: 'Messages received whose readings are not yet committed or dead-lettered',
    registers: [this.registry],
  })

  readonly bufferedReadings = new Gauge({
    name: 'telemetry_buffered_readings',
    help: 'Readings held in memory waiting for a COPY',
    registers: [this.registry],
  })

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
