import pg from 'pg'
import { Registry } from '../../broker/registry.js'

/** Broker settings for load runs: the registry in `schema`, no per-address rate limits (all load comes from loopback). */
export function loadBrokerEnv(databaseUrl: string, schema: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    PG_SCHEMA: schema,
    BROKER_ALLOW_ANONYMOUS: 'true',
    BROKER_CONNECTS_PER_MIN: '0',
    BROKER_AUTH_FAILS_PER_MIN: '0',
  }
}

/**
 * A service account (it may subscribe to every device's telemetry) in the
 * broker's registry, which the broker has migrated by the time it listens.
 * Its id is also the client id it must connect with.
 */
export async function serviceAccount(
  databaseUrl: string,
  schema: string,
  id: string,
): Promise<{ id: string; secret: string }> {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    options: `-c search_path=${schema}`,
    max: 1,
  })
  try {
    const registry = new Registry(pool)
    const secret = (await registry.add(id, 'service')) ?? (await registry.rotate(id))
    if (!secret) throw new Error(`could not create service account ${id}`)
    return { id, secret }
  } finally {
    await pool.end()
  }
}
