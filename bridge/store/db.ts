import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runner } from 'node-pg-migrate'
import pg from 'pg'
import type { Logger } from '../../common/logger.js'
import { backoffMs, sleep } from '../retry.js'

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

/**
 * Applies pending migrations. Safe to run twice and from two processes at
 * once: node-pg-migrate takes an advisory lock (one per schema here, so
 * schemas do not wait on each other) and fails when another process holds
 * it; this waits and tries again, and then finds nothing left to do.
 */
export async function migrate(opts: DbOptions, log: Logger): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await migrateOnce(opts, log)
    } catch (err) {
      const busy = err instanceof Error && /Another migration is already running/.test(err.message)
      if (!busy || attempt >= 60) throw err
      log.info({ attempt }, 'another process is migrating; waiting')
      await sleep(backoffMs(attempt, { baseMs: 100, capMs: 2_000 }))
    }
  }
}

async function migrateOnce(opts: DbOptions, log: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl: opts.databaseUrl,
    dir: migrationsDir(),
    direction: 'up',
    migrationsTable: 'pgmigrations',
    schema: opts.schema,
    createSchema: true,
    checkOrder: true,
    lockValue: schemaLockId(opts.schema),
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
