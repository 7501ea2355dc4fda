import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { Config } from '../../common/config.js'
import { loadConfig } from '../../common/config.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The real services every integration test talks to; `make test` provides them. */
export function serviceUrls(): { databaseUrl: string; redisUrl: string } {
  const databaseUrl = process.env.DATABASE_URL
  const redisUrl = process.env.REDIS_URL

  if (!databaseUrl || !redisUrl) {
    throw new Error('DATABASE_URL and REDIS_URL must be set: run the tests with `make test`')
  }

  return { databaseUrl, redisUrl }
}

/**
 * A configuration of its own for one test: a fresh Postgres schema, a fresh
 * Redis key prefix, a spool directory, free ports, quiet logs. All of it is removed afterwards.
 */
export function isolatedConfig(t: Teardown, env: Record<string, string> = {}): Config {
  const { databaseUrl, redisUrl } = serviceUrls()
  const id = randomBytes(5).toString('hex')
  const schema = `t_${id}`
  const prefix = `t:${id}`

  const spool = join(tmpdir(), `telemetry-spool-${id}`)

  t.teardown(() => dropIsolation(databaseUrl, redisUrl, schema, prefix))
  t.teardown(() => rmSync(spool, { recursive: true, force: true }))

  return loadConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    PG_SCHEMA: schema,
    REDIS_KEY_PREFIX: prefix,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    BROKER_ALLOW_ANONYMOUS: 'true',
    BRIDGE_CLIENT_ID: `bridge-${id}`,
    BATCH_MAX_AGE_MS: '50',
    SPOOL_DIR: spool,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Tests about auth turn it on with their own tokens (test/api-auth.test.ts).
    API_AUTH: 'none',
    ...env,
  })
}

async function dropIsolation(
  databaseUrl: string,
  redisUrl: string,
  schema: string,
  prefix: string,
) {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()

  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}:*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
}

/** Polls until `check` returns true, or fails after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs

  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }

  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** A Redis key prefix of the test's own, removed afterwards. */
export function isolatedPrefix(t: Teardown): { prefix: string; redis: Redis } {
  const prefix = `t:${randomBytes(5).toString('hex')}:broker:`
  const redis = new Redis(serviceUrls().redisUrl)

  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })

  return { prefix, redis }
}
