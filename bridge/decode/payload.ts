import type { Reading } from '../reading.js'
import { ExactNumber } from './json.js'
import type { ReadingReject } from './reasons.js'
import type { TsLimits } from './timestamp.js'
import { checkRange, parseTimestamp } from './timestamp.js'
import { toValue } from './values.js'

export interface ShapeLimits {
  timestampFields: readonly string[]
  ts: TsLimits
  maxReadingsPerMessage: number
  maxMetricsPerReading: number
  maxMetricNameLength: number
  maxStringBytes: number
  maxNestingDepth: number
}

/** What one message yields: rows to write and refusals to dead-letter. */
export interface Yield {
  readings: Reading[]
  rejects: ReadingReject[]
}

type Obj = Record<string, unknown>

// A metric name is any text a person could read back: no control characters
// (they break logs and terminals) and no unpaired surrogates.
const CONTROL = /\p{Cc}/u

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof ExactNumber)
}

export function metricNameProblem(name: string, maxLength: number): string | undefined {
  if (name.length === 0) return 'empty metric name'
  if (name.length > maxLength) return `metric name longer than ${maxLength} characters`
  if (CONTROL.test(name) || !name.isWellFormed()) return 'metric name has control characters'
  return undefined
}

/** A whole-device payload: one reading object or an array of them. */
export function fromDocument(
  doc: unknown,
  device: string,
  receivedUs: number,
  lim: ShapeLimits,
): Yield {
  const out: Yield = { readings: [], rejects: [] }
  const items = Array.isArray(doc) ? doc : [doc]

  if (items.length > lim.maxReadingsPerMessage) {
    const detail = `${items.length} readings exceed ${lim.maxReadingsPerMessage}`
    out.rejects.push({ reason: 'too_many_readings', detail })
    return out
  }

  for (const [i, item] of items.entries()) {
    if (!isObject(item)) {
      out.rejects.push({
        reason: 'not_an_object',
        detail: `expected an object, got ${kindOf(item)}`,
      })
      continue
    }

    // Entries without a timestamp of their own each get the next
    // microsecond, or they would all be one row.
    fromObject(item, device, receivedUs + i, lim, out)
  }

  return out
}

function fromObject(
  obj: Obj,
  device: string,
  receivedUs: number,
  lim: ShapeLimits,
  out: Yield,
): void {
  const tsField = lim.timestampFields.find((f) => Object.hasOwn(obj, f))
  const ts = resolveTs(tsField === undefined ? undefined : obj[tsField], receivedUs, lim.ts)

  if (!ts.ok) {
    out.rejects.push({ reason: ts.reason, detail: ts.detail })
    return
  }

  const metrics = metricsOf(obj, tsField)
  const flat: [string, unknown][] = []

  if (!flatten(metrics, '', 1, lim, flat, out)) return

  if (flat.length === 0) {
    out.rejects.push({ reason: 'empty_reading', detail: 'the reading has no metrics' })
    return
  }

  if (flat.length > lim.maxMetricsPerReading) {
    const detail = `${flat.length} metrics exceed ${lim.maxMetricsPerReading}`
    out.rejects.push({ reason: 'too_many_metrics', detail })
    return
  }

  for (const [metric, raw] of flat) {
    const v = toValue(raw, lim.maxStringBytes)

    if (v.ok) out.readings.push({ device, metric, tsUs: ts.tsUs, value: v.value })
    else out.rejects.push({ reason: v.reason, detail: v.detail, metric })
  }
}

/** `{ts, values: {...}}` names its metrics under `values`; otherwise every other key is one. */
function metricsOf(obj: Obj, tsField: string | undefined): Obj {
  const keys = Object.keys(obj).filter((k) => k !== tsField)

  if (keys.length === 1 && keys[0] === 'values' && isObject(obj.values)) return obj.values

  if (tsField === undefined) return obj

  // No prototype: `rest.__proto__ = v` would set one and lose the metric.
  const rest: Obj = Object.create(null)
  for (const k of keys) rest[k] = obj[k]
  return rest
}

/** Returns false when the reading must be refused as a whole. */
function flatten(
  obj: Obj,
  prefix: string,
  depth: number,
  lim: ShapeLimits,
  flat: [string, unknown][],
  out: Yield,
): boolean {
  for (const [key, v] of Object.entries(obj)) {
    const name = prefix === '' ? key : `${prefix}.${key}`
    const problem = metricNameProblem(name, lim.maxMetricNameLength)

    if (problem) {
      out.rejects.push({
        reason: 'metric_name_invalid',
        detail: problem,
        metric: name.slice(0, 200),
      })
      continue
    }

    if (!isObject(v)) {
      flat.push([name, v])
      continue
    }

    if (depth >= lim.maxNestingDepth) {
      out.rejects.push({
        reason: 'too_deep',
        detail: `nested deeper than ${lim.maxNestingDepth} levels`,
        metric: name,
      })
      continue
    }

    if (!flatten(v, name, depth + 1, lim, flat, out)) return false

    // Stop early: a wide nested object must not cost more than the limit.
    if (flat.length > lim.maxMetricsPerReading) {
      out.rejects.push({
        reason: 'too_many_metrics',
        detail: `more than ${lim.maxMetricsPerReading} metrics`,
      })
      return false
    }
  }

  return true
}

export function resolveTs(raw: unknown, receivedUs: number, limits: TsLimits) {
  if (raw === undefined) return { ok: true as const, tsUs: receivedUs }

  const parsed = parseTimestamp(raw)

  return parsed.ok ? checkRange(parsed.tsUs, receivedUs, limits) : parsed
}

export function kindOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (v instanceof ExactNumber) return 'a number'
  return `a ${typeof v}`
}
