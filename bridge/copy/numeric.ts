/**
 * Decimal text → Postgres binary numeric, the layout numeric_send writes
 * and numeric_recv reads (src/backend/utils/adt/numeric.c): int16 ndigits,
 * int16 weight, uint16 sign, uint16 dscale, then ndigits base-10000 digits.
 * The value is Σ digit[i] · 10000^(weight − i).
 */

const NUMERIC_POS = 0x0000
const NUMERIC_NEG = 0x4000
/** Documented numeric limits: 131072 digits before the point… */
const MAX_INT_DIGITS = 131072
/** …and 16383 after (NUMERIC_DSCALE_MAX, the dscale mask 0x3FFF). */
const MAX_DSCALE = 16383

// Sign, integer digits, fraction digits, exponent. Like numeric_in, but no
// whitespace, NaN, Infinity, underscores or hex: the bridge never sends them.
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

export interface NumericParts {
  weight: number
  sign: number
  dscale: number
  /** Base-10000 digits, no leading or trailing zero groups. */
  digits: number[]
}

/** Parse decimal text into numeric's base-10000 form; RangeError if invalid. */
export function parseNumeric(text: string): NumericParts {
  const m = DECIMAL.exec(text)
  const intPart = m?.[2] ?? ''
  const fracPart = m?.[3] ?? ''
  if (m === null || intPart.length + fracPart.length === 0) {
    throw new RangeError(`not a decimal number: ${preview(text)}`)
  }
  // A huge exponent string becomes ±Infinity; the checks below catch it.
  const exp = m[4] === undefined ? 0 : Number(m[4])
  // Digits after the point as written, shifted by the exponent.
  const dscale = Math.max(0, fracPart.length - exp)
  if (dscale > MAX_DSCALE) {
    throw new RangeError(
      `numeric ${preview(text)} has ${dscale} digits after the point;` +
        ` Postgres allows ${MAX_DSCALE}`,
    )
  }
  let all = intPart + fracPart
  let first = 0
  while (first < all.length && all.charCodeAt(first) === 48) first++
  let end = all.length
  while (end > first && all.charCodeAt(end - 1) === 48) end--
  // Zero: no digits, positive; numeric_send never sends a negative zero.
  if (first === end) return { weight: 0, sign: NUMERIC_POS, dscale, digits: [] }

  // Decimal digits before the point once leading zeros are gone.
  const point = intPart.length + exp - first
  if (point > MAX_INT_DIGITS) {
    throw new RangeError(
      `numeric ${preview(text)} has ${point} digits before the point;` +
        ` Postgres allows ${MAX_INT_DIGITS}`,
    )
  }
  all = all.slice(first, end)
  // Groups align on the decimal point: the first digit has decimal
  // exponent point − 1, so it sits in group floor((point − 1) / 4).
  const weight = Math.floor((point - 1) / 4)
  const lead = 4 * weight + 3 - (point - 1)
  const digits: number[] = []
  let group = 0
  let inGroup = lead
  for (let i = 0; i < all.length; i++) {
    group = group * 10 + (all.charCodeAt(i) - 48)
    if (++inGroup === 4) {
      digits.push(group)
      group = 0
      inGroup = 0
    }
  }
  if (inGroup > 0) digits.push(group * 10 ** (4 - inGroup))
  const sign = m[1] === '-' ? NUMERIC_NEG : NUMERIC_POS
  return { weight, sign, dscale, digits }
}

/** Bytes the numeric takes in a COPY field, without the length word. */
export function numericSize(p: NumericParts): number {
  return 8 + 2 * p.digits.length
}

/** Write the numeric at pos; returns the position after it. */
export function writeNumeric(buf: Buffer, pos: number, p: NumericParts): number {
  let at = buf.writeUInt16BE(p.digits.length, pos)
  at = buf.writeInt16BE(p.weight, at)
  at = buf.writeUInt16BE(p.sign, at)
  at = buf.writeUInt16BE(p.dscale, at)
  for (const d of p.digits) at = buf.writeUInt16BE(d, at)
  return at
}

/** The binary numeric field bytes for decimal text (exported for tests). */
export function encodeNumeric(text: string): Buffer {
  const p = parseNumeric(text)
  const buf = Buffer.allocUnsafe(numericSize(p))
  writeNumeric(buf, 0, p)
  return buf
}

function preview(text: string): string {
  const s = text.length > 40 ? `${text.slice(0, 40)}…` : text
  return JSON.stringify(s)
}
