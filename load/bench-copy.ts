/**
 * The COPY writer against raw `psql \copy` of the same rows into the same
 * table layout (each into its own schema, migrated and partitioned alike),
 * in one run, so the result is a ratio. Also measures the
 * alternative the writer did not choose: binary COPY straight into the
 * table (fast, but a redelivered batch would fail on the primary key).
 *
 * Run: make bench, or DATABASE_URL=… npx tsx load/bench-copy.ts [rows] [batchRows]
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { from as copyFrom } from 'pg-copy-streams'
import { encodeTelemetryCopy, TELEMETRY_COLUMNS } from '../bridge/copy/binary.js'
import { isoUs } from '../bridge/decode/index.js'
import { BridgeMetrics } from '../bridge/metrics.js'
import type { Reading } from '../bridge/reading.js'
import { createPool, migrate } from '../bridge/store/db.js'
import { PartitionMaintainer } from '../bridge/store/partitions.js'
import { BatchWriter } from '../bridge/writer.js'
import { createLogger } from '../common/logger.js'

const rows = Number(process.argv[2] ?? 1_000_000)
const batchRows = Number(process.argv[3] ?? 5_000)
const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) throw new Error('DATABASE_URL must be set (make bench sets it)')

const log = createLogger('warn')
const schema = `bench_${Date.now().toString(36)}`
const schemas = { writer: `${schema}_w`, raw: `${schema}_r`, direct: `${schema}_d` }
const db = { databaseUrl, schema: schemas.writer, poolSize: 2 }
const T0 = Date.parse('2026-01-01T00:00:00Z') * 1000

// 5 metrics per message, 1,000 devices, realistic floats and ints.
const readings: Reading[] = []
for (let i = 0; readings.length < rows; i++) {
  const device = `dev-${String(i % 1000).padStart(5, '0')}`
  const tsUs = T0 + Math.floor(i / 1000) * 1000
  readings.push({
    device,
    metric: 'temp',
    tsUs,
    value: { kind: 'float', value: 20 + (i % 97) / 10 },
  })
  readings.push({ device, metric: 'rh', tsUs, value: { kind: 'float', value: 40 + (i % 53) / 10 } })
  readings.push({
    device,
    metric: 'batt',
    tsUs,
    value: { kind: 'float', value: 90 - (i % 89) / 100 },
  })
  readings.push({ device, metric: 'seq', tsUs, value: { kind: 'int', value: BigInt(i) } })
  readings.push({ device, metric: 'door', tsUs, value: { kind: 'bool', value: i % 7 === 0 } })
}
readings.length = rows

// The same migrations and the same day partition in each schema.
for (const s of Object.values(schemas)) {
  const one = { ...db, schema: s }
  await migrate(one, log)
  const p = createPool(one, log)
  const opts = { interval: 'day', premake: 1, retentionDays: 0 } as const
  await new PartitionMaintainer(p, opts, log, () => T0 / 1000).runOnce()
  await p.end()
}
const pool = createPool(db, log)
const psql = (sql: string) =>
  execFileSync('psql', [databaseUrl, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql])

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const start = performance.now()
  await fn()
  return (performance.now() - start) / 1000
}

// 1. Raw psql \copy of a CSV of the same rows (file written before timing).
const csv = join(tmpdir(), `${schema}.csv`)
writeFileSync(csv, readings.map(csvRow).join(''))
const rawS = await timed(() => {
  psql(`\\copy ${schemas.raw}.telemetry (${TELEMETRY_COLUMNS}) FROM '${csv}' (FORMAT csv)`)
})

// 2. The writer: binary COPY into staging + INSERT … ON CONFLICT, per batch.
const writer = new BatchWriter(
  pool,
  { copyTimeoutMs: 120_000, retryBaseMs: 100, retryCapMs: 1000 },
  new BridgeMetrics(false),
  log,
)
const batchMs: number[] = []
const writerS = await timed(async () => {
  for (let i = 0; i < rows; i += batchRows) {
    const start = performance.now()
    await writer.store(readings.slice(i, i + batchRows), new AbortController().signal)
    batchMs.push(performance.now() - start)
  }
})

// 3. Not chosen: binary COPY straight into a keyed table (no idempotency).
const directS = await timed(async () => {
  for (let i = 0; i < rows; i += batchRows) {
    const client = await pool.connect()
    try {
      const copy = client.query(
        copyFrom(
          `COPY ${schemas.direct}.telemetry (${TELEMETRY_COLUMNS}) FROM STDIN (FORMAT binary)`,
        ),
      )
      await pipeline(Readable.from(encodeTelemetryCopy(readings.slice(i, i + batchRows))), copy)
    } finally {
      client.release()
    }
  }
})

const { rows: check } = await pool.query(
  'SELECT count(*)::int AS n FROM telemetry_p20260101 UNION ALL SELECT count(*)::int FROM telemetry',
)
batchMs.sort((a, b) => a - b)
const pct = (p: number) =>
  Math.round(batchMs[Math.min(batchMs.length - 1, Math.floor(p * batchMs.length))] ?? 0)

console.log(
  JSON.stringify({
    rows,
    batchRows,
    writerRowsPerS: Math.round(rows / writerS),
    rawPsqlCopyRowsPerS: Math.round(rows / rawS),
    directBinaryCopyRowsPerS: Math.round(rows / directS),
    ratioWriterToRaw: Number((rawS / writerS).toFixed(2)),
    batchMsP50: pct(0.5),
    batchMsP99: pct(0.99),
    rowsStored: check[1].n,
    rowsInDayPartition: check[0].n,
  }),
)

psql(`SET client_min_messages = warning; DROP SCHEMA ${Object.values(schemas).join(', ')} CASCADE`)
await pool.end()

function csvRow(r: Reading): string {
  const v = r.value
  const cols = ['', '', '', '', '', '', '', '']
  const at = { float: 1, int: 2, numeric: 3, bool: 4, string: 5, json: 7 }[v.kind]
  cols[at] = v.kind === 'bool' ? (v.value ? 't' : 'f') : String(v.value)
  return `${r.device},${r.metric},${isoUs(r.tsUs)},${cols.slice(1).join(',')}\n`
}
