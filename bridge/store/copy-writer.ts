import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { TelemetryError } from '../../common/errors.js'
import { encodeTelemetryCopy, TELEMETRY_COLUMNS } from '../copy/binary.js'
import type { Reading } from '../reading.js'

export interface CopyResult {
  /** Rows new to the table. */
  inserted: number
  /** Rows whose (device, metric, ts) was already stored: redeliveries. */
  duplicates: number
}

const COLUMNS = TELEMETRY_COLUMNS.join(', ')

// ON COMMIT DELETE ROWS empties the staging table at each commit, so it is
// created once per connection and reused by every batch on it.
const CREATE_STAGING = `CREATE TEMP TABLE IF NOT EXISTS telemetry_staging
  (LIKE telemetry INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`

const STAGED_COPY = `COPY telemetry_staging (${COLUMNS}) FROM STDIN (FORMAT binary)`
const DIRECT_COPY = `COPY telemetry (${COLUMNS}) FROM STDIN (FORMAT binary)`

// First write wins: a redelivered reading is the same reading, and a device
// that sends another value for the same instant does not rewrite history.
const MERGE_SQL = `INSERT INTO telemetry (${COLUMNS})
  SELECT ${COLUMNS} FROM telemetry_staging
  ON CONFLICT (device_id, metric, ts) DO NOTHING`

// unique_violation: some row of the batch is already stored (a redelivery).
const UNIQUE_VIOLATION = '23505'

const staged = new WeakSet<pg.PoolClient>()

/**
 * Writes one batch atomically so that a batch written twice leaves one copy
 * of each row. Optimistic: a plain binary COPY into the table (one
 * statement, no merge), and only when the primary key says some rows are
 * already there, again through a staging table merged with
 * INSERT … ON CONFLICT DO NOTHING. load/bench-copy.ts measured the staged
 * path alone at about half the speed of the direct one. Any failure rolls
 * the batch back and is thrown for the caller to classify (sqlstate.ts).
 */
export async function copyBatch(
  pool: pg.Pool,
  readings: readonly Reading[],
  timeoutMs: number,
): Promise<CopyResult> {
  const chunks = encodeTelemetryCopy(readings)

  try {
    await withClient(pool, (client) => streamCopy(client, DIRECT_COPY, chunks, timeoutMs))
    return { inserted: readings.length, duplicates: 0 }
  } catch (err) {
    if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err
  }

  const inserted = await withClient(pool, (client) => mergeCopy(client, chunks, timeoutMs))
  return { inserted, duplicates: readings.length - inserted }
}

async function mergeCopy(
  client: pg.PoolClient,
  chunks: Buffer[],
  timeoutMs: number,
): Promise<number> {
  if (!staged.has(client)) {
    await client.query(CREATE_STAGING)
    staged.add(client)
  }

  await client.query('BEGIN')
  await streamCopy(client, STAGED_COPY, chunks, timeoutMs)
  const merged = await client.query(MERGE_SQL)
  await client.query('COMMIT')
  return merged.rowCount ?? 0
}

/**
 * Runs `fn` on a checked-out client that has an error listener for its
 * whole loan, rolls back on failure, and destroys the client when it may be
 * unusable.
 */
async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined

  const onError = (err: Error) => {
    broken = err
  }
  client.on('error', onError)

  try {
    return await fn(client)
  } catch (err) {
    // After a timeout the connection may be wedged: discard it rather than
    // wait on a ROLLBACK that may never answer.
    const timedOut = err instanceof TelemetryError && err.code === 'COPY_TIMEOUT'
    broken ??= timedOut ? err : await rollback(client)
    throw err
  } finally {
    client.off('error', onError)
    // A client that failed mid-protocol cannot be trusted with the next batch.
    client.release(broken ?? false)
  }
}

async function streamCopy(
  client: pg.PoolClient,
  sql: string,
  chunks: Buffer[],
  timeoutMs: number,
): Promise<void> {
  const copy = client.query(copyFrom(sql))
  const signal = AbortSignal.timeout(timeoutMs)

  try {
    // Destroying the COPY stream on abort sends CopyFail, so the server
    // rolls the statement back instead of waiting for more rows.
    await pipeline(Readable.from(chunks, { objectMode: false }), copy, { signal })
  } catch (err) {
    if (!signal.aborted) throw err
    throw new TelemetryError('COPY_TIMEOUT', `COPY did not finish within ${timeoutMs} ms`, {
      cause: err,
    })
  }
}

async function rollback(client: pg.PoolClient): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK')
    return undefined
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err))
  }
}
