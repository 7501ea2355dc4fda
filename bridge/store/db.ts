import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runner } from 'node-pg-migrate'
import pg from 'pg'
import type { Logger } from '../../common/logger.js'

export interface DbOptions {
  databaseUrl: string
  schema: string
  poolSize: number
}

// Migrations are plain SQL files, not compiled: from dist/ they are found
// back in the source tree.
function migrationsDir(): string {
  const beside = fileURLToPath(new URL('../migrations', import.meta.url))
  const fromDist = fileURLToPath(new URL('../../../bridge/migrations', import.meta.url))
  return existsSync(beside) ? beside : fromDist
}

/**
 * A pool whose every client has an error listener: a database restart or a
 * terminated backend is logged and the client discarded, never a crash.
 */
export function createPool(opts: DbOptions, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.databaseUrl,
    max: opts.poolSize,
    // The schema is validated as an identifier at start-up (variables.ts).
    options: `-c search_path=${opts.schema}`,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: 'telemetry-bridge',
  })

  pool.on('error', (err) => log.warn({ err }, 'idle postgres client failed'))
  return pool
}

// node-pg-migrate only tries its advisory lock and throws "Another migration
// is already running" when it is held; a second bridge starting at the same
// moment must wait its turn instead, so we hold a blocking lock of our own,
// one per schema so that schemas do not wait on each other.

/** Applies pending migrations. Safe to run twice and from two processes at once (advisory lock). */
export async function migrate(opts: DbOptions, log: Logger): Promise<string[]> {
  const client = new pg.Client({ connectionString: opts.databaseUrl })
  await client.connect()

  try {
    await client.query('SELECT pg_advisory_lock($1)', [schemaLockId(opts.schema)])
    return await migrateLocked(client, opts, log)
  } finally {
    await client.end()
  }
}

async function migrateLocked(client: pg.Client, opts: DbOptions, log: Logger): Promise<string[]> {
  const applied = await runner({
    dbClient: client,
    noLock: true,
    dir: migrationsDir(),
    direction: 'up',
    migrationsTable: 'pgmigrations',
    schema: opts.schema,
    createSchema: true,
    checkOrder: true,
    logger: {
      debug: (msg: string) => log.debug({ msg }, 'migrate'),
      info: (msg: string) => log.debug({ msg }, 'migrate'),
      warn: (msg: string) => log.warn({ msg }, 'migrate'),
      error: (msg: string) => log.error({ msg }, 'migrate'),
    },
  })

  const names = applied.map((m) => m.name)
  if (names.length > 0) log.info({ migrations: names }, 'migrations applied')
  return names
}

/** A stable 32-bit advisory lock key per schema. */
function schemaLockId(schema: string): number {
  return createHash('sha256').update(`telemetry-migrate:${schema}`).digest().readInt32BE(0)
}
