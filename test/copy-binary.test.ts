import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import t from 'tap'
import { encodeNumeric, encodeTelemetryCopy, TELEMETRY_COLUMNS } from '../bridge/copy/binary.js'
import type { Reading, Value } from '../bridge/reading.js'
import { migrate } from '../bridge/store/db.js'
import { createLogger } from '../common/logger.js'

const INT8_MIN = -(2n ** 63n)
const INT8_MAX = 2n ** 63n - 1n
const HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1')

/** Expected numeric bytes: ndigits, weight, sign, dscale, digits. */
function numBytes(weight: number, sign: number, dscale: number, ...d: number[]) {
  const b = Buffer.alloc(8 + 2 * d.length)
  b.writeUInt16BE(d.length, 0)
  b.writeInt16BE(weight, 2)
  b.writeUInt16BE(sign, 4)
  b.writeUInt16BE(dscale, 6)
  for (const [i, x] of d.entries()) b.writeUInt16BE(x, 8 + 2 * i)
  return b
}

t.test('encodeNumeric byte layout', async (t) => {
  const NEG = 0x4000
  const cases: [string, Buffer][] = [
    ['0', numBytes(0, 0, 0)],
    ['-0.00', numBytes(0, 0, 2)],
    ['1', numBytes(0, 0, 0, 1)],
    ['-1', numBytes(0, NEG, 0, 1)],
    ['10000', numBytes(1, 0, 0, 1)],
    ['0.0001', numBytes(-1, 0, 4, 1)],
    ['1.50', numBytes(0, 0, 2, 1, 5000)],
    ['12345678901234567890', numBytes(4, 0, 0, 1234, 5678, 9012, 3456, 7890)],
    ['-2.5E-7', numBytes(-2, NEG, 8, 25)],
    ['-0.000123', numBytes(-1, NEG, 6, 1, 2300)],
    ['+.5', numBytes(-1, 0, 1, 5000)],
    ['5.', numBytes(0, 0, 0, 5)],
    ['1e400', numBytes(100, 0, 0, 1)],
  ]
  for (const [text, want] of cases) {
    t.same(encodeNumeric(text), want, text)
  }
  t.equal(encodeNumeric('1e400').length, 10, '1e400 is one digit group')
})

t.test('encodeNumeric rejects what numeric cannot hold', async (t) => {
  for (const bad of [
    '',
    '-',
    '.',
    'abc',
    '1.2.3',
    'NaN',
    'Infinity',
    ' 1',
    '1e',
    '0x10',
    '1_000',
  ]) {
    t.throws(() => encodeNumeric(bad), RangeError, JSON.stringify(bad))
  }
  t.throws(() => encodeNumeric(`1${'0'.repeat(131072)}`), RangeError, '131073 int digits')
  t.throws(() => encodeNumeric('1e131072'), RangeError, 'exponent past the limit')
  t.throws(() => encodeNumeric('1e-16384'), RangeError, 'dscale 16384')
  t.throws(() => encodeNumeric('1e99999999999999999999999'), RangeError)
  t.throws(() => encodeNumeric('1e-99999999999999999999999'), RangeError)
  t.doesNotThrow(() => encodeNumeric('9'.repeat(131072)))
  t.doesNotThrow(() => encodeNumeric('1e-16383'))
  t.doesNotThrow(() => encodeNumeric('0e99999999999999999999999'), 'zero')
})

const reading = (i: number, value: Value): Reading => ({
  device: 'dev-00042',
  metric: 'temp',
  tsUs: 1_717_000_000_000_000 + i,
  value,
})

t.test('stream layout', async (t) => {
  t.strictSame(TELEMETRY_COLUMNS, [
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
  const empty = Buffer.concat(encodeTelemetryCopy([]))
  t.same(empty, Buffer.concat([HEADER, Buffer.from([0xff, 0xff])]))

  const r = { device: 'd', metric: 'm', tsUs: 946_684_800_000_001 }
  const row = Buffer.concat(encodeTelemetryCopy([{ ...r, value: { kind: 'bool', value: true } }]))
  const nul = 'ffffffff'
  const want = [
    '000a',
    '00000001',
    '64',
    '00000001',
    '6d',
    '00000008',
    '0000000000000001',
    nul,
    nul,
    nul,
    '00000001',
    '01',
    nul,
    nul,
    nul,
    'ffff',
  ].join('')
  t.equal(row.subarray(HEADER.length).toString('hex'), want, 'one bool row')

  const epoch = Buffer.concat(
    encodeTelemetryCopy([{ ...r, tsUs: 0, value: { kind: 'bool', value: false } }]),
  )
  const ts = epoch.subarray(HEADER.length + 2 + 5 + 5 + 4, HEADER.length + 2 + 5 + 5 + 12)
  t.equal(ts.readBigInt64BE(), -946_684_800_000_000n, 'Unix epoch before 2000')
})

t.test('invalid readings throw', async (t) => {
  t.throws(
    () => encodeTelemetryCopy([reading(0, { kind: 'int', value: INT8_MAX + 1n })]),
    RangeError,
  )
  t.throws(
    () => encodeTelemetryCopy([reading(0, { kind: 'float', value: Number.NaN })]),
    RangeError,
  )
  t.throws(() => encodeTelemetryCopy([reading(0, { kind: 'numeric', value: '1,5' })]), RangeError)
  t.throws(
    () => encodeTelemetryCopy([{ ...reading(0, { kind: 'bool', value: true }), tsUs: 1.5 }]),
    RangeError,
  )
  t.throws(() => encodeTelemetryCopy([], 0), RangeError)
})

t.test('chunking', async (t) => {
  const rows: Reading[] = []
  for (let i = 0; i < 50_000; i++) {
    const value: Value =
      i % 7 === 0
        ? { kind: 'string', value: `s${'é'.repeat(i % 50)}` }
        : { kind: 'float', value: i / 3 }
    rows.push(reading(i, value))
  }
  const size = 64 * 1024
  const chunks = encodeTelemetryCopy(rows, size)
  t.ok(chunks.length > 10, `${chunks.length} chunks`)
  const last = chunks.length - 1
  const big = chunks.slice(0, last).every((c) => c.length >= size && c.length < size + 256)
  t.ok(big, 'every chunk but the last is chunkBytes plus less than a row')
  t.ok((chunks[last]?.length ?? 0) <= size + 256, 'last chunk')
  const whole = Buffer.concat(chunks)
  for (const other of [7, 1000, 4096, 256 * 1024, 1e9]) {
    const n = other < 1000 ? 2000 : rows.length
    const want = other < 1000 ? Buffer.concat(encodeTelemetryCopy(rows.slice(0, n))) : whole
    t.ok(
      Buffer.concat(encodeTelemetryCopy(rows.slice(0, n), other)).equals(want),
      `chunkBytes ${other}`,
    )
  }
  t.equal(encodeTelemetryCopy(rows, 1e9).length, 1, 'one chunk when it fits')
  const huge = reading(0, { kind: 'string', value: 'x'.repeat(1 << 20) })
  t.ok(
    Buffer.concat(encodeTelemetryCopy([huge], 1024)).length > 1 << 20,
    'a row larger than a chunk',
  )
})

// ---- round trips through a real Postgres (skipped without DATABASE_URL) ----

/** Postgres' numeric_out text for decimal text, computed independently. */
function canonicalNumeric(text: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text)
  if (m === null) throw new Error(`bad fixture ${text}`)
  const frac = m[3] ?? ''
  const scale = frac.length - Number(m[4] ?? 0)
  const mant = BigInt(`${m[2] ?? ''}${frac}` || '0')
  const sign = mant !== 0n && m[1] === '-' ? '-' : ''
  if (scale <= 0) return sign + (mant * 10n ** BigInt(-scale)).toString()
  const d = mant.toString().padStart(scale + 1, '0')
  return `${sign}${d.slice(0, d.length - scale)}.${d.slice(d.length - scale)}`
}

/** JSON with object keys sorted, so jsonb's key order does not matter. */
function canonJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonJson).join(',')}]`
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  const keys = Object.keys(v).sort()
  const obj = v as Record<string, unknown>
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonJson(obj[k])}`).join(',')}}`
}

// -0 must survive, so floats compare as text ('-0' vs '0').
const floatText = (x: number) => (Object.is(x, -0) ? '-0' : String(x))

interface Row {
  device: string
  metric: string
  ts: string
  float: string | null
  int: string | null
  numeric: string | null
  bool: boolean | null
  text: string | null
  bytes: string | null
  json: string | null
}

function expected(r: Reading): Row {
  const row: Row = {
    device: r.device,
    metric: r.metric,
    ts: String(r.tsUs),
    float: null,
    int: null,
    numeric: null,
    bool: null,
    text: null,
    bytes: null,
    json: null,
  }
  const v = r.value
  if (v.kind === 'float') row.float = floatText(v.value)
  else if (v.kind === 'int') row.int = String(v.value)
  else if (v.kind === 'numeric') row.numeric = canonicalNumeric(v.value)
  else if (v.kind === 'bool') row.bool = v.value
  else if (v.kind === 'json') row.json = canonJson(JSON.parse(v.value))
  else if (v.value.includes('\0')) row.bytes = Buffer.from(v.value).toString('hex')
  else row.text = v.value
  return row
}

interface DbRow {
  device_id: string
  metric: string
  ts_us: string
  v_float: number | null
  v_int: string | null
  v_numeric: string | null
  v_bool: boolean | null
  v_text: string | null
  v_bytes: Buffer | null
  /** As text: pg would turn a JSON null into SQL NULL. */
  v_json: string | null
}

function actual(r: DbRow): Row {
  return {
    device: r.device_id,
    metric: r.metric,
    ts: r.ts_us,
    float: r.v_float === null ? null : floatText(r.v_float),
    int: r.v_int,
    numeric: r.v_numeric,
    bool: r.v_bool,
    text: r.v_text,
    bytes: r.v_bytes === null ? null : r.v_bytes.toString('hex'),
    json: r.v_json === null ? null : canonJson(JSON.parse(r.v_json)),
  }
}

const key = (r: { device: string; metric: string; ts: string }) =>
  `${r.device}\0${r.metric}\0${r.ts}`

const DATABASE_URL = process.env.DATABASE_URL
const skip = DATABASE_URL ? false : 'DATABASE_URL is not set; no Postgres round trip'

t.test('round trip through Postgres', { skip }, async (t) => {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
  const schema = `copy_binary_${randomBytes(6).toString('hex')}`
  const table = `${schema}.telemetry`
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })
  // The real migrations, so the round trip runs against the real (partitioned) table.
  await migrate(
    { databaseUrl: DATABASE_URL as string, schema, poolSize: 1 },
    createLogger('silent'),
  )

  const copySql = `COPY ${table} (${TELEMETRY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`
  const selectSql = `SELECT device_id, metric,
      (extract(epoch FROM ts) * 1000000)::bigint::text AS ts_us,
      v_float, v_int::text AS v_int, v_numeric::text AS v_numeric,
      v_bool, v_text, v_bytes, v_json::text AS v_json FROM ${table}`

  /** Replace the table's rows with readings, then compare what reads back. */
  async function roundTrip(readings: readonly Reading[], chunkBytes?: number) {
    await pool.query(`TRUNCATE ${table}`)
    const client = await pool.connect()
    try {
      const chunks = encodeTelemetryCopy(readings, chunkBytes)
      await pipeline(Readable.from(chunks), client.query(copyFrom(copySql)))
    } finally {
      client.release()
    }
    const { rows } = await pool.query<DbRow>(selectSql)
    const got = new Map(rows.map((r) => [key(actual(r)), actual(r)]))
    const diffs: { want: Row; got: Row | undefined }[] = []
    for (const r of readings) {
      const want = expected(r)
      const have = got.get(key(want))
      if (!isDeepStrictEqual(have, want)) diffs.push({ want, got: have })
    }
    return { count: rows.length, diffs }
  }

  await t.test('edge values', async (t) => {
    const values: Value[] = [
      { kind: 'float', value: 0 },
      { kind: 'float', value: -0 },
      { kind: 'float', value: 5e-324 },
      { kind: 'float', value: 1.7976931348623157e308 },
      { kind: 'float', value: -1.7976931348623157e308 },
      { kind: 'float', value: 0.1 },
      { kind: 'int', value: INT8_MIN },
      { kind: 'int', value: INT8_MAX },
      { kind: 'int', value: 0n },
      ...[
        '0',
        '-0.00',
        '1.50',
        '-0.000123',
        '12345678901234567890',
        '1e400',
        '-2.5E-7',
        '2.5E-7',
        '10000',
        '0.0001',
        '99999999.99999999',
        `1e131071`,
        `1e-16383`,
        '9'.repeat(131072),
        `-0.${'0'.repeat(16382)}1`,
      ].map((value): Value => ({ kind: 'numeric', value })),
      { kind: 'bool', value: true },
      { kind: 'bool', value: false },
      ...[
        '',
        'tab\there',
        'nl\nCR\r',
        'back\\slash',
        '\\N',
        '"quotes" \'single\'',
        'a,b,c',
        'emoji 🦀',
        'Grüße, 日本語, Ωμέγα',
        'nul\0inside',
        '\0',
        'x'.repeat(100_000),
      ].map((value): Value => ({ kind: 'string', value })),
      ...[
        '[1,"a",null,{"b":2}]',
        '{"b":1,"a":[true,false],"aa":"\\u00e9\\n"}',
        '[]',
        '{}',
        '[1e400, 0.10, -5]',
        '["🦀\\t"]',
      ].map((value): Value => ({ kind: 'json', value })),
    ]
    const readings = values.map((v, i) => reading(i, v))
    readings.push(
      { device: 'dev-00042', metric: 'epoch', tsUs: 0, value: { kind: 'bool', value: true } },
      {
        device: 'dev-00042',
        metric: 'y2k',
        tsUs: 946_684_800_000_000,
        value: { kind: 'bool', value: true },
      },
      {
        device: 'dev-00042',
        metric: 'µs',
        tsUs: 1_717_000_000_123_456,
        value: { kind: 'bool', value: true },
      },
      {
        device: 'dev-00042',
        metric: 'pre-1970',
        tsUs: -1_000_001,
        value: { kind: 'bool', value: true },
      },
      {
        device: 'Gerät 🌡',
        metric: 'température\t"x"',
        tsUs: 1,
        value: { kind: 'bool', value: true },
      },
    )
    const res = await roundTrip(readings, 1000)
    t.equal(res.count, readings.length, 'every row stored')
    t.strictSame(res.diffs, [], 'every value reads back identical')
    const { rows } = await pool
      .query<{ s: string }>(
        `SET TIME ZONE 'UTC'; SELECT ts::text AS s FROM ${table} WHERE metric IN ('y2k', 'µs') ORDER BY ts`,
      )
      .then((r) => (Array.isArray(r) ? r[1] : r) as pg.QueryResult<{ s: string }>)
    t.strictSame(
      rows.map((r) => r.s),
      ['2000-01-01 00:00:00+00', '2024-05-29 16:26:40.123456+00'],
    )
  })

  await t.test('random readings (fast-check)', async (t) => {
    const name = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\0'))
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 25 })
    const decimal = fc
      .tuple(
        fc.constantFrom('', '-', '+'),
        digits,
        fc.option(digits),
        fc.option(fc.integer({ min: -40, max: 40 })),
        fc.constantFrom('e', 'E'),
      )
      .filter(([, i, f]) => i.length + (f?.length ?? 0) > 0)
      .map(
        ([s, i, f, e, E]) => `${s}${i}${f === null ? '' : `.${f}`}${e === null ? '' : `${E}${e}`}`,
      )
    const text = fc.string({ unit: 'binary', maxLength: 40 })
    const value: fc.Arbitrary<Value> = fc.oneof(
      fc
        .double({ noNaN: true, noDefaultInfinity: true })
        .map((v) => ({ kind: 'float', value: v }) as const),
      fc.bigInt({ min: INT8_MIN, max: INT8_MAX }).map((v) => ({ kind: 'int', value: v }) as const),
      decimal.map((v) => ({ kind: 'numeric', value: v }) as const),
      fc.boolean().map((v) => ({ kind: 'bool', value: v }) as const),
      fc
        .oneof(
          text,
          text.map((s) => `${s}\0${s}`),
        )
        .map((v) => ({ kind: 'string', value: v }) as const),
      // jsonb cannot hold \u0000 in a string.
      fc
        .json({ stringUnit: 'binary', depthSize: 'small' })
        .filter((s) => !s.includes('\\u0000'))
        .map((v) => ({ kind: 'json', value: v }) as const),
    )
    const ts = fc.bigInt({ min: 0n, max: 2n ** 50n }).map(Number)
    const one = fc.record({ device: name, metric: name, tsUs: ts, value })
    const batch = fc.uniqueArray(one, {
      maxLength: 200,
      selector: (r) => key({ ...r, ts: String(r.tsUs) }),
    })
    await fc.assert(
      fc.asyncProperty(batch, fc.integer({ min: 1, max: 4096 }), async (readings, chunkBytes) => {
        const res = await roundTrip(readings, chunkBytes)
        return res.count === readings.length && res.diffs.length === 0
      }),
      { numRuns: 30 },
    )
    t.pass('30 random batches read back identical')
  })
})
