import type { TopicPattern } from '../bridge/decode/topics.js'
import { matchTopic, validateDeviceId } from '../bridge/decode/topics.js'
import type { Identity } from './auth.js'
import type { RefusalReason } from './refusals.js'

export interface RightsOptions {
  /** Telemetry topics (TOPIC_PATTERNS): devices publish here, services read. */
  telemetry: readonly TopicPattern[]
  /** Levels of BROKER_COMMAND_TOPIC, one of them `{device}`. */
  commandLevels: readonly string[]
  maxIdLength: number
  maxTopicBytes: number
  maxTopicLevels: number
}

/**
 * Who may use which topic. A device publishes telemetry under its own id
 * and subscribes under its own command topic; a service account reads every
 * device's telemetry and publishes commands. Everything else is refused.
 */
export class TopicRights {
  constructor(private readonly o: RightsOptions) {}

  publish(who: Identity, topic: string): RefusalReason | undefined {
    const bad = this.shape(topic)
    if (bad) return bad

    if (who.role === 'service') {
      return this.underCommands(topic.split('/'), undefined) ? undefined : 'publish_denied'
    }

    const m = matchTopic(topic, this.o.telemetry, this.o.maxIdLength)
    return m.ok && m.device === who.id ? undefined : 'publish_denied'
  }

  subscribe(who: Identity, filter: string): RefusalReason | undefined {
    const bad = this.shape(filter)
    if (bad) return bad

    const levels = filter.split('/')

    if (who.role === 'device') {
      return this.underCommands(levels, who.id) ? undefined : 'subscribe_denied'
    }

    return this.o.telemetry.some((p) => withinPattern(levels, p, this.o.maxIdLength))
      ? undefined
      : 'subscribe_denied'
  }

  private shape(topic: string): RefusalReason | undefined {
    // mqtt-packet decodes invalid UTF-8 to U+FFFD; U+0000 is forbidden [MQTT-4.7.3-2].
    if (topic.includes('\u0000') || topic.includes('\uFFFD')) return 'topic_invalid'
    if (Buffer.byteLength(topic) > this.o.maxTopicBytes) return 'topic_too_long'
    if (topic.split('/').length > this.o.maxTopicLevels) return 'topic_too_deep'
    return undefined
  }

  /**
   * The command topic's levels, with `{device}` equal to `device` (or any
   * valid id when undefined), then anything. The pinned prefix carries no
   * wildcard, so a filter here can only match that device's commands.
   */
  private underCommands(levels: readonly string[], device: string | undefined): boolean {
    const want = this.o.commandLevels
    if (levels.length < want.length) return false

    return want.every((w, i) => {
      const got = levels[i] as string
      if (w !== '{device}') return got === w
      if (device !== undefined) return got === device
      return validateDeviceId(got, this.o.maxIdLength) === undefined
    })
  }
}

/** A filter no wider than a pattern's: same levels, `+` or one id where it names one. */
function withinPattern(levels: readonly string[], p: TopicPattern, maxIdLength: number): boolean {
  if (levels.length !== p.levels.length) return false

  return p.levels.every((want, i) => {
    const got = levels[i] as string
    if (!want.startsWith('{')) return got === want
    if (got === '+') return true
    return validateDeviceId(got, maxIdLength) === undefined
  })
}

/** Splits BROKER_COMMAND_TOPIC, which must name `{device}` once and hold no wildcard. */
export function commandLevels(source: string): string[] {
  const levels = source.split('/')
  const named = levels.filter((l) => l === '{device}').length
  const literalsOk = levels.every((l) => l === '{device}' || /^[^+#{}]+$/.test(l))

  if (named !== 1 || !literalsOk || source.startsWith('$')) {
    throw new RangeError(
      `command topic ${JSON.stringify(source)} must have literal levels and one {device}`,
    )
  }

  return levels
}
