import { isUtf8 } from 'node:buffer'
import type { Reading } from '../reading.js'
import { parseJson } from './json.js'
import type { ShapeLimits, Yield } from './payload.js'
import { fromDocument, isObject, metricNameProblem, resolveTs } from './payload.js'
import type { ReadingReject, RejectReason } from './reasons.js'
import type { TopicPattern } from './topics.js'
import { matchTopic } from './topics.js'
import { toValue } from './values.js'

export type { ReadingReject, RejectReason } from './reasons.js'
export { REJECT_REASONS } from './reasons.js'
export { isoUs } from './timestamp.js'
export type { TopicPattern } from './topics.js'
export { compilePattern, sameShape } from './topics.js'

export interface DecodeOptions extends ShapeLimits {
  patterns: readonly TopicPattern[]
  maxPayloadBytes: number
  maxDeviceIdLength: number
}

/** Why a message was not decoded at all, without being an error. */
export type IgnoreReason = 'system_topic' | 'payload_empty'

export type Decoded =
  | { status: 'ignored'; reason: IgnoreReason }
  | { status: 'decoded'; device: string | undefined; readings: Reading[]; rejects: ReadingReject[] }

/**
 * Turns one MQTT message into typed readings and refusals. Pure and total:
 * it never throws for any topic or payload, so no message can hurt another.
 */
export function decodeMessage(
  topic: string,
  payload: Buffer,
  receivedUs: number,
  opts: DecodeOptions,
): Decoded {
  // [MQTT-4.7.2-1] `$` topics belong to the server; never ingest them,
  // whatever a wildcard subscription delivers.
  if (topic.startsWith('$')) return { status: 'ignored', reason: 'system_topic' }

  // A zero-length payload clears a retained message; it carries no reading.
  if (payload.length === 0) return { status: 'ignored', reason: 'payload_empty' }

  const match = matchTopic(topic, opts.patterns, opts.maxDeviceIdLength)

  if (!match.ok) return refuse(undefined, match.reason, match.detail)

  if (payload.length > opts.maxPayloadBytes) {
    return refuse(
      match.device,
      'payload_too_large',
      `${payload.length} bytes exceed ${opts.maxPayloadBytes}`,
    )
  }

  if (!isUtf8(payload)) return refuse(match.device, 'invalid_utf8', 'payload is not valid UTF-8')

  const text = payload.toString('utf8')
  const y =
    match.metric === undefined
      ? wholeDevice(text, match.device, receivedUs, opts)
      : perMetric(text, match.device, match.metric, receivedUs, opts)

  return { status: 'decoded', device: match.device, ...y }
}

function wholeDevice(text: string, device: string, receivedUs: number, opts: DecodeOptions): Yield {
  const parsed = parseJson(text)

  if (!parsed.ok) return only(parsed.reason, parsed.detail)

  const doc = parsed.value

  if (!isObject(doc) && !Array.isArray(doc)) {
    return only('not_an_object', 'a device topic carries an object of metrics or an array of them')
  }

  return fromDocument(doc, device, receivedUs, opts)
}

/**
 * One value per message: JSON scalars keep their type, text that is not
 * JSON is a string, and `{"<ts field>": …, "value": …}` carries its own time.
 */
function perMetric(
  text: string,
  device: string,
  metric: string,
  receivedUs: number,
  opts: DecodeOptions,
): Yield {
  const badName = metricNameProblem(metric, opts.maxMetricNameLength)

  if (badName) return only('metric_name_invalid', badName, metric.slice(0, 200))

  const parsed = parseJson(text)

  if (!parsed.ok && parsed.reason === 'non_finite_number') return only(parsed.reason, parsed.detail)

  let raw: unknown = parsed.ok ? parsed.value : text
  let tsRaw: unknown

  if (isObject(raw) && Object.keys(raw).length === 2 && Object.hasOwn(raw, 'value')) {
    const tsField = opts.timestampFields.find((f) => Object.hasOwn(raw as object, f))

    if (tsField !== undefined) {
      tsRaw = raw[tsField]
      raw = raw.value
    }
  }

  const ts = resolveTs(tsRaw, receivedUs, opts.ts)

  if (!ts.ok) return only(ts.reason, ts.detail, metric)

  const v = toValue(raw, opts.maxStringBytes)

  if (!v.ok) return only(v.reason, v.detail, metric)

  return { readings: [{ device, metric, tsUs: ts.tsUs, value: v.value }], rejects: [] }
}

function only(reason: RejectReason, detail: string, metric?: string): Yield {
  return {
    readings: [],
    rejects: [metric === undefined ? { reason, detail } : { reason, detail, metric }],
  }
}

function refuse(device: string | undefined, reason: RejectReason, detail: string): Decoded {
  return { status: 'decoded', device, readings: [], rejects: [{ reason, detail }] }
}
