import type { Value } from '../reading.js'

export type NumberResult = Value | { reason: 'number_out_of_range'; detail: string }

const INT8_MIN = -(2n ** 63n)
const INT8_MAX = 2n ** 63n - 1n

// Postgres numeric: up to 131072 digits before the point, 16383 after.
const NUMERIC_MAX_INT_DIGITS = 131072
const NUMERIC_MAX_SCALE = 16383

const INTEGER = /^-?\d+$/
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/

/** A number JSON.parse produced without loss (see json.ts). */
export function fromDouble(n: number): Value {
  if (Number.isInteger(n)) return { kind: 'int', value: BigInt(n) }
  return { kind: 'float', value: n }
}

/**
 * A number known only by its JSON text. Written without point or exponent
 * it is an integer: int8 when it fits, numeric beyond. Otherwise it is a
 * float when a double reads back as the same decimal, numeric when not.
 */
export function fromText(text: string): NumberResult {
  if (INTEGER.test(text)) return integer(text)

  const m = DECIMAL.exec(text)

  if (!m)
    return { reason: 'number_out_of_range', detail: `not a decimal number: ${text.slice(0, 40)}` }

  const double = Number(text)

  if (Number.isFinite(double) && sameDecimal(text, String(double))) {
    return { kind: 'float', value: double }
  }

  return numeric(text, m)
}

function integer(text: string): NumberResult {
  const big = BigInt(text)

  if (big >= INT8_MIN && big <= INT8_MAX) return { kind: 'int', value: big }

  const digits = text.replace(/^-?0*/, '').length

  if (digits > NUMERIC_MAX_INT_DIGITS) return tooBig(text)

  return { kind: 'numeric', value: text }
}

function numeric(text: string, m: RegExpExecArray): NumberResult {
  const intDigits = (m[2] ?? '').replace(/^0+/, '').length
  const fracDigits = (m[3] ?? '').length
  const exp = Number(m[4] ?? '0')
  const scale = Math.max(0, fracDigits - exp)
  const before = intDigits + exp

  if (before > NUMERIC_MAX_INT_DIGITS || scale > NUMERIC_MAX_SCALE) return tooBig(text)

  return { kind: 'numeric', value: text }
}

function tooBig(text: string): NumberResult {
  return {
    reason: 'number_out_of_range',
    detail: `${text.slice(0, 24)}… (${text.length} characters) exceeds Postgres numeric`,
  }
}

/** Canonical (sign, significant digits, exponent) of a decimal text. */
function canonical(text: string): string {
  const m = DECIMAL.exec(text)

  if (!m) return text

  const [, sign = '', int = '', frac = '', exp = '0'] = m
  const all = `${int}${frac}`
  const lead = all.length - all.replace(/^0+/, '').length
  const digits = all.slice(lead).replace(/0+$/, '')

  if (digits === '') return '0'

  const point = int.length - lead + Number(exp)
  return `${sign}${digits}e${point}`
}

function sameDecimal(a: string, b: string): boolean {
  return canonical(a) === canonical(b)
}
