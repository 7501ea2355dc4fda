import type { Metrics } from './profile.js'
import type { Rand } from './random.js'

/**
 * How a device lays out its samples, all forms docs/data-contract.md
 * accepts on `devices/{device}/telemetry`:
 * - `flat`: `{ts, seq, temp, …}`
 * - `values`: `{ts, values: {seq, temp, …}}`
 * - `array`: `[{ts, seq, …}, …]`, several samples in one message
 */
export type PayloadFormat = 'flat' | 'values' | 'array'

export const PAYLOAD_FORMATS: readonly PayloadFormat[] = ['flat', 'values', 'array']

/**
 * How the timestamp is written: epoch milliseconds, epoch seconds with a
 * fraction, epoch microseconds, ISO 8601 in UTC or with an offset, or not
 * at all (the bridge then uses its receive time).
 */
export type TimestampForm = 'ms' | 's' | 'us' | 'iso' | 'iso-offset' | 'none'

export const TIMESTAMP_FORMS: readonly TimestampForm[] = [
  'ms',
  's',
  'us',
  'iso',
  'iso-offset',
  'none',
]

/**
 * Malformed payloads and the reason code the bridge gives each (see
 * docs/data-contract.md); the whole message is refused.
 */
export type Malformation = 'invalid_json' | 'non_finite_number' | 'not_an_object' | 'ts_invalid'

export const MALFORMATIONS: readonly Malformation[] = [
  'invalid_json',
  'non_finite_number',
  'not_an_object',
  'ts_invalid',
]

export interface Sample {
  /** Microseconds since the epoch. */
  tsUs: number
  metrics: Metrics
}

/** The finest step each form can write, µs: two samples must differ by it. */
export function resolutionUs(form: TimestampForm): number {
  return form === 'ms' || form === 's' ? 1000 : 1
}

export function formatTimestamp(tsUs: number, form: TimestampForm): string | number | undefined {
  const ms = Math.floor(tsUs / 1000)

  switch (form) {
    case 'ms':
      return ms
    case 's':
      // Three decimals: the decoder keeps every digit of a fraction.
      return Number((ms / 1000).toFixed(3))
    case 'us':
      return tsUs
    case 'iso':
      return isoMicros(tsUs, 0)
    case 'iso-offset':
      return isoMicros(tsUs, 120)
    case 'none':
      return undefined
  }
}

/** The JSON text of one message carrying `samples` (one unless `array`). */
export function encodePayload(
  samples: readonly Sample[],
  format: PayloadFormat,
  form: TimestampForm,
): string {
  const objects = samples.map((s) => {
    const ts = formatTimestamp(s.tsUs, form)
    const head = ts === undefined ? {} : { ts }

    return format === 'values' ? { ...head, values: s.metrics } : { ...head, ...s.metrics }
  })

  return JSON.stringify(format === 'array' ? objects : objects[0])
}

/** A payload the bridge must refuse with `kind`'s reason; it still names its seq. */
export function malformedPayload(
  kind: Malformation,
  seq: number,
  tsMs: number,
  rand: Rand,
): string {
  switch (kind) {
    case 'invalid_json':
      return `{"ts":${tsMs},"seq":${seq},"temp":${(rand() * 30).toFixed(1)}`
    case 'non_finite_number':
      return `{"ts":${tsMs},"seq":${seq},"temp":NaN}`
    case 'not_an_object':
      return JSON.stringify(`seq ${seq} offline`)
    case 'ts_invalid':
      return JSON.stringify({ ts: 'yesterday', seq })
  }
}

/** ISO 8601 with microseconds, in UTC (`Z`) or at a positive offset. */
function isoMicros(tsUs: number, offsetMin: number): string {
  const ms = Math.floor(tsUs / 1000)
  const micros = String(tsUs - ms * 1000).padStart(3, '0')
  const local = `${new Date(ms + offsetMin * 60_000).toISOString().slice(0, -1)}${micros}`

  if (offsetMin === 0) return `${local}Z`

  const sign = offsetMin >= 0 ? '+' : '-'
  const abs = Math.abs(offsetMin)
  const hh = String(Math.floor(abs / 60)).padStart(2, '0')
  const mm = String(abs % 60).padStart(2, '0')

  return `${local}${sign}${hh}:${mm}`
}
