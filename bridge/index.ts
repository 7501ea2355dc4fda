import { Redis } from 'ioredis'
import type pg from 'pg'
import type { Config } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Ack } from './batcher.js'
import { receiveClock } from './clock.js'
import type { DecodeOptions } from './decode/index.js'
import { compilePattern } from './decode/index.js'
import { BridgeMetrics } from './metrics.js'
import type { PipelineOptions } from './pipeline.js'
import { Pipeline } from './pipeline.js'
import { backoffMs } from './retry.js'
import type { Source } from './source.js'
import { openSource } from './source.js'
import { Spool } from './spool.js'
import { createPool, migrate } from './store/db.js'
import { LastValues } from './store/last-values.js'
import { LastValuesRebuilder } from './store/last-values-rebuild.js'
import type { PartitionOptions } from './store/partitions.js'
import { PartitionMaintainer } from './store/partitions.js'

export { BridgeMetrics } from './metrics.js'
export { LastValues } from './store/last-values.js'

export interface Bridge {
  pool: pg.Pool
  redis: Redis
  lastValues: LastValues
  metrics: BridgeMetrics
  pipeline: Pipeline
  partitions: PartitionMaintainer
  rebuilder: LastValuesRebuilder
  /** The MQTT subscription; undefined with direct intake. */
  source: Source | undefined
  /** Direct intake: false if the message was refused and must not be acknowledged. */
  receive(topic: string, payload: Buffer, ack?: Ack): boolean
  /** Stops intake, writes or spools what is held (within the deadline), acknowledges, disconnects. */
  close(): Promise<void>
}

export function decodeOptions(c: Config): DecodeOptions {
  return {
    patterns: c.TOPIC_PATTERNS.map(compilePattern),
    timestampFields: c.TIMESTAMP_FIELDS,
    ts: { minUs: Date.parse(c.TS_MIN) * 1000, maxFutureUs: c.TS_MAX_FUTURE_MS * 1000 },
    maxPayloadBytes: c.MAX_PAYLOAD_BYTES,
    maxDeviceIdLength: c.MAX_DEVICE_ID_LENGTH,
    maxReadingsPerMessage: c.MAX_READINGS_PER_MESSAGE,
    maxMetricsPerReading: c.MAX_METRICS_PER_READING,
    maxMetricNameLength: c.MAX_METRIC_NAME_LENGTH,
    maxStringBytes: c.MAX_STRING_BYTES,
    maxNestingDepth: c.MAX_NESTING_DEPTH,
  }
}

export function pipelineOptions(c: Config): PipelineOptions {
  return {
    decode: decodeOptions(c),
    maxRows: c.BATCH_MAX_ROWS,
    maxAgeMs: c.BATCH_MAX_AGE_MS,
    deadLetterPayloadBytes: c.DEAD_LETTER_PAYLOAD_BYTES,
    maxMessages: c.BUFFER_MAX_MESSAGES,
    maxBytes: c.BUFFER_MAX_BYTES,
    copyTimeoutMs: 30_000,
    retryBaseMs: 100,
    retryCapMs: 10_000,
  }
}

export function partitionOptions(c: Config): PartitionOptions {
  return {
    interval: c.PARTITION_INTERVAL,
    premake: c.PARTITION_PREMAKE,
    retentionDays: c.RETENTION_DAYS,
  }
}

export function requireStores(c: Config): { databaseUrl: string; redisUrl: string } {
  if (!c.DATABASE_URL || !c.REDIS_URL) {
    const missing = [!c.DATABASE_URL && 'DATABASE_URL', !c.REDIS_URL && 'REDIS_URL'].filter(Boolean)
    throw new TelemetryError(
      'CONFIG_INVALID',
      `${missing.join(' and ')} must be set for the bridge`,
    )
  }
  return { databaseUrl: c.DATABASE_URL, redisUrl: c.REDIS_URL }
}

export async function connectRedis(
  url: string,
  log: Logger,
  commandTimeoutMs = 300,
): Promise<Redis> {
  // No offline queue: while Redis is away a command fails at once instead
  // of piling up in memory; Postgres ingest goes on without it. A command
  // a hung Redis never answers fails after commandTimeoutMs.
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (times) => backoffMs(times, { baseMs: 100, capMs: 5_000 }),
  })
  redis.on('error', (err) => log.warn({ err }, 'redis error'))
  await redis.connect()
  return redis
}

/**
 * 'mqtt': the bridge subscribes to a broker. 'direct': a broker in this
 * process hands messages to `receive` and holds each device's PUBACK until
 * the bridge acknowledges (BROKER_ACK_AFTER_COMMIT).
 */
export type Intake = 'mqtt' | 'direct'

export async function startBridge(
  c: Config,
  log: Logger,
  intake: Intake = 'mqtt',
  metrics = new BridgeMetrics(true),
): Promise<Bridge> {
  const { databaseUrl, redisUrl } = requireStores(c)
  const db = { databaseUrl, schema: c.PG_SCHEMA, poolSize: c.PG_POOL_SIZE }

  await migrate(db, log)

  const pool = createPool(db, log)
  // Partitions for now and ahead exist before the first batch arrives.
  const partitions = new PartitionMaintainer(pool, partitionOptions(c), log)
  await partitions.start()
  const redis = await connectRedis(redisUrl, log, c.REDIS_COMMAND_TIMEOUT_MS)
  const lastValues = new LastValues(redis, c.REDIS_KEY_PREFIX)
  const rebuilder = new LastValuesRebuilder(
    pool,
    redis,
    lastValues,
    { checkIntervalMs: c.LAST_VALUES_CHECK_MS, pageSize: 1000 },
    metrics,
    log.child({ component: 'last-values' }),
  )
  rebuilder.start()
  const spool = await Spool.open(c.SPOOL_DIR, c.SPOOL_MAX_BYTES, log)
  let source: Source | undefined
  const pipeline = new Pipeline(
    pool,
    lastValues,
    spool,
    pipelineOptions(c),
    metrics,
    log,
    (paused) => (paused ? source?.pause() : source?.resume()),
  )
  const now = receiveClock()
  const receive = (topic: string, payload: Buffer, ack?: Ack) =>
    pipeline.ingest(topic, payload, now(), ack)
  if (intake === 'mqtt') {
    const filters = [...new Set(c.TOPIC_PATTERNS.map((p) => compilePattern(p).filter))]
    source = await openSource(
      {
        url: c.BRIDGE_MQTT_URL,
        clientId: c.BRIDGE_CLIENT_ID,
        filters,
        username: c.BRIDGE_MQTT_USERNAME,
        password: c.BRIDGE_MQTT_PASSWORD,
      },
      (topic, payload, receivedUs, ack) => void pipeline.ingest(topic, payload, receivedUs, ack),
      log,
    )
  }
  const opened = source

  async function close(): Promise<void> {
    // The pipeline stops taking messages (later ones stay unacknowledged and
    // come back on the next connection), writes or spools what it holds and
    // acknowledges it; only then does the connection close, PUBACKs sent.
    try {
      await pipeline.close(c.SHUTDOWN_TIMEOUT_MS)
    } finally {
      await opened?.close()
      await rebuilder.stop()
      await partitions.stop()
      await pool.end()
      redis.disconnect()
    }
  }

  return {
    pool,
    redis,
    lastValues,
    metrics,
    pipeline,
    partitions,
    rebuilder,
    source: opened,
    receive,
    close,
  }
}
