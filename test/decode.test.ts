/**
 * The decoder against docs/data-contract.md and issue #3: one table row per
 * rule or listed case, exact readings or reject codes, then properties.
 * Details of rejects are free text; only codes (and metrics) are compared.
 */
import fc from 'fast-check'
import t from 'tap'
import type { Decoded, DecodeOptions, IgnoreReason, RejectReason } from '../bridge/decode/index.js'
import { decodeMessage, REJECT_REASONS } from '../bridge/decode/index.js'
import { decodeOptions } from '../bridge/index.js'
import type { Reading, Value } from '../bridge/reading.js'
import { loadConfig } from '../common/config.js'

const OPTS = decodeOptions(loadConfig({}))

// Receive time one minute after the instant 1717000000 s that the
// timestamp cases write in every form.
const T = 1_717_000_000_000_000
const AT = T + 60_000_000
const TS_MIN_S = 946_684_800
const W = 'devices/a1/telemetry'
const M = (metric: string) => `${W}/${metric}`

const INT8_MIN = -(2n ** 63n)
const INT8_MAX = 2n ** 63n - 1n

const f = (value: number): Value => ({ kind: 'float', value })
const i = (value: bigint | number): Value => ({ kind: 'int', value: BigInt(value) })
const num = (value: string): Value => ({ kind: 'numeric', value })
const b = (value: boolean): Value => ({ kind: 'bool', value })
const s = (value: string): Value => ({ kind: 'string', value })
const j = (value: string): Value => ({ kind: 'json', value })

/** A reading of device a1 (or `device`), at receive time unless told. */
const r = (metric: string, value: Value, tsUs = AT, device = 'a1'): Reading => ({
  device,
  metric,
  tsUs,
  value,
})

/** JSON text of a string with C1 controls and DEL visible too. */
const shown = (x: string) =>
  JSON.stringify(x).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )

type Rej = [RejectReason] | [RejectReason, string]

interface Case {
  name: string
  /** Default: the whole-device topic of a1. */
  topic?: string
  payload: string | Buffer
  opts?: Partial<DecodeOptions>
  /** Expected ignore reason; otherwise readings and rejects. */
  ignored?: IgnoreReason
  readings?: Reading[]
  rejects?: Rej[]
  /** Default 'a1'; null when the topic gave no device. */
  device?: string | null
}

type Summary =
  | { status: 'ignored'; reason: IgnoreReason }
  | { status: 'decoded'; device: string | undefined; readings: Reading[]; rejects: Rej[] }

function decode(topic: string, payload: string | Buffer, opts = OPTS, at = AT): Decoded {
  const buf = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  return decodeMessage(topic, buf, at, opts)
}

function summary(d: Decoded): Summary {
  if (d.status === 'ignored') return d
  const rejects = d.rejects.map(
    (x): Rej => (x.metric === undefined ? [x.reason] : [x.reason, x.metric]),
  )
  return { status: 'decoded', device: d.device, readings: d.readings, rejects }
}

function expected(c: Case): Summary {
  if (c.ignored) return { status: 'ignored', reason: c.ignored }
  const device = c.device === null ? undefined : (c.device ?? 'a1')
  return { status: 'decoded', device, readings: c.readings ?? [], rejects: c.rejects ?? [] }
}

function table(title: string, cases: Case[]): void {
  t.test(title, async (t) => {
    for (const c of cases) {
      const d = decode(c.topic ?? W, c.payload, { ...OPTS, ...c.opts })
      t.strictSame(summary(d), expected(c), c.name)
    }
  })
}

// ─── Topics ────────────────────────────────────────────────────────────────

table('topics and device ids', [
  {
    name: '$SYS topic is ignored',
    topic: '$SYS/broker/uptime',
    payload: '42',
    ignored: 'system_topic',
  },
  {
    name: '$ topic shaped like telemetry is ignored',
    topic: '$devices/a1/telemetry',
    payload: '{"a":1}',
    ignored: 'system_topic',
  },
  {
    name: '$ wins over an empty payload',
    topic: '$SYS/x',
    payload: '',
    ignored: 'system_topic',
  },
  { name: 'zero-length payload is ignored', payload: '', ignored: 'payload_empty' },
  {
    name: 'zero-length payload on a per-metric topic is ignored',
    topic: M('temp'),
    payload: Buffer.alloc(0),
    ignored: 'payload_empty',
  },
  {
    name: 'leading / matches no pattern',
    topic: '/devices/a1/telemetry',
    payload: '{"a":1}',
    device: null,
    rejects: [['topic_unmatched']],
  },
  {
    name: 'empty device level',
    topic: 'devices//telemetry',
    payload: '{"a":1}',
    device: null,
    rejects: [['device_id_invalid']],
  },
  {
    name: 'empty device level, per-metric',
    topic: 'devices//telemetry/temp',
    payload: '1',
    device: null,
    rejects: [['device_id_invalid']],
  },
  {
    name: 'extra level',
    topic: 'devices/a1/telemetry/x/y',
    payload: '1',
    device: null,
    rejects: [['topic_unmatched']],
  },
  {
    name: 'too few levels',
    topic: 'devices/a1',
    payload: '{"a":1}',
    device: null,
    rejects: [['topic_unmatched']],
  },
  {
    name: 'literals are case-sensitive',
    topic: 'Devices/a1/telemetry',
    payload: '{"a":1}',
    device: null,
    rejects: [['topic_unmatched']],
  },
  {
    name: 'trailing / leaves an empty metric',
    topic: 'devices/a1/telemetry/',
    payload: '1',
    rejects: [['metric_name_invalid', '']],
  },
  {
    name: 'metric level with a control character',
    topic: M('te\u0001mp'),
    payload: '1',
    rejects: [['metric_name_invalid', 'te\u0001mp']],
  },
  {
    name: 'German letters in a device id',
    topic: 'devices/Gerät-7/telemetry',
    payload: '{"a":1}',
    device: 'Gerät-7',
    readings: [r('a', i(1), AT, 'Gerät-7')],
  },
  {
    name: 'CJK device id',
    topic: 'devices/温度计/telemetry/temp',
    payload: '20.5',
    device: '温度计',
    readings: [r('temp', f(20.5), AT, '温度计')],
  },
  {
    name: 'marks and separators _ . : @ -',
    topic: 'devices/e\u0301_x.y:z@w-1/telemetry',
    payload: '{"a":1}',
    device: 'e\u0301_x.y:z@w-1',
    readings: [r('a', i(1), AT, 'e\u0301_x.y:z@w-1')],
  },
  ...['a b', 'a+b', 'a#b', '+', '#', 'a\tb', 'a\u0000b', 'a\u007fb', 'a\u0085b', '🙂'].map(
    (id): Case => ({
      name: `device id ${shown(id)} is refused`,
      topic: `devices/${id}/telemetry`,
      payload: '{"a":1}',
      device: null,
      rejects: [['device_id_invalid']],
    }),
  ),
  {
    name: 'device id of MAX_DEVICE_ID_LENGTH characters',
    topic: `devices/${'d'.repeat(128)}/telemetry`,
    payload: '{"a":1}',
    device: 'd'.repeat(128),
    readings: [r('a', i(1), AT, 'd'.repeat(128))],
  },
  {
    name: 'device id one character longer',
    topic: `devices/${'d'.repeat(129)}/telemetry`,
    payload: '{"a":1}',
    device: null,
    rejects: [['device_id_invalid']],
  },
])

// ─── Whole-device payloads ─────────────────────────────────────────────────

table('whole-device payload shapes', [
  { name: 'online', payload: 'online', rejects: [['invalid_json']] },
  { name: '42', payload: '42', rejects: [['not_an_object']] },
  { name: '"text"', payload: '"text"', rejects: [['not_an_object']] },
  { name: 'null', payload: 'null', rejects: [['not_an_object']] },
  { name: 'true', payload: 'true', rejects: [['not_an_object']] },
  {
    name: '[1,2,3]: each entry refused alone',
    payload: '[1,2,3]',
    rejects: [['not_an_object'], ['not_an_object'], ['not_an_object']],
  },
  { name: 'truncated object', payload: '{"a":1', rejects: [['invalid_json']] },
  { name: 'trailing comma', payload: '{"a":1,}', rejects: [['invalid_json']] },
  { name: 'single quotes', payload: "{'a':1}", rejects: [['invalid_json']] },
  // Not in the contract: an empty array yields nothing at all.
  { name: '[] yields no reading and no reject', payload: '[]' },
  { name: '{} is an empty reading', payload: '{}', rejects: [['empty_reading']] },
  { name: 'only a ts', payload: '{"ts":1717000000}', rejects: [['empty_reading']] },
  { name: 'only an empty object', payload: '{"a":{}}', rejects: [['empty_reading']] },
  {
    name: 'every key a metric, at receive time',
    payload: '{"temp":20.1,"rh":55}',
    readings: [r('temp', f(20.1)), r('rh', i(55))],
  },
  {
    name: 'ts field gives the time',
    payload: '{"ts":1717000000000,"temp":20.1}',
    readings: [r('temp', f(20.1), T)],
  },
  {
    name: '{ts, values:{...}}',
    payload: '{"ts":1717000000,"values":{"temp":20.1,"rh":55}}',
    readings: [r('temp', f(20.1), T), r('rh', i(55), T)],
  },
  {
    name: '{values:{...}} without ts',
    payload: '{"values":{"temp":20.1}}',
    readings: [r('temp', f(20.1))],
  },
  {
    name: 'values that is not an object is a metric',
    payload: '{"ts":1717000000,"values":5}',
    readings: [r('values', i(5), T)],
  },
  {
    name: 'values beside another key flattens',
    payload: '{"values":{"a":1},"b":2}',
    readings: [r('values.a', i(1)), r('b', i(2))],
  },
  {
    name: 'array of readings, each with its own ts',
    payload: '[{"ts":1717000000,"a":1},{"ts":1717000001,"a":2}]',
    readings: [r('a', i(1), T), r('a', i(2), T + 1_000_000)],
  },
  {
    name: 'array: a non-object entry is refused alone',
    payload: '[{"a":1},5,{"b":2}]',
    readings: [r('a', i(1)), r('b', i(2), AT + 2)],
    rejects: [['not_an_object']],
  },
  {
    name: 'array: a bad ts refuses that entry only',
    payload: '[{"ts":1,"a":1},{"a":2}]',
    readings: [r('a', i(2), AT + 1)],
    rejects: [['ts_too_old']],
  },
  {
    name: 'nested object flattens to dotted names',
    payload: '{"gps":{"lat":1,"lon":2.5}}',
    readings: [r('gps.lat', i(1)), r('gps.lon', f(2.5))],
  },
  {
    name: 'ts inside a nested object is a metric',
    payload: '{"gps":{"ts":1}}',
    readings: [r('gps.ts', i(1))],
  },
  {
    name: 'four levels flatten (MAX_NESTING_DEPTH 4)',
    payload: '{"a":{"b":{"c":{"d":1}}}}',
    readings: [r('a.b.c.d', i(1))],
  },
  {
    name: 'a fifth level is too_deep, siblings kept',
    payload: '{"a":{"b":{"c":{"d":{"e":1}},"k":2}},"z":3}',
    readings: [r('a.b.k', i(2)), r('z', i(3))],
    rejects: [['too_deep', 'a.b.c.d']],
  },
  {
    name: 'MAX_NESTING_DEPTH 1: any object is too deep',
    payload: '{"a":{"b":1},"c":2}',
    opts: { maxNestingDepth: 1 },
    readings: [r('c', i(2))],
    rejects: [['too_deep', 'a']],
  },
  {
    name: 'TIMESTAMP_FIELDS: first listed field wins, the other is a metric',
    payload: '{"ts":5,"time":1717000000,"a":1}',
    opts: { timestampFields: ['time', 'ts'] },
    readings: [r('ts', i(5), T), r('a', i(1), T)],
  },
  {
    name: 'repeated key keeps the last (JSON.parse path)',
    payload: '{"a":1,"a":2}',
    readings: [r('a', i(2))],
  },
  {
    name: 'repeated key keeps the last (exact path too)',
    payload: '{"a":1,"x":20.0,"a":2}',
    readings: [r('a', i(2)), r('x', f(20))],
  },
  {
    name: '__proto__ is an ordinary metric',
    payload: '{"__proto__":{"x":1},"y":2.0}',
    readings: [r('__proto__.x', i(1)), r('y', f(2))],
  },
  {
    name: '__proto__ beside a ts is kept',
    payload: '{"ts":1717000000,"__proto__":5,"b":{"__proto__":6}}',
    readings: [r('__proto__', i(5), T), r('b.__proto__', i(6), T)],
  },
])

table('per-metric payloads', [
  { name: 'int scalar', topic: M('rh'), payload: '55', readings: [r('rh', i(55))] },
  { name: 'float scalar', topic: M('t'), payload: '20.10', readings: [r('t', f(20.1))] },
  { name: 'bool scalar', topic: M('on'), payload: 'true', readings: [r('on', b(true))] },
  { name: 'JSON string', topic: M('m'), payload: '"text"', readings: [r('m', s('text'))] },
  { name: 'ON as text', topic: M('m'), payload: 'ON', readings: [r('m', s('ON'))] },
  { name: 'online as text', topic: M('m'), payload: 'online', readings: [r('m', s('online'))] },
  {
    name: 'broken JSON is text',
    topic: M('m'),
    payload: '{"a":',
    readings: [r('m', s('{"a":'))],
  },
  {
    name: 'banana is not nan',
    topic: M('m'),
    payload: 'banana',
    readings: [r('m', s('banana'))],
  },
  { name: 'info is not inf', topic: M('m'), payload: 'info', readings: [r('m', s('info'))] },
  {
    name: 'whitespace around a scalar',
    topic: M('m'),
    payload: ' 42\n',
    readings: [r('m', i(42))],
  },
  { name: 'null', topic: M('m'), payload: 'null', rejects: [['null_value', 'm']] },
  { name: 'NaN', topic: M('m'), payload: 'NaN', rejects: [['non_finite_number']] },
  { name: '-nan', topic: M('m'), payload: '-nan', rejects: [['non_finite_number']] },
  { name: 'Infinity', topic: M('m'), payload: 'Infinity', rejects: [['non_finite_number']] },
  { name: '1e400', topic: M('m'), payload: '1e400', readings: [r('m', num('1e400'))] },
  { name: 'array', topic: M('m'), payload: '[1, "a"]', readings: [r('m', j('[1,"a"]'))] },
  {
    name: 'object without ts is a JSON value',
    topic: M('m'),
    payload: '{"value":1,"unit":"C"}',
    readings: [r('m', j('{"value":1,"unit":"C"}'))],
  },
  {
    name: '{ts, value}',
    topic: M('m'),
    payload: '{"ts":"2024-05-29T16:26:40Z","value":20.5}',
    readings: [r('m', f(20.5), T)],
  },
  {
    name: '{value, ts} in any order',
    topic: M('m'),
    payload: '{"value":"x","ts":1717000000}',
    readings: [r('m', s('x'), T)],
  },
  {
    name: '{ts, value, more} is a JSON value',
    topic: M('m'),
    payload: '{"ts":1717000000,"value":1,"x":2}',
    readings: [r('m', j('{"ts":1717000000,"value":1,"x":2}'))],
  },
  {
    name: '{ts, value:null}',
    topic: M('m'),
    payload: '{"ts":1717000000,"value":null}',
    rejects: [['null_value', 'm']],
  },
  {
    name: '{ts:bogus, value}',
    topic: M('m'),
    payload: '{"ts":"bogus","value":1}',
    rejects: [['ts_invalid', 'm']],
  },
  {
    name: '{ts, value:NaN}',
    topic: M('m'),
    payload: '{"ts":1717000000,"value":NaN}',
    rejects: [['non_finite_number']],
  },
  {
    name: 'text with a tab, CR, LF, \\N and an emoji is kept byte for byte',
    topic: M('m'),
    payload: 'a\tb\r\nc\\N,"d"\u0000😀',
    readings: [r('m', s('a\tb\r\nc\\N,"d"\u0000😀'))],
  },
])

// ─── Values ────────────────────────────────────────────────────────────────

table('value kinds', [
  {
    name: 'issue #3: four readings, each with its own type',
    payload: '{"temp":20.1,"rh":55,"batt":"97.50","door_open":false}',
    readings: [r('temp', f(20.1)), r('rh', i(55)), r('batt', s('97.50')), r('door_open', b(false))],
  },
  { name: '-3 is int', payload: '{"x":-3}', readings: [r('x', i(-3))] },
  { name: '-0 is int 0', payload: '{"x":-0}', readings: [r('x', i(0))] },
  {
    name: '18 digits stay an exact int',
    payload: '{"x":123456789012345678}',
    readings: [r('x', i(123456789012345678n))],
  },
  { name: 'int8 max', payload: `{"x":${INT8_MAX}}`, readings: [r('x', i(INT8_MAX))] },
  { name: 'int8 min', payload: `{"x":${INT8_MIN}}`, readings: [r('x', i(INT8_MIN))] },
  {
    name: 'int8 max + 1 is numeric',
    payload: '{"x":9223372036854775808}',
    readings: [r('x', num('9223372036854775808'))],
  },
  {
    name: 'int8 min - 1 is numeric',
    payload: '{"x":-9223372036854775809}',
    readings: [r('x', num('-9223372036854775809'))],
  },
  {
    name: '20 digits are numeric, every digit kept',
    payload: '{"x":12345678901234567890}',
    readings: [r('x', num('12345678901234567890'))],
  },
  { name: '20.0 is float 20', payload: '{"x":20.0}', readings: [r('x', f(20))] },
  { name: '20.10 is float 20.1', payload: '{"x":20.10}', readings: [r('x', f(20.1))] },
  { name: '1.5e3 is float 1500', payload: '{"x":1.5e3}', readings: [r('x', f(1500))] },
  { name: '1E2 is float 100', payload: '{"x":1E2}', readings: [r('x', f(100))] },
  { name: '0.1 is float', payload: '{"x":0.1}', readings: [r('x', f(0.1))] },
  { name: '5e-324 is float', payload: '{"x":5e-324}', readings: [r('x', f(5e-324))] },
  {
    name: 'largest double is float',
    payload: '{"x":1.7976931348623157e308}',
    readings: [r('x', f(Number.MAX_VALUE))],
  },
  {
    name: '17 significant digits that a double keeps are float',
    payload: '{"x":0.30000000000000004}',
    readings: [r('x', f(0.30000000000000004))],
  },
  {
    name: '0.12345678901234567890 is numeric as written',
    payload: '{"x":0.12345678901234567890}',
    readings: [r('x', num('0.12345678901234567890'))],
  },
  {
    name: 'a double would round: numeric',
    payload: '{"x":0.1000000000000000055511151231257827}',
    readings: [r('x', num('0.1000000000000000055511151231257827'))],
  },
  { name: '1e400 is numeric', payload: '{"v":1e400}', readings: [r('v', num('1e400'))] },
  { name: '-1e400 is numeric', payload: '{"v":-1e400}', readings: [r('v', num('-1e400'))] },
  { name: '2e308 is numeric', payload: '{"v":2e308}', readings: [r('v', num('2e308'))] },
  { name: '1e-400 is numeric', payload: '{"v":1e-400}', readings: [r('v', num('1e-400'))] },
  {
    name: 'beyond numeric digits',
    payload: '{"v":1e200000,"w":1}',
    readings: [r('w', i(1))],
    rejects: [['number_out_of_range', 'v']],
  },
  {
    name: 'beyond numeric scale',
    payload: '{"v":1e-20000}',
    rejects: [['number_out_of_range', 'v']],
  },
  { name: '"97.50" stays a string', payload: '{"x":"97.50"}', readings: [r('x', s('97.50'))] },
  { name: '"true" stays a string', payload: '{"x":"true"}', readings: [r('x', s('true'))] },
  { name: 'empty string', payload: '{"x":""}', readings: [r('x', s(''))] },
  {
    name: 'string with U+0000 is a string',
    payload: '{"x":"a\\u0000b"}',
    readings: [r('x', s('a\u0000b'))],
  },
  { name: 'true', payload: '{"x":true}', readings: [r('x', b(true))] },
  {
    name: 'null refuses that metric only',
    payload: '{"a":null,"b":1}',
    readings: [r('b', i(1))],
    rejects: [['null_value', 'a']],
  },
  { name: 'array is json', payload: '{"x":[1, "a"]}', readings: [r('x', j('[1,"a"]'))] },
  {
    name: 'numbers inside json are kept as written',
    payload: '{"x":[1.0, 20.10, 1e400, 12345678901234567890, -0]}',
    readings: [r('x', j('[1.0,20.10,1e400,12345678901234567890,-0]'))],
  },
  {
    name: 'objects and null inside an array',
    payload: '{"x":[{"b":null}, []]}',
    readings: [r('x', j('[{"b":null},[]]'))],
  },
  {
    name: 'U+0000 inside json',
    payload: '{"x":["a\\u0000"],"y":1}',
    readings: [r('y', i(1))],
    rejects: [['json_nul', 'x']],
  },
  {
    name: 'U+0000 in a json key',
    payload: '{"x":[{"\\u0000":1}]}',
    rejects: [['json_nul', 'x']],
  },
  { name: 'unpaired surrogate', payload: '{"x":"\\ud800"}', rejects: [['invalid_unicode', 'x']] },
  {
    name: 'unpaired surrogate inside json',
    payload: '{"x":["\\udfff"]}',
    rejects: [['invalid_unicode', 'x']],
  },
  {
    name: 'json nested 64 deep is kept',
    payload: `{"x":${'['.repeat(64)}${']'.repeat(64)}}`,
    readings: [r('x', j(`${'['.repeat(64)}${']'.repeat(64)}`))],
  },
  {
    name: 'json nested 65 deep is too_deep',
    payload: `{"x":${'['.repeat(65)}${']'.repeat(65)}}`,
    rejects: [['too_deep', 'x']],
  },
  {
    name: 'json nested 100000 deep does not overflow the stack',
    payload: `{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    rejects: [['too_deep', 'x']],
  },
  {
    name: 'per-metric json nested 100000 deep',
    topic: M('m'),
    payload: `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    rejects: [['too_deep', 'm']],
  },
])

table('non-finite numbers (issue #3)', [
  { name: '{"signal":NaN}', payload: '{"signal":NaN}', rejects: [['non_finite_number']] },
  { name: '{"e":-nan}', payload: '{"e":-nan}', rejects: [['non_finite_number']] },
  { name: '{"v":Infinity}', payload: '{"v":Infinity}', rejects: [['non_finite_number']] },
  { name: '{"v":-Infinity}', payload: '{"v":-Infinity}', rejects: [['non_finite_number']] },
  { name: '{"v":inf}', payload: '{"v":inf}', rejects: [['non_finite_number']] },
  { name: 'in an array', payload: '{"v":[1,NaN]}', rejects: [['non_finite_number']] },
  {
    name: 'refuses the whole message',
    payload: '{"signal":NaN,"temp":20}',
    rejects: [['non_finite_number']],
  },
  {
    name: '"nan" as a string is a string',
    payload: '{"s":"nan","v":"Infinity"}',
    readings: [r('s', s('nan')), r('v', s('Infinity'))],
  },
])

t.test('-0.0 is float negative zero', async (t) => {
  const d = decode(W, '{"x":-0.0}')
  const v = d.status === 'decoded' ? d.readings[0]?.value : undefined
  t.equal(v?.kind, 'float')
  t.ok(v?.kind === 'float' && Object.is(v.value, -0), 'Object.is(value, -0)')
})

t.test('issue #3: strings are kept byte for byte', async (t) => {
  const cases: [string, string][] = [
    ['U+0000', 'a\u0000b'],
    ['tab', 'a\tb'],
    ['newline', 'a\nb'],
    ['CR', 'a\rb'],
    ['backslash sequences', 'C:\\temp\\n\\t\\\\x\\u0041'],
    ['the two characters \\N', '\\N'],
    ['quotes', 'say "hi" \'there\''],
    ['commas', 'a,b,,c,'],
    ['4-byte emoji', '😀🌡️'],
    ['all together', '\u0000\t\n\r\\N"x",😀'],
  ]
  for (const [name, value] of cases) {
    for (const topic of [W, M('m')]) {
      const payload = topic === W ? JSON.stringify({ m: value }) : JSON.stringify(value)
      const d = decode(topic, payload)
      t.strictSame(summary(d), expected({ name, payload, readings: [r('m', s(value))] }), name)
      const got = d.status === 'decoded' ? d.readings[0]?.value.value : undefined
      t.ok(
        typeof got === 'string' && Buffer.from(got).equals(Buffer.from(value)),
        `${name}: same UTF-8 bytes on ${topic}`,
      )
    }
  }
})

// ─── Timestamps ────────────────────────────────────────────────────────────

const at = (ts: string, want: number | RejectReason): Case => ({
  name: `ts ${ts}`,
  payload: `{"ts":${ts},"a":1}`,
  ...(typeof want === 'number' ? { readings: [r('a', i(1), want)] } : { rejects: [[want]] }),
})

table('timestamps: one instant in every form (issue #3)', [
  at('1717000000', T),
  at('1717000000000', T),
  at('1717000000000000', T),
  at('1717000000000000000', T),
  at('"1717000000"', T),
  at('"1717000000000"', T),
  at('"1717000000000000"', T),
  at('"2024-05-29T16:26:40Z"', T),
  at('"2024-05-29T18:26:40+02:00"', T),
  at('"2024-05-29T18:26:40+0200"', T),
  at('"2024-05-29T11:26:40-05:00"', T),
  at('"2024-05-29t16:26:40z"', T),
  at('"2024-05-29 16:26:40Z"', T),
  at('1.717e9', T),
  at('1717000000.0', T),
])

table('timestamps: precision', [
  at('1717000000123456789', T + 123_456),
  at('"1717000000123456789"', T + 123_456),
  at('1717000000123456', T + 123_456),
  at('1717000000123.456', T + 123_456),
  at('1717000000.123456', T + 123_456),
  at('1717000000.25', T + 250_000),
  at('1717000000000.5', T + 500),
  at('"1717000000.123456789"', T + 123_456),
  at('1.717000000123456789E+18', T + 123_456),
  at('"2024-05-29T16:26:40.123456Z"', T + 123_456),
  at('"2024-05-29T16:26:40.123456789Z"', T + 123_456),
  at('"2024-05-29T16:26:40,5Z"', T + 500_000),
  at('"2024-05-29T18:26:40.000001+02:00"', T + 1),
])

table('timestamps: zones, validity, range', [
  { name: 'no ts: receive time', payload: '{"a":1}', readings: [r('a', i(1), AT)] },
  at('"2024-05-29T16:26:40"', T),
  at('"2024-05-29T16:26:40.5"', T + 500_000),
  at('"yesterday"', 'ts_invalid'),
  at('""', 'ts_invalid'),
  at('true', 'ts_invalid'),
  at('null', 'ts_invalid'),
  at('[1717000000]', 'ts_invalid'),
  at('{"s":1717000000}', 'ts_invalid'),
  at('" 1717000000"', 'ts_invalid'),
  at('"2024-05-29"', 'ts_invalid'),
  at('"2024-05-29T16:26Z"', 'ts_invalid'),
  at('"2024-02-30T00:00:00Z"', 'ts_invalid'),
  at('"2024-13-01T00:00:00Z"', 'ts_invalid'),
  at('"2024-00-10T00:00:00Z"', 'ts_invalid'),
  at('"2024-05-29T24:00:00Z"', 'ts_invalid'),
  at('"2024-05-29T16:60:00Z"', 'ts_invalid'),
  at('"2024-05-29T16:26:60Z"', 'ts_invalid'),
  at('"2024-05-29T16:26:40+02"', 'ts_invalid'),
  at(`${TS_MIN_S}`, TS_MIN_S * 1_000_000),
  at('"2000-01-01T00:00:00Z"', TS_MIN_S * 1_000_000),
  at(`${TS_MIN_S - 1}`, 'ts_too_old'),
  at('"1999-12-31T23:59:59.999999Z"', 'ts_too_old'),
  at('0', 'ts_too_old'),
  at('-1', 'ts_too_old'),
  at('-1717000000', 'ts_too_old'),
  at('-99999999999999999999', 'ts_too_old'),
  at('1e-999999999', 'ts_too_old'),
  at(`${AT + 300_000_000}`, AT + 300_000_000),
  at(`${AT + 300_000_001}`, 'ts_in_future'),
  at('"2100-01-01T00:00:00Z"', 'ts_in_future'),
  at('99999999999999999999', 'ts_in_future'),
  at('1e999999999', 'ts_in_future'),
])

// ─── Limits ────────────────────────────────────────────────────────────────

const nBytes = (n: number) => `{"s":"${'x'.repeat(n - 8)}"}`

table('limits, each with its code', [
  {
    name: 'payload of MAX_PAYLOAD_BYTES',
    payload: nBytes(32),
    opts: { maxPayloadBytes: 32 },
    readings: [r('s', s('x'.repeat(24)))],
  },
  {
    name: 'one byte more: payload_too_large',
    payload: nBytes(33),
    opts: { maxPayloadBytes: 32 },
    rejects: [['payload_too_large']],
  },
  {
    name: 'payload_too_large is checked before UTF-8',
    payload: Buffer.alloc(40, 0xff),
    opts: { maxPayloadBytes: 32 },
    rejects: [['payload_too_large']],
  },
  {
    name: 'MAX_READINGS_PER_MESSAGE entries',
    payload: '[{"a":1},{"a":2}]',
    opts: { maxReadingsPerMessage: 2 },
    // Without a ts, each entry takes the next microsecond of receive time.
    readings: [r('a', i(1)), r('a', i(2), AT + 1)],
  },
  {
    name: 'one more: too_many_readings, nothing stored',
    payload: '[{"a":1},{"a":2},{"a":3}]',
    opts: { maxReadingsPerMessage: 2 },
    rejects: [['too_many_readings']],
  },
  {
    name: 'MAX_METRICS_PER_READING metrics (ts not counted)',
    payload: '{"ts":1717000000,"a":1,"b":2}',
    opts: { maxMetricsPerReading: 2 },
    readings: [r('a', i(1), T), r('b', i(2), T)],
  },
  {
    name: 'one more: too_many_metrics',
    payload: '{"a":1,"b":2,"c":3}',
    opts: { maxMetricsPerReading: 2 },
    rejects: [['too_many_metrics']],
  },
  {
    name: 'too_many_metrics counts after flattening',
    payload: '{"g":{"a":1,"b":2,"c":3}}',
    opts: { maxMetricsPerReading: 2 },
    rejects: [['too_many_metrics']],
  },
  {
    name: 'too_many_metrics refuses that entry of an array only',
    payload: '[{"a":1,"b":2,"c":3},{"d":4}]',
    opts: { maxMetricsPerReading: 2 },
    readings: [r('d', i(4), AT + 1)],
    rejects: [['too_many_metrics']],
  },
  {
    name: 'metric name of MAX_METRIC_NAME_LENGTH',
    payload: `{"${'m'.repeat(128)}":1}`,
    readings: [r('m'.repeat(128), i(1))],
  },
  {
    name: 'metric name one longer',
    payload: `{"${'m'.repeat(129)}":1,"ok":2}`,
    readings: [r('ok', i(2))],
    rejects: [['metric_name_invalid', 'm'.repeat(129)]],
  },
  {
    name: 'dotted name over the limit',
    payload: '{"ab":{"cd":1},"x":2}',
    opts: { maxMetricNameLength: 4 },
    readings: [r('x', i(2))],
    rejects: [['metric_name_invalid', 'ab.cd']],
  },
  {
    name: 'empty metric name',
    payload: '{"":1}',
    rejects: [['metric_name_invalid', ''], ['empty_reading']],
  },
  {
    name: 'control character in a metric name',
    payload: '{"a\\u0001":1,"b\\u007f":2,"c\\n":3,"d":4}',
    readings: [r('d', i(4))],
    rejects: [
      ['metric_name_invalid', 'a\u0001'],
      ['metric_name_invalid', 'b\u007f'],
      ['metric_name_invalid', 'c\n'],
    ],
  },
  {
    name: 'unpaired surrogate in a metric name',
    payload: '{"\\ud800":1,"d":4}',
    readings: [r('d', i(4))],
    rejects: [['metric_name_invalid', '\ud800']],
  },
  {
    name: 'string of MAX_STRING_BYTES',
    payload: '{"s":"abcd"}',
    opts: { maxStringBytes: 4 },
    readings: [r('s', s('abcd'))],
  },
  {
    name: 'string one byte longer: value_too_long',
    payload: '{"s":"abcde","n":1}',
    opts: { maxStringBytes: 4 },
    readings: [r('n', i(1))],
    rejects: [['value_too_long', 's']],
  },
  {
    name: 'the limit is UTF-8 bytes, not characters',
    payload: '{"s":"ééé"}',
    opts: { maxStringBytes: 4 },
    rejects: [['value_too_long', 's']],
  },
  {
    name: 'json value over the limit',
    payload: '{"j":[1,2,3]}',
    opts: { maxStringBytes: 6 },
    rejects: [['value_too_long', 'j']],
  },
  {
    name: 'per-metric text over the limit',
    topic: M('m'),
    payload: 'abcde',
    opts: { maxStringBytes: 4 },
    rejects: [['value_too_long', 'm']],
  },
  {
    name: 'device id over MAX_DEVICE_ID_LENGTH',
    topic: 'devices/abcde/telemetry',
    payload: '{"a":1}',
    opts: { maxDeviceIdLength: 4 },
    device: null,
    rejects: [['device_id_invalid']],
  },
])

table('invalid UTF-8', [
  { name: 'lone 0xff', payload: Buffer.from([0x7b, 0xff, 0x7d]), rejects: [['invalid_utf8']] },
  {
    name: 'overlong /',
    payload: Buffer.from([0x22, 0xc0, 0xaf, 0x22]),
    rejects: [['invalid_utf8']],
  },
  {
    name: 'CESU-8 surrogate',
    payload: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]),
    rejects: [['invalid_utf8']],
  },
  {
    name: 'truncated 4-byte sequence, per-metric',
    topic: M('m'),
    payload: Buffer.from([0xf0, 0x9f, 0x98]),
    rejects: [['invalid_utf8']],
  },
  {
    name: 'Latin-1 text',
    topic: M('m'),
    payload: Buffer.from('Gerät', 'latin1'),
    rejects: [['invalid_utf8']],
  },
])

t.test('issue #3: 1,100 unparseable messages, then 10 valid ones', async (t) => {
  const junk = ['online', '{"a":', 'NaN', '[1,2,3]', Buffer.from([0xff, 0xfe]), '{"x":-nan}']

  for (let n = 0; n < 1100; n++) {
    const d = decode(W, junk[n % junk.length] as string | Buffer)
    if (d.status !== 'decoded' || d.readings.length > 0) t.fail(`junk ${n} gave readings`)
  }

  for (let n = 0; n < 10; n++) {
    const d = decode(W, `{"ts":${1717000000 + n},"seq":${n},"temp":2${n}.5}`)
    const ts = T + n * 1_000_000
    t.strictSame(
      summary(d),
      expected({
        name: '',
        payload: '',
        readings: [r('seq', i(n), ts), r('temp', f(20.5 + n), ts)],
      }),
      `valid message ${n}`,
    )
  }
})

// ─── Properties ────────────────────────────────────────────────────────────

const SMALL: DecodeOptions = {
  ...OPTS,
  maxPayloadBytes: 600,
  maxReadingsPerMessage: 3,
  maxMetricsPerReading: 4,
  maxMetricNameLength: 8,
  maxDeviceIdLength: 8,
  maxStringBytes: 24,
  maxNestingDepth: 2,
}

const KINDS = new Set(['float', 'int', 'numeric', 'bool', 'string', 'json'])
const DECIMAL = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/

/** Any UTF-16 code unit, so unpaired surrogates too. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))

const key = fc.oneof(
  fc.constantFrom(
    'ts',
    'values',
    'value',
    'a',
    'b',
    'a.b',
    '',
    '\u0001',
    '__proto__',
    'k'.repeat(9),
  ),
  fc.string({ maxLength: 10 }),
  fc.string({ unit: codeUnit, maxLength: 4 }),
)

// Tokens that hit the decoder's special cases, written as raw JSON text.
const SPECIAL = [
  'NaN -nan Infinity -Infinity nan inf 1e400 -1e400 1e-400 1e99999 1e200000 20.0 20.10 -0 ',
  '-0.0 0 null true false 1717000000 1717000000123456789 1.717e9 -99999999999999999999 ',
  '12345678901234567890 0.12345678901234567890 "1717000000" "2024-05-29T16:26:40Z" ',
  '"2024-13-01T00:00:00Z" "\\u0000" "\\ud800" "97.50" [] {} [[[[[[1]]]]]]',
]
  .join('')
  .split(' ')

const token = fc.oneof(
  fc.constantFrom(...SPECIAL),
  fc.double().map(String),
  fc.bigInt().map(String),
  fc.string({ unit: codeUnit, maxLength: 6 }).map((x) => JSON.stringify(x)),
)

const { node: rawJson } = fc.letrec<{ node: string; arr: string; obj: string }>((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, token, tie('arr'), tie('obj')),
  arr: fc.array(tie('node'), { maxLength: 5 }).map((xs) => `[${xs.join(',')}]`),
  obj: fc
    .array(fc.tuple(key, tie('node')), { maxLength: 6 })
    .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
}))

// Mostly topics that match, so most runs reach the payload.
const level = fc.oneof(
  { arbitrary: fc.constantFrom('a1', 'Gerät-7', 'temp', 'ts'), weight: 4 },
  { arbitrary: fc.constantFrom('', '+', '#', 'x y', 'a\u0000'), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 10 }), weight: 1 },
)

const topicArb = fc.oneof(
  { arbitrary: fc.string(), weight: 1 },
  { arbitrary: fc.string({ unit: codeUnit, maxLength: 30 }), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      W,
      M('temp'),
      '$SYS/x',
      '/devices/a1/telemetry',
      'devices//telemetry',
    ),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(level, fc.option(level))
      .map(([d, m]) => (m === null ? `devices/${d}/telemetry` : `devices/${d}/telemetry/${m}`)),
    weight: 4,
  },
)

const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  fc.string().map((x) => Buffer.from(x)),
  fc.string({ unit: 'binary' }).map((x) => Buffer.from(x)),
  fc.string({ unit: codeUnit }).map((x) => Buffer.from(x)),
  fc.string({ unit: codeUnit }).map((x) => Buffer.from(JSON.stringify(x))),
  fc.json().map((x) => Buffer.from(x)),
  fc.object().map((o) => Buffer.from(JSON.stringify(o))),
  { arbitrary: rawJson.map((x) => Buffer.from(x)), weight: 4 },
  { arbitrary: rawJson.map((x) => Buffer.from(`[${x},${x}]`)), weight: 2 },
)

function assert(cond: boolean, why: string, d?: unknown): asserts cond {
  if (cond) return
  const text = JSON.stringify(d, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))
  throw new Error(`${why}: ${text?.slice(0, 500)}`)
}

function checkValue(v: Value): boolean {
  switch (v.kind) {
    case 'float':
      return typeof v.value === 'number' && Number.isFinite(v.value)
    case 'int':
      return typeof v.value === 'bigint' && v.value >= INT8_MIN && v.value <= INT8_MAX
    case 'numeric':
      return DECIMAL.test(v.value)
    case 'bool':
      return typeof v.value === 'boolean'
    case 'string':
      return typeof v.value === 'string' && v.value.isWellFormed()
    case 'json':
      return typeof v.value === 'string' && JSON.parse(v.value) !== undefined
  }
}

t.test('property: total for any topic and payload', async () => {
  fc.assert(
    fc.property(
      topicArb,
      payloadArb,
      fc.constantFrom(OPTS, SMALL),
      fc.oneof(fc.constant(AT), fc.integer({ min: 0, max: 4e15 })),
      (topic, payload, opts, receivedUs) => {
        const d = decodeMessage(topic, payload, receivedUs, opts)

        // Pure: the same input gives the same output.
        assert(
          JSON.stringify(summary(d), (_, v) => (typeof v === 'bigint' ? `${v}` : v)) ===
            JSON.stringify(summary(decodeMessage(topic, payload, receivedUs, opts)), (_, v) =>
              typeof v === 'bigint' ? `${v}` : v,
            ),
          'not pure',
          d,
        )

        if (d.status === 'ignored') {
          const want = topic.startsWith('$') ? 'system_topic' : 'payload_empty'
          assert(d.reason === want, 'wrong ignore reason', d)
          assert(want === 'system_topic' || payload.length === 0, 'ignored a payload', d)
          return
        }

        assert(d.status === 'decoded', 'unknown status', d)
        assert(!topic.startsWith('$') && payload.length > 0, 'should be ignored', d)
        assert(Array.isArray(d.readings) && Array.isArray(d.rejects), 'arrays', d)
        const bound = opts.maxReadingsPerMessage * opts.maxMetricsPerReading
        assert(d.readings.length <= bound, 'more rows than the limits allow', d.readings.length)

        for (const x of d.rejects) assert(Object.hasOwn(REJECT_REASONS, x.reason), 'reason', x)

        for (const x of d.readings) {
          assert(typeof x.device === 'string' && x.device !== '', 'empty device', x)
          assert(x.device === d.device, 'device differs', x)
          assert(typeof x.metric === 'string' && x.metric !== '', 'empty metric', x)
          assert(x.metric.length <= opts.maxMetricNameLength, 'long metric', x)
          assert(Number.isSafeInteger(x.tsUs), 'tsUs', x)
          // Receive time is trusted; only a written ts is range-checked.
          // Array entries without a ts take consecutive microseconds.
          const received = x.tsUs >= receivedUs && x.tsUs - receivedUs < opts.maxReadingsPerMessage
          assert(received || x.tsUs >= opts.ts.minUs, 'too old', x)
          assert(x.tsUs - receivedUs <= opts.ts.maxFutureUs, 'in future', x)
          assert(KINDS.has(x.value.kind) && checkValue(x.value), 'bad value', x)
        }
      },
    ),
    { numRuns: Number(process.env.RUNS ?? 20_000) },
  )
})

interface Gen {
  text: string
  want: Value
}

// JSON text as a device writes it, and the value it must decode to.
const genValue: fc.Arbitrary<Gen> = fc.oneof(
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .filter((x) => !Number.isInteger(x))
    .map((x) => ({ text: JSON.stringify(x), want: f(JSON.parse(JSON.stringify(x))) })),
  fc.integer().map((n) => ({ text: String(n), want: i(n) })),
  fc.bigInt({ min: INT8_MIN, max: INT8_MAX }).map((n) => ({ text: `${n}`, want: i(n) })),
  fc
    .oneof(
      fc.bigInt({ min: INT8_MAX + 1n, max: 10n ** 60n }),
      fc.bigInt({ min: -(10n ** 60n), max: INT8_MIN - 1n }),
    )
    .map((n) => ({ text: `${n}`, want: num(`${n}`) })),
  fc.boolean().map((x) => ({ text: String(x), want: b(x) })),
  fc
    .string({ unit: 'binary', maxLength: 40 })
    .map((x) => ({ text: JSON.stringify(x), want: s(x) })),
)

const metricName = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 24 })
  .filter((x) => x !== 'ts' && !/[\p{Cc}/]/u.test(x))

function sameValue(got: Value | undefined, want: Value): boolean {
  if (got?.kind !== want.kind) return false
  return Object.is(got.value, want.value)
}

t.test('property: accepted values round-trip exactly', async () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(metricName, genValue), {
        selector: ([k]) => k,
        minLength: 1,
        maxLength: 20,
      }),
      fc.boolean(),
      (entries, withTs) => {
        const body = entries.map(([k, v]) => `${JSON.stringify(k)}:${v.text}`)
        const ts = withTs ? ['"ts":1717000000123456'] : []
        const d = decode(W, `{${[...ts, ...body].join(',')}}`)
        const tsUs = withTs ? T + 123_456 : AT

        assert(d.status === 'decoded', 'not decoded', d)
        assert(d.rejects.length === 0, 'rejects', d)
        assert(d.readings.length === entries.length, 'count', d)
        const byMetric = new Map(d.readings.map((x) => [x.metric, x]))

        for (const [k, v] of entries) {
          const got = byMetric.get(k)
          assert(got?.tsUs === tsUs && got.device === 'a1', 'ts or device', got)
          assert(sameValue(got.value, v.want), `value of ${JSON.stringify(k)} from ${v.text}`, got)

          // The same text on the per-metric topic gives the same value.
          const one = decode(M(k), v.text)
          const x = one.status === 'decoded' ? one.readings[0] : undefined
          assert(x?.metric === k && sameValue(x.value, v.want), `per-metric ${v.text}`, one)
        }
      },
    ),
    { numRuns: Number(process.env.RUNS ?? 3_000) },
  )
})

/**
 * Comparable text of a summary: bigints marked, -0 apart from 0. JSON
 * values compare by meaning: under JSON.parse `[1.50, -0]` comes out as
 * `[1.5,0]`, under the exact parser as written, and jsonb holds both alike.
 */
function canon(d: Decoded): string {
  return JSON.stringify(summary(d), (k, v) => {
    if (typeof v === 'bigint') return `${v}n`
    if (Object.is(v, -0)) return '-0'
    if (k === 'value' && typeof v === 'object' && v?.kind === 'json') {
      return { kind: 'json', value: JSON.stringify(JSON.parse(v.value)) }
    }
    return v
  })
}

t.test('property: an exact-path number elsewhere changes nothing', async () => {
  // A second reading holding `20.0` sends the whole message through the
  // lossless parser; the first must decode as it does under JSON.parse.
  const pad = r('zz_pad', f(20), AT + 1)

  fc.assert(
    fc.property(fc.oneof(fc.json({ maxDepth: 3 }), rawJson), (text) => {
      const plain = decode(W, `[{"k":${text}}]`)
      const padded = decode(W, `[{"k":${text}},{"zz_pad":20.0}]`)

      assert(plain.status === 'decoded' && padded.status === 'decoded', 'status')
      if (padded.rejects.some((x) => x.reason === 'non_finite_number')) return

      const last = padded.readings.pop()
      assert(JSON.stringify(last) === JSON.stringify(pad), 'pad reading', padded)
      assert(canon(plain) === canon(padded), `${canon(plain)} ≠ ${canon(padded)}`)
    }),
    { numRuns: Number(process.env.RUNS ?? 5_000) },
  )
})

t.test('property: every timestamp form of an instant gives one tsUs', async () => {
  const pad = (n: number, w: number) => String(n).padStart(w, '0')

  fc.assert(
    fc.property(
      fc.integer({ min: TS_MIN_S * 1_000_000, max: AT }),
      fc.integer({ min: 0, max: 999 }),
      fc.integer({ min: -14 * 60, max: 14 * 60 }),
      (us, ns, offsetMin) => {
        const sec = Math.floor(us / 1e6)
        const ms = Math.floor(us / 1e3)
        const local = new Date(Math.floor(us / 1000) + offsetMin * 60_000).toISOString()
        const sign = offsetMin < 0 ? '-' : '+'
        const abs = Math.abs(offsetMin)
        const zone = `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`
        const frac = `${pad(us % 1000_000, 6)}`
        const forms = [
          `${sec}.${pad(us % 1e6, 6)}`,
          `${ms}.${pad(us % 1e3, 3)}`,
          `${us}`,
          `${us}${pad(ns, 3)}`,
          `"${us}${pad(ns, 3)}"`,
          `"${sec}.${pad(us % 1e6, 6)}${pad(ns, 3)}"`,
          `"${local.slice(0, 19)}.${frac}${zone}"`,
          `"${local.slice(0, 19)}.${frac}${pad(ns, 3)}${zone}"`,
        ]

        for (const form of forms) {
          const d = decode(W, `{"ts":${form},"a":1}`)
          const got = d.status === 'decoded' ? d.readings[0]?.tsUs : undefined
          assert(got === us, `${form} → ${got}, want ${us}`, d)
        }
      },
    ),
    { numRuns: Number(process.env.RUNS ?? 3_000) },
  )
})
