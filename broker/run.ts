import { collectDefaultMetrics } from 'prom-client'
import { createPool, migrate } from '../bridge/store/db.js'
import type { Config } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { BrokerOptions, RunningBroker } from './index.js'
import { brokerOptions, startBroker } from './index.js'
import { serveMetrics } from './metrics-http.js'
import { Registry } from './registry.js'
import { newSecret } from './secrets.js'

/** A service account that exists only in this process, for a bridge beside its broker. */
export function internalAccount(id: string): { id: string; secret: string } {
  return { id, secret: newSecret() }
}

/**
 * The broker as the CLI runs it: with the device registry in Postgres when
 * DATABASE_URL is set (migrated first), and its own small pool, closed with it.
 */
export async function runBroker(
  c: Config,
  log: Logger,
  internal: ReadonlyMap<string, string> = new Map(),
  extra: Partial<BrokerOptions> = {},
): Promise<RunningBroker> {
  const broker = await startWithRegistry(c, log, { ...extra, internal })
  if (c.BROKER_METRICS_PORT === undefined) return broker

  try {
    collectDefaultMetrics({ register: broker.metrics.registry })
    const http = await serveMetrics(
      broker.metrics.registry,
      c.MQTT_HOST,
      c.BROKER_METRICS_PORT,
      log,
    )
    const close = () => http.close().finally(() => broker.close())
    return { ...broker, metricsPort: http.port, close }
  } catch (err) {
    await broker.close()
    throw err
  }
}

async function startWithRegistry(
  c: Config,
  log: Logger,
  extra: Partial<BrokerOptions>,
): Promise<RunningBroker> {
  if (!c.DATABASE_URL) {
    if (c.BROKER_ALLOW_ANONYMOUS) return startBroker(brokerOptions(c, extra), log)

    throw new TelemetryError(
      'CONFIG_INVALID',
      'DATABASE_URL must be set for the device registry unless BROKER_ALLOW_ANONYMOUS=true',
    )
  }

  const db = { databaseUrl: c.DATABASE_URL, schema: c.PG_SCHEMA, poolSize: 2 }
  await migrate(db, log)

  const pool = createPool(db, log)
  try {
    const registry = new Registry(pool)
    const broker = await startBroker(brokerOptions(c, { ...extra, registry }), log)
    return { ...broker, close: () => broker.close().finally(() => pool.end()) }
  } catch (err) {
    await pool.end()
    throw err
  }
}
