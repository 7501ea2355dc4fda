import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import type { Config } from '../../common/config.js'
import { TelemetryError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Bridge } from '../index.js'
import { buildApi } from './server.js'

export type { ApiDeps, ApiOptions } from './server.js'
export { buildApi } from './server.js'

/** The API's pool: short timeouts, so a read fails fast instead of queueing. */
function apiPool(c: Config, databaseUrl: string, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: c.API_PG_POOL_SIZE,
    options: `-c search_path=${c.PG_SCHEMA} -c statement_timeout=10000`,
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    application_name: 'telemetry-api',
  })

  pool.on('error', (err) => log.warn({ err }, 'idle api postgres client failed'))
  return pool
}

/** Refuses a configuration where /v1 would need a token nobody has. */
export function apiOptions(c: Config) {
  const tokens = c.API_TOKENS ?? []
  const needsTokens = c.API_AUTH === 'bearer' || c.METRICS_AUTH === 'bearer'

  if (needsTokens && tokens.length === 0) {
    throw new TelemetryError(
      'CONFIG_INVALID',
      'API_TOKENS must hold at least one name:token while API_AUTH or METRICS_AUTH is bearer (API_AUTH=none opens the API, for local use)',
    )
  }

  return {
    auth: c.API_AUTH,
    tokens,
    metricsAuth: c.METRICS_AUTH,
    historyMaxRows: c.HISTORY_MAX_ROWS,
  }
}

/** The API over a running bridge's stores; its pool closes with it. */
export async function startApi(bridge: Bridge, c: Config, log: Logger): Promise<FastifyInstance> {
  const options = apiOptions(c)
  const pool = apiPool(c, c.DATABASE_URL ?? '', log)
  // Reads on a connection of their own, never queued behind ingest's
  // pipelines; commands issued in the same tick go out in one write.
  const redis = bridge.redis.duplicate({
    enableAutoPipelining: true,
    commandTimeout: c.API_REDIS_TIMEOUT_MS,
    // A read cut off by a lost connection goes to Postgres, not to a retry.
    maxRetriesPerRequest: 0,
  })
  redis.on('error', (err) => log.debug({ err }, 'api redis error'))
  await redis.connect()
  const lastValues = bridge.lastValues.over(redis)
  const app = await buildApi({
    lastValues,
    pool,
    rebuilder: bridge.rebuilder,
    metrics: bridge.metrics,
    log,
    options,
    checks: {
      postgres: async () => (await pool.query('SELECT 1')).rowCount === 1,
      redis: async () => lastValues.available && (await redis.ping()) === 'PONG',
      // Direct intake has no MQTT connection: the broker is this process.
      mqtt: async () => bridge.source?.client.connected ?? true,
    },
  })

  app.addHook('onClose', async () => {
    redis.disconnect()
    await pool.end()
  })
  return app
}
