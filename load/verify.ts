/**
 * Checks a simulator run against Postgres and the HTTP API: lost,
 * duplicated and out-of-order readings, and each device's latest.
 *
 * Run: DATABASE_URL=… npx tsx load/verify.ts --ledger run.ndjson --prefix sim-
 *      [--schema public] [--http http://127.0.0.1:8080] [--token T]
 * Exit status 0 when the run is clean, 1 otherwise; the report is JSON on stdout.
 */
import { parseArgs } from 'node:util'
import pg from 'pg'
import { readLedger } from '../simulator/ledger.js'
import { verifyRun } from './verify/index.js'

const { values } = parseArgs({
  options: {
    ledger: { type: 'string' },
    prefix: { type: 'string', default: 'sim-' },
    schema: { type: 'string', default: process.env.PG_SCHEMA ?? 'public' },
    http: { type: 'string' },
    token: { type: 'string' },
  },
})

if (!values.ledger || !process.env.DATABASE_URL) {
  process.stderr.write(
    'usage: DATABASE_URL=… load/verify.ts --ledger FILE [--prefix P] [--schema S] [--http URL] [--token T]\n',
  )
  process.exit(2)
}

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 })

try {
  const ledger = await readLedger(values.ledger)
  const report = await verifyRun(ledger, {
    pool,
    schema: values.schema,
    prefix: values.prefix,
    ...(values.http
      ? {
          latest: {
            kind: 'http',
            baseUrl: values.http,
            ...(values.token ? { token: values.token } : {}),
          },
        }
      : {}),
  })

  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  process.exitCode = report.ok ? 0 : 1
} finally {
  await pool.end()
}
