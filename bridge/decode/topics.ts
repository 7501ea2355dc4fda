import type { RejectReason } from './reasons.js'

/** A compiled topic pattern such as `devices/{device}/telemetry/{metric}`. */
export interface TopicPattern {
  source: string
  levels: readonly string[]
  deviceLevel: number
  /** -1 when the payload names the metrics. */
  metricLevel: number
  /** The MQTT filter that subscribes to it: named levels become `+`. */
  filter: string
}

export type TopicMatch =
  | { ok: true; device: string; metric: string | undefined }
  | { ok: false; reason: RejectReason; detail: string }

// Letters and digits of any script, plus a few separators devices use.
// No `/`, `+`, `#`, whitespace or control characters, so an id can never
// change the shape of a topic or a filter.
const DEVICE_ID = /^[\p{L}\p{N}\p{M}_.:@-]+$/u

export function compilePattern(source: string): TopicPattern {
  const levels = source.split('/')
  const deviceLevel = levels.indexOf('{device}')
  const metricLevel = levels.indexOf('{metric}')

  if (deviceLevel < 0) {
    throw new RangeError(`topic pattern ${JSON.stringify(source)} has no {device} level`)
  }

  const named = levels.filter((l) => l.startsWith('{'))
  const literalsOk = levels.every(
    (l) => l === '{device}' || l === '{metric}' || /^[^+#{}]+$/.test(l),
  )

  if (named.length !== new Set(named).size || !literalsOk || source.startsWith('$')) {
    throw new RangeError(
      `topic pattern ${JSON.stringify(source)} must have literal levels, one {device} and at most one {metric}`,
    )
  }

  const filter = levels.map((l) => (l.startsWith('{') ? '+' : l)).join('/')
  return { source, levels, deviceLevel, metricLevel, filter }
}

export function validateDeviceId(id: string, maxLength: number): string | undefined {
  if (id.length === 0) return 'empty device id'
  if (id.length > maxLength) return `device id longer than ${maxLength} characters`
  if (!DEVICE_ID.test(id))
    return `device id ${JSON.stringify(id.slice(0, 64))} has forbidden characters`
  return undefined
}

/**
 * Extraction is positional and exact: the topic must have the pattern's
 * number of levels and the same literals, so an empty level, a leading `/`
 * or an extra level can never shift which level is read as the device.
 */
export function matchTopic(
  topic: string,
  patterns: readonly TopicPattern[],
  maxDeviceIdLength: number,
): TopicMatch {
  const levels = topic.split('/')

  for (const p of patterns) {
    if (!sameShape(levels, p)) continue

    const device = levels[p.deviceLevel] as string
    const invalid = validateDeviceId(device, maxDeviceIdLength)

    if (invalid) return { ok: false, reason: 'device_id_invalid', detail: invalid }

    const metric = p.metricLevel < 0 ? undefined : levels[p.metricLevel]
    return { ok: true, device, metric }
  }

  return {
    ok: false,
    reason: 'topic_unmatched',
    detail: `no pattern matches ${JSON.stringify(topic.slice(0, 200))}`,
  }
}

/** Whether the pattern's subscription filter delivers this topic (levels already split). */
export function sameShape(levels: readonly string[], p: TopicPattern): boolean {
  if (levels.length !== p.levels.length) return false

  for (let i = 0; i < levels.length; i++) {
    const want = p.levels[i]
    if (want !== '{device}' && want !== '{metric}' && want !== levels[i]) return false
  }

  return true
}
