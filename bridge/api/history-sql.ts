import type pg from 'pg'
import type { LastValue } from '../store/last-values.js'
import type { ValueRow } from '../store/last-values-pg.js'
import { rowValue, VALUE_COLUMNS, VALUE_SELECT } from '../store/last-values-pg.js'

export const AGGREGATES = ['min', 'max', 'avg', 'sum', 'count', 'last'] as const
export type Aggregate = (typeof AGGREGATES)[number]

export interface HistoryQuery {
  device: string
  metric: string
  /** ISO 8601 instants, inclusive and exclusive. */
  from: string
  to: string
  limit: number
}

/** One point of a series: a reading, or a bucket's aggregate at the bucket's start. */
export type Point = LastValue

const RANGE = `device_id = $1 AND metric = $2 AND ts >= $3::timestamptz AND ts < $4::timestamptz`

const RAW = `SELECT ${VALUE_SELECT} FROM telemetry WHERE ${RANGE} ORDER BY ts LIMIT $5`

// Buckets start at whole multiples of the width counted from 2000-01-01 UTC,
// whatever the session's time zone (date_bin, Postgres 14+).
const BUCKET = `date_bin($5::interval, ts, timestamptz '2000-01-01T00:00:00Z')`
const BUCKET_US = `(extract(epoch FROM b) * 1000000)::bigint::text AS ts_us`

// Floats make the bucket's result a float; ints and numerics alone stay exact.
const AS_FLOAT = `coalesce(v_float, v_int::float8, v_numeric::float8)`
const AS_EXACT = `coalesce(v_int::numeric, v_numeric)`
const NUMERIC_ROWS = `count(v_float) + count(v_int) + count(v_numeric)`

function aggregateSql(agg: Exclude<Aggregate, 'last'>): string {
  const value =
    agg === 'count'
      ? `count(*)::text AS value, 'count' AS kind`
      : agg === 'avg'
        ? `avg(${AS_FLOAT})::text AS value, 'float' AS kind`
        : `CASE WHEN count(v_float) > 0 THEN ${agg}(${AS_FLOAT})::text
                ELSE ${agg}(${AS_EXACT})::text END AS value,
           CASE WHEN count(v_float) > 0 THEN 'float' ELSE 'exact' END AS kind`
  // count counts every reading; the others only numeric ones.
  const having = agg === 'count' ? '' : `HAVING ${NUMERIC_ROWS} > 0`

  return `SELECT ${BUCKET_US}, ${value}
    FROM (SELECT ${BUCKET} AS b, * FROM telemetry WHERE ${RANGE}) s
    GROUP BY b ${having} ORDER BY b LIMIT $6`
}

const LAST = `SELECT DISTINCT ON (b) ${BUCKET_US}, ${VALUE_COLUMNS}
  FROM (SELECT ${BUCKET} AS b, * FROM telemetry WHERE ${RANGE}) s
  ORDER BY b, ts DESC LIMIT $6`

const INT8_MAX = 9223372036854775807n

/** Readings in [from, to), oldest first, at most `limit`. */
export async function rawHistory(db: pg.Pool, q: HistoryQuery): Promise<Point[]> {
  const params = [q.device, q.metric, q.from, q.to, q.limit]
  const { rows } = await db.query<ValueRow>(RAW, params)
  return rows.map(rowValue)
}

/** One point per non-empty bucket of `interval` in [from, to), at most `limit`. */
export async function bucketHistory(
  db: pg.Pool,
  q: HistoryQuery,
  interval: string,
  agg: Aggregate,
): Promise<Point[]> {
  const params = [q.device, q.metric, q.from, q.to, interval, q.limit]

  if (agg === 'last') {
    const { rows } = await db.query<ValueRow>(LAST, params)
    return rows.map(rowValue)
  }

  const { rows } = await db.query<{ ts_us: string; value: string; kind: string }>(
    aggregateSql(agg),
    params,
  )

  return rows.map((r) => ({ tsUs: Number(r.ts_us), kind: kindOf(r.kind, r.value), json: r.value }))
}

/** Whether the device has any reading at all (tells 404 from an empty range). */
export async function deviceKnown(db: pg.Pool, device: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM telemetry WHERE device_id = $1 LIMIT 1', [
    device,
  ])
  return (rowCount ?? 0) > 0
}

function kindOf(kind: string, text: string): Point['kind'] {
  if (kind === 'float') return 'float'
  if (kind === 'count') return 'int'
  if (!/^-?\d+$/.test(text)) return 'numeric'

  const n = BigInt(text)
  return n <= INT8_MAX && n >= -INT8_MAX - 1n ? 'int' : 'numeric'
}
