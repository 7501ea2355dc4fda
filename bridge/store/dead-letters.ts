import type pg from 'pg'
import type { RejectReason } from '../decode/index.js'

/** A refused message or reading, on its way to the dead_letters table. */
export interface DeadLetter {
  receivedUs: number
  topic: string
  payload: Buffer
  payloadBytes: number
  reason: RejectReason
  detail: string
  device?: string | undefined
  metric?: string | undefined
  sqlstate?: string | undefined
}

// Arrays of columns in, one set-based insert: a batch of dead letters costs
// one round trip whatever its size.
const INSERT_SQL = `INSERT INTO dead_letters
  (received_at, topic, payload, payload_bytes, reason, detail, device_id, metric, sqlstate)
  SELECT to_timestamp(r / 1e6), t, p, n, re, d, dev, m, s
  FROM unnest($1::float8[], $2::text[], $3::bytea[], $4::int[], $5::text[], $6::text[],
              $7::text[], $8::text[], $9::text[]) AS u(r, t, p, n, re, d, dev, m, s)`

// Postgres text cannot hold U+0000 and topics are untrusted: make every
// text column storable so a dead letter itself can never fail.
function storable(s: string | undefined, max: number): string | null {
  if (s === undefined) return null
  return s.slice(0, max).replaceAll('\0', '\uFFFD').toWellFormed()
}

export async function writeDeadLetters(
  pool: pg.Pool,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return

  const cols: unknown[][] = [[], [], [], [], [], [], [], [], []]

  for (const l of letters) {
    const row = [
      l.receivedUs,
      storable(l.topic, 1024),
      l.payload,
      l.payloadBytes,
      l.reason,
      storable(l.detail, 1024),
      storable(l.device, 256),
      storable(l.metric, 1024),
      l.sqlstate ?? null,
    ]
    for (const [i, v] of row.entries()) cols[i]?.push(v)
  }

  await pool.query(INSERT_SQL, cols)
}
