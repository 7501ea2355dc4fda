/** Spans of time partitions, all aligned in UTC. Pure. */
export type PartitionInterval = 'hour' | 'day' | 'week' | 'month'

export interface Range {
  /** Inclusive start, epoch ms. */
  from: number
  /** Exclusive end, epoch ms. */
  to: number
}

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Start of the partition holding `ms`. Weeks start on Monday, as date_trunc does. */
export function rangeStart(ms: number, interval: PartitionInterval): number {
  const d = new Date(ms)
  switch (interval) {
    case 'hour':
      return Math.floor(ms / HOUR) * HOUR
    case 'day':
      return Math.floor(ms / DAY) * DAY
    case 'week': {
      const day = Math.floor(ms / DAY) * DAY
      const sinceMonday = (d.getUTCDay() + 6) % 7
      return day - sinceMonday * DAY
    }
    case 'month':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  }
}

export function rangeOf(ms: number, interval: PartitionInterval): Range {
  const from = rangeStart(ms, interval)
  return { from, to: rangeEnd(from, interval) }
}

function rangeEnd(from: number, interval: PartitionInterval): number {
  switch (interval) {
    case 'hour':
      return from + HOUR
    case 'day':
      return from + DAY
    case 'week':
      return from + 7 * DAY
    case 'month': {
      const d = new Date(from)
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
    }
  }
}

/** The partition holding `now` and `ahead` more after it. */
export function upcoming(now: number, interval: PartitionInterval, ahead: number): Range[] {
  const out = [rangeOf(now, interval)]
  for (let i = 0; i < ahead; i++) {
    const last = out[out.length - 1] as Range
    out.push(rangeOf(last.to, interval))
  }
  return out
}

/** telemetry_p20261203, or telemetry_p2026120317 for hourly partitions. */
export function partitionName(range: Range, interval: PartitionInterval): string {
  const iso = new Date(range.from).toISOString()
  const date = iso.slice(0, 10).replaceAll('-', '')
  return interval === 'hour' ? `telemetry_p${date}${iso.slice(11, 13)}` : `telemetry_p${date}`
}

export function overlaps(a: Range, b: Range): boolean {
  return a.from < b.to && b.from < a.to
}

/**
 * Bounds of an existing partition from pg_get_expr(relpartbound), read in a
 * session whose TimeZone is UTC: FOR VALUES FROM ('2026-12-03 00:00:00+00')
 * TO ('2026-12-04 00:00:00+00'). Undefined for DEFAULT and for MINVALUE or
 * MAXVALUE bounds, which maintenance never touches.
 */
export function parseBound(bound: string): Range | undefined {
  const m = /^FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)$/.exec(bound)
  if (!m) return undefined
  const from = parsePgUtc(m[1] as string)
  const to = parsePgUtc(m[2] as string)
  return Number.isNaN(from) || Number.isNaN(to) ? undefined : { from, to }
}

function parsePgUtc(text: string): number {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)\+00$/.exec(text)
  return m ? Date.parse(`${m[1]}T${m[2]}Z`) : Number.NaN
}

/** How often maintenance runs: four times per partition span, at most hourly. */
export function maintenancePeriodMs(interval: PartitionInterval): number {
  return interval === 'hour' ? HOUR / 4 : HOUR
}
