import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import type pg from 'pg'
import type { Config } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { DecodeOptions } from './decode/index.js'
import { compilePattern } from './decode/index.js'
import { BridgeMetrics } from './metrics.js'
import type { PipelineOptions } from './pipeline.js'
import { Pipeline } from './pipeline.js'
import { backoffMs } from './retry.js'
import { openSource } from './source.js'
import { createPool, migrate } from './store/db.js'
import { LastValues } from './store/last-values.js'
import { LastValuesRebuilder } from './store/last-values-rebuild.js'

export { BridgeMetrics } from './metrics.js'
export { LastValues } from './store/last-values.js'

export interface Bridge {
  pool: pg.Pool
  redis: Redis
  lastValues: LastValues
  metrics: BridgeMetrics
  pipeline: Pipeline
  mqtt: MqttClient
  rebuilder: LastValuesRebuilder
  /** Stops intake, writes what is held (within the deadline), closes connections. */
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
    copyTimeoutMs: 30_000,
    retryBaseMs: 100,
    retryCapMs: 10_000,
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

export async function startBridge(
  c: Config,
  log: Logger,
  metrics = new BridgeMetrics(true),
): Promise<Bridge> {
  const { databaseUrl, redisUrl } = requireStores(c)
  const db = { databaseUrl, schema: c.PG_SCHEMA, poolSize: c.PG_POOL_SIZE }

  await migrate(db, log)

  const pool = createPool(db, log)
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
  const pipeline = new Pipeline(pool, lastValues, pipelineOptions(c), metrics, log)
  const filters = [...new Set(c.TOPIC_PATTERNS.map((p) => compilePattern(p).filter))]
  const source = { url: c.BRIDGE_MQTT_URL, clientId: c.BRIDGE_CLIENT_ID, filters }
  const mqtt = await openSource(
    { ...source, username: c.BRIDGE_MQTT_USERNAME, password: c.BRIDGE_MQTT_PASSWORD },
    (topic, payload, receivedUs) => pipeline.ingest(topic, payload, receivedUs),
    log,
  )

  async function close(): Promise<void> {
    // Stop intake first; MQTT.js has already acknowledged what it delivered,
    // so what the pipeline holds must reach Postgres before we go.
    await mqtt.endAsync()
    try {
      await pipeline.close(c.SHUTDOWN_TIMEOUT_MS)
    } finally {
      await rebuilder.stop()
      await pool.end()
      redis.disconnect()
    }
  }

  return { pool, redis, lastValues, metrics, pipeline, mqtt, rebuilder, close }
}
