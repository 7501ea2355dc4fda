/**
 * Encoder of the Postgres binary COPY format for the telemetry table
 * (docs: "COPY … Binary Format"; server side: CopyReadBinaryData and the
 * types' *_recv functions). The stream is a header, one tuple per reading
 * (int16 field count, then per field an int32 length, -1 for NULL, and the
 * bytes *_send would produce), then an int16 -1 trailer.
 */
import type { Reading, Value } from '../reading.js'
import { type NumericParts, numericSize, parseNumeric, writeNumeric } from './numeric.js'

export { encodeNumeric } from './numeric.js'

/** The telemetry columns in table order; the COPY column list. */
export const TELEMETRY_COLUMNS: readonly string[] = Object.freeze([
  'device_id',
  'metric',
  'ts',
  'v_float',
  'v_int',
  'v_numeric',
  'v_bool',
  'v_text',
  'v_bytes',
  'v_json',
])

const FIELD_COUNT = 10
/** The seven v_* columns, exactly one non-null per row; the index of each. */
const VALUE_COLUMNS = 7
const COLUMN = { float: 0, int: 1, numeric: 2, bool: 3, string: 4, json: 6 } as const
const COL_BYTES = 5

/** Signature, then int32 flags 0 (no OIDs), int32 header extension 0. */
const HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1')
/** 2000-01-01T00:00:00Z in µs since the Unix epoch (POSTGRES_EPOCH_JDATE). */
const PG_EPOCH_US = 946_684_800_000_000
const TWO_32 = 2 ** 32
/** jsonb_send/jsonb_recv prefix the text with a format version byte. */
const JSONB_VERSION = 1
const DEFAULT_CHUNK_BYTES = 256 * 1024
/** Room past chunkBytes so a typical row never forces a grow. */
const SLACK = 4096
/** Field count, ten length words, the timestamp, an 8-byte value. */
const ROW_FIXED = 2 + 4 * FIELD_COUNT + 8 + 8
/** Strings this short are tried as ASCII in JS before calling buf.write. */
const ASCII_PROBE = 64

/**
 * The whole COPY … FROM STDIN (FORMAT binary) stream for the readings, in
 * chunks of at least chunkBytes (the last may be shorter) and at most one
 * row more. Throws RangeError for a value the table cannot hold.
 */
export function encodeTelemetryCopy(
  readings: readonly Reading[],
  chunkBytes: number = DEFAULT_CHUNK_BYTES,
): Buffer[] {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
    throw new RangeError(`chunkBytes must be a positive integer: ${chunkBytes}`)
  }
  const n = readings.length
  const enc = new Encoder(chunkBytes, n)
  enc.ensure(HEADER.length)
  enc.buf.set(HEADER, 0)
  enc.pos = HEADER.length
  for (let i = 0; i < n; i++) {
    enc.row(readings[i] as Reading)
    // Not after the last row: the trailer alone would be a tiny chunk.
    if (enc.pos >= chunkBytes && i + 1 < n) enc.cut(n - i - 1)
  }
  enc.ensure(2)
  enc.pos = enc.int16(-1, enc.pos)
  return enc.finish()
}

class Encoder {
  readonly chunks: Buffer[] = []
  buf: Buffer
  pos = 0

  constructor(
    readonly chunkBytes: number,
    rows: number,
  ) {
    this.buf = this.alloc(rows)
  }

  /** A buffer for the next chunk, smaller when few rows are left. */
  alloc(rowsLeft: number): Buffer {
    const guess = HEADER.length + 2 + rowsLeft * (ROW_FIXED + 32)
    const cap = this.chunkBytes + Math.min(SLACK, this.chunkBytes)
    return Buffer.allocUnsafe(Math.min(cap, guess))
  }

  cut(rowsLeft: number): void {
    this.chunks.push(this.buf.subarray(0, this.pos))
    this.buf = this.alloc(rowsLeft)
    this.pos = 0
  }

  finish(): Buffer[] {
    this.chunks.push(this.buf.subarray(0, this.pos))
    return this.chunks
  }

  /** Make room for n more bytes, doubling so big rows stay linear. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  row(r: Reading): void {
    const { device, metric, value } = r
    if (!Number.isSafeInteger(r.tsUs)) {
      throw new RangeError(`tsUs must be an integer: ${r.tsUs}`)
    }
    const num = value.kind === 'numeric' ? parseNumeric(value.value) : null
    const vLen = num === null ? valueBound(value) : numericSize(num)
    this.ensure(ROW_FIXED + 3 * (device.length + metric.length) + vLen)
    let at = this.int16(FIELD_COUNT, this.pos)
    at = this.text(device, at)
    at = this.text(metric, at)
    at = this.timestamp(r.tsUs, at)
    // text cannot hold U+0000 (text_recv rejects it), bytea can.
    const isBytes = value.kind === 'string' && value.value.includes('\0')
    const col = isBytes ? COL_BYTES : COLUMN[value.kind]
    at = this.value(value, num, this.nulls(col, at))
    this.pos = this.nulls(VALUE_COLUMNS - 1 - col, at)
  }

  /** The one non-null v_* field, as the type's *_send writes it. */
  value(v: Value, num: NumericParts | null, at: number): number {
    const buf = this.buf
    switch (v.kind) {
      case 'float':
        if (!Number.isFinite(v.value)) {
          throw new RangeError(`float value is not finite: ${v.value}`)
        }
        return buf.writeDoubleBE(v.value, this.int32(8, at))
      case 'int':
        if (BigInt.asIntN(64, v.value) !== v.value) {
          throw new RangeError(`int value outside int8: ${v.value}`)
        }
        return buf.writeBigInt64BE(v.value, this.int32(8, at))
      case 'numeric': {
        const p = num as NumericParts
        return writeNumeric(buf, this.int32(numericSize(p), at), p)
      }
      case 'bool':
        buf[this.int32(1, at)] = v.value ? 1 : 0
        return at + 5
      case 'string':
        return this.text(v.value, at)
      case 'json': {
        const len = buf.write(v.value, at + 5, 'utf8')
        buf[this.int32(len + 1, at)] = JSONB_VERSION
        return at + 5 + len
      }
    }
  }

  /** int32 length + UTF-8; the caller ensured 4 + 3 · length bytes. */
  text(s: string, at: number): number {
    const buf = this.buf
    const start = at + 4
    const n = s.length
    let i = 0
    // Short ASCII (device ids, metric names) is cheaper in JS than a
    // native buf.write call; fall back at the first non-ASCII unit.
    if (n <= ASCII_PROBE) {
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        buf[start + i] = c
      }
    }
    const len = i === n ? n : buf.write(s, start, 'utf8')
    this.int32(len, at)
    return start + len
  }

  /** timestamptz: int64 µs since 2000-01-01 UTC (timestamp_send). */
  timestamp(tsUs: number, at: number): number {
    const us = tsUs - PG_EPOCH_US
    const hi = Math.floor(us / TWO_32)
    at = this.int32(8, at)
    at = this.int32(hi, at)
    return this.int32(us - hi * TWO_32, at)
  }

  /** count NULL fields: length -1, no bytes. */
  nulls(count: number, at: number): number {
    const buf = this.buf
    const end = at + 4 * count
    for (; at < end; at++) buf[at] = 0xff
    return end
  }

  // Typed-array stores keep the low 8 bits, so no masks are needed.
  int32(v: number, at: number): number {
    const buf = this.buf
    buf[at] = v >>> 24
    buf[at + 1] = v >>> 16
    buf[at + 2] = v >>> 8
    buf[at + 3] = v
    return at + 4
  }

  int16(v: number, at: number): number {
    this.buf[at] = v >>> 8
    this.buf[at + 1] = v
    return at + 2
  }
}

/** Upper bound of a non-numeric value's field bytes. */
function valueBound(v: Value): number {
  if (v.kind === 'string') return 3 * v.value.length
  if (v.kind === 'json') return 1 + 3 * v.value.length
  return 8
}
