import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceProfile } from '../../simulator/profile.js'
import { seededRand } from '../../simulator/random.js'

export interface RawCopyResult {
  rows: number
  rowsPerS: number
}

const COLUMNS = 'device_id, metric, ts, v_float, v_int, v_numeric, v_bool, v_text'

/**
 * `psql \copy` of CSV rows shaped like the simulator's (climate profile,
 * five readings per sample) into a fresh copy of the telemetry table in
 * the same schema: the database's own ingest ceiling on this machine.
 * The CSV is written before the clock starts.
 */
export function rawCopyBaseline(databaseUrl: string, schema: string, rows: number): RawCopyResult {
  const csv = join(tmpdir(), `${schema}-raw.csv`)
  const lines: string[] = []
  const t0 = Date.parse('2026-01-01T00:00:00Z')

  for (let d = 0; lines.length < rows; d++) {
    const device = `raw-${String(d % 1000).padStart(5, '0')}`
    const p = new DeviceProfile('climate', seededRand(d))
    for (let i = 0; i < 50 && lines.length < rows; i++) {
      const ts = new Date(t0 + Math.floor(d / 1000) * 50_000 + i * 1000).toISOString()
      const m = p.next(t0 + i * 1000)
      lines.push(`${device},seq,${ts},,${m.seq},,,\n`)
      lines.push(`${device},temp,${ts},${m.temp},,,,\n`)
      lines.push(`${device},rh,${ts},${m.rh},,,,\n`)
      lines.push(`${device},batt,${ts},${m.batt},,,,\n`)
      lines.push(`${device},door_open,${ts},,,,${m.door_open ? 't' : 'f'},\n`)
    }
  }
  lines.length = rows
  writeFileSync(csv, lines.join(''))

  const psql = (sql: string) =>
    execFileSync('psql', [databaseUrl, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: 'pipe' })

  try {
    psql(
      `DROP TABLE IF EXISTS ${schema}.raw_copy; CREATE TABLE ${schema}.raw_copy (LIKE ${schema}.telemetry INCLUDING ALL)`,
    )
    const started = performance.now()
    psql(`\\copy ${schema}.raw_copy (${COLUMNS}) FROM '${csv}' (FORMAT csv)`)
    const seconds = (performance.now() - started) / 1000
    psql(`DROP TABLE ${schema}.raw_copy`)
    return { rows, rowsPerS: Math.round(rows / seconds) }
  } finally {
    rmSync(csv, { force: true })
  }
}
