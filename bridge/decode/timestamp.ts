import { ExactNumber } from './json.js'
import type { RejectReason } from './reasons.js'

export type TsResult =
  | { ok: true; tsUs: number }
  | { ok: false; reason: RejectReason; detail: string }

export interface TsLimits {
  /** Oldest accepted instant, µs since the epoch. */
  minUs: number
  /** How far ahead of receive time a reading may be, µs. */
  maxFutureUs: number
}

// An exponent is allowed: json.ts hands `1.717e9` over as text, not a double.
const EPOCH_DIGITS = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/

// ISO 8601 / RFC 3339 date-time. Seconds are required; the fraction may
// carry up to nanoseconds; the zone is Z, ±hh:mm or ±hhmm, or absent.
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/

/**
 * Epoch numbers are told apart by magnitude: below 1e11 seconds (that is
 * until year 5138), below 1e14 milliseconds, below 1e17 microseconds, else
 * nanoseconds. Digits beyond the microsecond are truncated.
 */
function fromEpochDigits(text: string): TsResult {
  const m = EPOCH_DIGITS.exec(text)

  if (!m) return invalid(text)

  const [sign, int, frac] = movePoint(m)
  const whole = BigInt(int)
  const perUnitUs =
    whole < 100_000_000_000n ? 6 : whole < 100_000_000_000_000n ? 3 : whole < 10n ** 17n ? 0 : -3
  const digits = `${int}${frac}`
  const shift = perUnitUs - frac.length
  const us =
    shift >= 0 ? BigInt(digits) * 10n ** BigInt(shift) : BigInt(digits) / 10n ** BigInt(-shift)
  const signed = sign === '-' ? -us : us

  if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < -BigInt(Number.MAX_SAFE_INTEGER)) {
    return {
      ok: false,
      // Far before the epoch is too old, not in the future.
      reason: signed < 0n ? 'ts_too_old' : 'ts_in_future',
      detail: `timestamp ${text.slice(0, 40)} is out of range`,
    }
  }

  return { ok: true, tsUs: Number(signed) }
}

/**
 * Applies the exponent to the digits: `1.717e9` → `1717000000`. The point
 * is kept within 7 places before and 40 after the first digit: beyond,
 * the result is 0 µs or out of range either way, and padding stays cheap.
 */
function movePoint(m: RegExpExecArray): [sign: string, int: string, frac: string] {
  const [, sign = '', int = '0', frac = '', exp] = m

  if (exp === undefined) return [sign, int, frac]

  const digits = `${int}${frac}`.replace(/^0+/, '')
  const lead = int.length + frac.length - digits.length
  const point = Math.max(-7, Math.min(40, int.length - lead + Number(exp)))

  if (point <= 0) return [sign, '0', `${'0'.repeat(-point)}${digits}`]

  return [sign, digits.slice(0, point).padEnd(point, '0'), digits.slice(point)]
}

function fromNumber(n: number): TsResult {
  if (!Number.isFinite(n)) return invalid(String(n))

  // Numbers of 16 digits or more take the exact path (json.ts), so no
  // nanoseconds arrive here and rounding removes float noise only.
  const a = Math.abs(n)
  const scale = a < 1e11 ? 1e6 : a < 1e14 ? 1e3 : 1

  return { ok: true, tsUs: Math.round(n * scale) }
}

/** ISO text without a zone is read as UTC; docs/data-contract.md says so. */
function fromIso(text: string): TsResult {
  const m = ISO.exec(text)

  if (!m) return invalid(text)

  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
  const check = new Date(ms)

  // Date.UTC rolls 31 February into March; a real date reads back the same.
  const rolled = check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)

  if (rolled || check.getUTCHours() !== Number(h) || Number(s) > 59) {
    return invalid(text)
  }

  const offsetMin = zoneMinutes(zone)
  const fracUs = Number(frac.padEnd(6, '0').slice(0, 6))

  return { ok: true, tsUs: (ms - offsetMin * 60_000) * 1000 + fracUs }
}

function zoneMinutes(zone: string): number {
  if (zone === 'Z' || zone === 'z') return 0

  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')

  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)))
}

function invalid(text: string): TsResult {
  return {
    ok: false,
    reason: 'ts_invalid',
    detail: `unrecognised timestamp ${JSON.stringify(text.slice(0, 64))}`,
  }
}

export function parseTimestamp(raw: unknown): TsResult {
  if (typeof raw === 'number') return fromNumber(raw)
  if (raw instanceof ExactNumber) return fromEpochDigits(raw.value)
  if (typeof raw !== 'string') return invalid(String(raw))
  if (EPOCH_DIGITS.test(raw)) return fromEpochDigits(raw)

  return fromIso(raw)
}

export function checkRange(tsUs: number, receivedUs: number, limits: TsLimits): TsResult {
  if (tsUs < limits.minUs) {
    return {
      ok: false,
      reason: 'ts_too_old',
      detail: `timestamp ${isoUs(tsUs)} is older than the floor`,
    }
  }

  if (tsUs - receivedUs > limits.maxFutureUs) {
    return {
      ok: false,
      reason: 'ts_in_future',
      detail: `timestamp ${isoUs(tsUs)} is ahead of receive time`,
    }
  }

  return { ok: true, tsUs }
}

/** ISO 8601 UTC with microseconds and `Z`, whatever the process time zone. */
export function isoUs(tsUs: number): string {
  const ms = Math.floor(tsUs / 1000)
  const us = tsUs - ms * 1000
  const date = new Date(ms)

  if (Number.isNaN(date.getTime())) return `${tsUs}µs`

  return `${date.toISOString().slice(0, -1)}${String(us).padStart(3, '0')}Z`
}
