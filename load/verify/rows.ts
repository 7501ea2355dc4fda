import { createInterface } from 'node:readline'
import type pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import type { SeqRow } from './judge.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/

/** `LIKE` pattern text matching ids that start with `prefix`, as a SQL literal. */
function likePrefix(prefix: string): string {
  const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll("'", "''")
  return `'${escaped}%'`
}

/**
 * Every `seq` row of the devices whose id starts with `prefix`, streamed
 * with COPY so a million rows cost one pass and little memory per row.
 */
export async function seqRows(
  pool: pg.Pool,
  schema: string,
  prefix: string,
): Promise<Map<string, SeqRow[]>> {
  if (!IDENTIFIER.test(schema))
    throw new Error(`expected a lowercase SQL identifier, got ${JSON.stringify(schema)}`)

  const sql =
    `COPY (SELECT device_id, v_int, (extract(epoch FROM ts) * 1000000)::bigint ` +
    `FROM ${schema}.telemetry WHERE metric = 'seq' AND v_int IS NOT NULL ` +
    `AND device_id LIKE ${likePrefix(prefix)}) TO STDOUT`
  const client = await pool.connect()
  const out = new Map<string, SeqRow[]>()

  try {
    const lines = createInterface({ input: client.query(copyTo(sql)), crlfDelay: Infinity })

    for await (const line of lines) {
      const [device = '', seq, ts] = line.split('\t')
      const row = { seq: Number(seq), tsUs: Number(ts) }
      const list = out.get(device)

      if (list) list.push(row)
      else out.set(device, [row])
    }
  } finally {
    client.release()
  }

  return out
}

/** Dead letters per reason for the devices whose id starts with `prefix`. */
export async function deadLetterCounts(
  pool: pg.Pool,
  schema: string,
  prefix: string,
): Promise<Record<string, number>> {
  if (!IDENTIFIER.test(schema))
    throw new Error(`expected a lowercase SQL identifier, got ${JSON.stringify(schema)}`)

  const { rows } = await pool.query<{ reason: string; n: number }>(
    `SELECT reason, count(*)::int AS n FROM ${schema}.dead_letters
     WHERE starts_with(device_id, $1) GROUP BY reason`,
    [prefix],
  )

  return Object.fromEntries(rows.map((r) => [r.reason, r.n]))
}
