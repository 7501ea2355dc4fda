import type pg from 'pg'
import type { DeviceLastValue, LastValue } from './last-values.js'
import { valueJson } from './last-values.js'

/**
 * Newest rows of the telemetry table, read the way the last-value store
 * holds them: for Redis rebuilds and for reads while Redis is away.
 *
 * "Newest per (device, metric)" is a loose index scan: a recursive query
 * hops from one (device, metric) pair to the next through the primary key
 * (device_id, metric, ts), and for each pair one backward index step finds
 * the newest row. Cost grows with the number of pairs, not of rows, unlike
 * DISTINCT ON, which reads every row. With time partitions each hop and
 * each newest-row step is a merge over the partitions' own key indexes.
 */

/** The value columns as exact text (bigint, numeric, jsonb) or typed (float, bool). */
export const VALUE_COLUMNS = `
  v_float, v_int::text AS v_int, v_numeric::text AS v_numeric, v_bool,
  v_text, v_bytes, v_json::text AS v_json`

export const VALUE_SELECT = `(extract(epoch FROM ts) * 1000000)::bigint::text AS ts_us, ${VALUE_COLUMNS}`

export interface ValueRow {
  ts_us: string
  v_float: number | null
  v_int: string | null
  v_numeric: string | null
  v_bool: boolean | null
  v_text: string | null
  /** A string holding U+0000, which text cannot: UTF-8 bytes. */
  v_bytes: Buffer | null
  v_json: string | null
}

/** A row's value as the store encodes it: kind and exact JSON text. */
export function rowValue(r: ValueRow): LastValue {
  const tsUs = Number(r.ts_us)

  if (r.v_float !== null)
    return { tsUs, kind: 'float', json: valueJson({ kind: 'float', value: r.v_float }) }
  if (r.v_int !== null) return { tsUs, kind: 'int', json: r.v_int }
  if (r.v_numeric !== null) return { tsUs, kind: 'numeric', json: r.v_numeric }
  if (r.v_bool !== null) return { tsUs, kind: 'bool', json: r.v_bool ? 'true' : 'false' }
  if (r.v_text !== null) return { tsUs, kind: 'string', json: JSON.stringify(r.v_text) }
  if (r.v_bytes !== null)
    return { tsUs, kind: 'string', json: JSON.stringify(r.v_bytes.toString('utf8')) }
  return { tsUs, kind: 'json', json: r.v_json ?? 'null' }
}

const NEWEST_ROW = `
  SELECT ${VALUE_SELECT} FROM telemetry t
  WHERE t.device_id = p.device_id AND t.metric = p.metric
  ORDER BY t.ts DESC LIMIT 1`

const DEVICE_LATEST = `
  WITH RECURSIVE p(device_id, metric) AS (
    (SELECT device_id, metric FROM telemetry
     WHERE device_id = $1 ORDER BY metric LIMIT 1)
    UNION ALL
    SELECT n.device_id, n.metric FROM p, LATERAL (
      SELECT device_id, metric FROM telemetry t
      WHERE t.device_id = $1 AND t.metric > p.metric
      ORDER BY t.metric LIMIT 1) n
  )
  SELECT p.metric, v.* FROM p CROSS JOIN LATERAL (${NEWEST_ROW}) v`

const METRIC_LATEST = `
  SELECT ${VALUE_SELECT} FROM telemetry
  WHERE device_id = $1 AND metric = $2
  ORDER BY ts DESC LIMIT 1`

const PAGE = `
  WITH RECURSIVE p(device_id, metric) AS (
    (SELECT device_id, metric FROM telemetry
     WHERE (device_id, metric) > ($1, $2) ORDER BY device_id, metric LIMIT 1)
    UNION ALL
    SELECT n.device_id, n.metric FROM p, LATERAL (
      SELECT device_id, metric FROM telemetry t
      WHERE (t.device_id, t.metric) > (p.device_id, p.metric)
      ORDER BY t.device_id, t.metric LIMIT 1) n
  )
  SELECT p.device_id, p.metric, v.*
  FROM (SELECT * FROM p LIMIT $3) p CROSS JOIN LATERAL (${NEWEST_ROW}) v`

type Queryable = Pick<pg.Pool, 'query'>

/** Every metric's newest value of one device; empty for an unknown device. */
export async function deviceLatestFromPg(
  db: Queryable,
  device: string,
): Promise<Map<string, LastValue>> {
  const { rows } = await db.query<ValueRow & { metric: string }>(DEVICE_LATEST, [device])
  return new Map(rows.map((r) => [r.metric, rowValue(r)]))
}

export async function metricLatestFromPg(
  db: Queryable,
  device: string,
  metric: string,
): Promise<LastValue | undefined> {
  const { rows } = await db.query<ValueRow>(METRIC_LATEST, [device, metric])
  return rows[0] && rowValue(rows[0])
}

/** Up to `limit` (device, metric) pairs after the given one, each with its newest value. */
export async function newestPage(
  db: Queryable,
  after: { device: string; metric: string },
  limit: number,
): Promise<DeviceLastValue[]> {
  const { rows } = await db.query<ValueRow & { device_id: string; metric: string }>(PAGE, [
    after.device,
    after.metric,
    limit,
  ])

  return rows.map((r) => ({ device: r.device_id, metric: r.metric, ...rowValue(r) }))
}
