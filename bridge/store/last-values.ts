import type { Redis } from 'ioredis'
import type { Reading, Value } from '../reading.js'

/**
 * Newest-wins last values. Per device a hash of metric → "tsUs|kind|json";
 * a reading replaces the stored one only when its timestamp is strictly
 * newer, so redelivery and backfill never make older data "latest" and an
 * equal timestamp keeps the first value, as Postgres does. A sorted set
 * holds each device's newest reading time (ms) for fleet listings.
 */
const NEWEST_WINS = `
local newest = -1
for i = 2, #ARGV, 3 do
  local ts = tonumber(ARGV[i + 1])
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  local oldTs = old and tonumber(string.match(old, '^(%-?%d+)'))
  if not oldTs or ts > oldTs then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
  end
  if ts > newest then newest = ts end
end
local ms = math.floor(newest / 1000)
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not seen or ms > tonumber(seen) then
  redis.call('ZADD', KEYS[2], ms, ARGV[1])
end
return 1
`

export interface LastValue {
  tsUs: number
  kind: Value['kind']
  /** The value as JSON text, exact (big integers keep every digit). */
  json: string
}

type Scripted = Redis & {
  newestWins(latestKey: string, fleetKey: string, ...args: string[]): Promise<number>
}

export class LastValues {
  readonly #redis: Scripted
  readonly #prefix: string

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('newestWins', { numberOfKeys: 2, lua: NEWEST_WINS })
    this.#redis = redis as Scripted
    this.#prefix = prefix
  }

  latestKey(device: string): string {
    return `${this.#prefix}:latest:${device}`
  }

  get fleetKey(): string {
    return `${this.#prefix}:fleet`
  }

  /** One script call per device, all in one pipelined round trip. */
  async update(readings: readonly Reading[]): Promise<void> {
    const byDevice = newestPerMetric(readings)
    const pipe = this.#redis.pipeline()

    for (const [device, metrics] of byDevice) {
      const args: string[] = [device]

      for (const [metric, r] of metrics)
        args.push(metric, String(r.tsUs), `${r.value.kind}|${valueJson(r.value)}`)

      ;(pipe as unknown as Scripted).newestWins(this.latestKey(device), this.fleetKey, ...args)
    }

    const results = await pipe.exec()
    const failed = results?.find(([err]) => err)
    if (failed?.[0]) throw failed[0]
  }

  /** A device's last values, or undefined when the device is unknown. */
  async read(device: string): Promise<Map<string, LastValue> | undefined> {
    const hash = await this.#redis.hgetall(this.latestKey(device))
    const entries = Object.entries(hash)

    if (entries.length === 0) return undefined

    return new Map(entries.map(([metric, enc]) => [metric, decodeEntry(enc)]))
  }
}

function newestPerMetric(readings: readonly Reading[]): Map<string, Map<string, Reading>> {
  const out = new Map<string, Map<string, Reading>>()

  for (const r of readings) {
    let metrics = out.get(r.device)

    if (!metrics) {
      metrics = new Map()
      out.set(r.device, metrics)
    }

    const held = metrics.get(r.metric)
    if (!held || r.tsUs > held.tsUs) metrics.set(r.metric, r)
  }

  return out
}

export function valueJson(v: Value): string {
  switch (v.kind) {
    case 'float':
      return Object.is(v.value, -0) ? '-0.0' : String(v.value)
    case 'int':
      return v.value.toString()
    case 'string':
      return JSON.stringify(v.value)
    case 'bool':
      return v.value ? 'true' : 'false'
    default:
      return v.value
  }
}

function decodeEntry(enc: string): LastValue {
  const a = enc.indexOf('|')
  const b = enc.indexOf('|', a + 1)

  return {
    tsUs: Number(enc.slice(0, a)),
    kind: enc.slice(a + 1, b) as Value['kind'],
    json: enc.slice(b + 1),
  }
}
