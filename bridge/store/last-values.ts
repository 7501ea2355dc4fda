import type { Redis } from 'ioredis'
import type { Reading, Value } from '../reading.js'
import {
  FINISH_REBUILD,
  FLEET_PAGE,
  NEWEST_WINS,
  READ_LATEST,
  READ_METRIC,
} from './last-values-lua.js'

/**
 * Newest-wins last values. Per device a hash of metric → "tsUs|kind|json";
 * a reading replaces the stored one only when its timestamp is strictly
 * newer, so redelivery and backfill never make older data "latest" and an
 * equal timestamp keeps the first value, as Postgres does. A sorted set
 * holds each device's newest reading time (ms) for fleet listings.
 *
 * A marker key says "these hashes hold everything Postgres holds". It is
 * set only by a finished rebuild (last-values-rebuild.ts), so a Redis that
 * was flushed or restarted empty answers reads with `incomplete` instead
 * of a wrong 404, and readers go to Postgres until the rebuild is done.
 */
export interface LastValue {
  tsUs: number
  kind: Value['kind']
  /** The value as JSON text, exact (big integers keep every digit). */
  json: string
}

/** One stored last value, as restored from Postgres. */
export interface DeviceLastValue extends LastValue {
  device: string
  metric: string
}

export type Lookup<T> = { status: 'found'; value: T } | { status: 'unknown' | 'incomplete' }

export interface FleetPage {
  total: number
  devices: { id: string; lastSeenMs: number }[]
}

type Scripted = Redis & {
  newestWins(latestKey: string, fleetKey: string, ...args: string[]): Promise<number>
  readLatest(latestKey: string, markerKey: string): Promise<number | string[]>
  readMetric(latestKey: string, markerKey: string, metric: string): Promise<number | string | null>
  fleetPage(fleetKey: string, markerKey: string, ...args: string[]): Promise<number | string[]>
  finishRebuild(rebuildKey: string, markerKey: string, runId: string): Promise<number>
}

type Entry = [metric: string, tsUs: number, encoded: string]

/** Past this many devices with failed updates, repair means a full rebuild. */
const MAX_DIRTY_DEVICES = 1000

export class LastValues {
  readonly #redis: Scripted
  readonly #prefix: string
  /** Devices whose update failed, or `all` when too many to list. */
  #dirty: Set<string> | 'all' = new Set()

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('newestWins', { numberOfKeys: 2, lua: NEWEST_WINS })
    redis.defineCommand('readLatest', { numberOfKeys: 2, lua: READ_LATEST })
    redis.defineCommand('readMetric', { numberOfKeys: 2, lua: READ_METRIC })
    redis.defineCommand('fleetPage', { numberOfKeys: 2, lua: FLEET_PAGE })
    redis.defineCommand('finishRebuild', { numberOfKeys: 2, lua: FINISH_REBUILD })
    this.#redis = redis as Scripted
    this.#prefix = prefix
  }

  /** The same keys over another connection (the API reads on its own). */
  over(redis: Redis): LastValues {
    return new LastValues(redis, this.#prefix)
  }

  latestKey(device: string): string {
    return `${this.#prefix}:latest:${device}`
  }

  get fleetKey(): string {
    return `${this.#prefix}:fleet`
  }

  /** Present while the hashes are known to hold every device's newest values. */
  get markerKey(): string {
    return `${this.#prefix}:lv:complete`
  }

  get rebuildKey(): string {
    return `${this.#prefix}:lv:rebuild`
  }

  /** True when Redis takes commands now; reads skip it otherwise. */
  get available(): boolean {
    return this.#redis.status === 'ready'
  }

  /**
   * One script call per device, all in one pipelined round trip. A failure
   * leaves Redis behind Postgres, so it marks the values dirty for the
   * rebuilder before it is thrown.
   */
  async update(readings: readonly Reading[]): Promise<void> {
    const byDevice = new Map<string, Entry[]>()

    for (const [device, metrics] of newestPerMetric(readings)) {
      const entries = [...metrics].map(
        ([metric, r]): Entry => [metric, r.tsUs, `${r.value.kind}|${valueJson(r.value)}`],
      )
      byDevice.set(device, entries)
    }

    await this.#write(byDevice)
  }

  /** Writes values read back from Postgres under the same newest-wins rule. */
  async restore(values: readonly DeviceLastValue[]): Promise<void> {
    const byDevice = new Map<string, Entry[]>()

    for (const v of values) {
      const entries = byDevice.get(v.device) ?? []
      entries.push([v.metric, v.tsUs, `${v.kind}|${v.json}`])
      byDevice.set(v.device, entries)
    }

    await this.#write(byDevice)
  }

  async #write(byDevice: Map<string, Entry[]>): Promise<void> {
    if (byDevice.size === 0) return
    const pipe = this.#redis.pipeline() as unknown as Scripted & {
      exec(): Promise<[Error | null, unknown][] | null>
    }

    for (const [device, entries] of byDevice) {
      const args = [device]
      for (const [metric, tsUs, enc] of entries) args.push(metric, String(tsUs), enc)
      pipe.newestWins(this.latestKey(device), this.fleetKey, ...args)
    }

    try {
      const results = await pipe.exec()
      const failed = results?.find(([err]) => err)
      if (failed?.[0]) throw failed[0]
    } catch (err) {
      this.#markDirty(byDevice.keys())
      throw err
    }
  }

  #markDirty(devices: Iterable<string>): void {
    if (this.#dirty === 'all') return
    for (const d of devices) this.#dirty.add(d)
    if (this.#dirty.size > MAX_DIRTY_DEVICES) this.#dirty = 'all'
  }

  /**
   * The devices whose update failed since the last call (Redis may miss
   * committed values of theirs), or `all` when there were too many to list.
   */
  takeDirty(): ReadonlySet<string> | 'all' {
    const dirty = this.#dirty
    this.#dirty = new Set()
    return dirty
  }

  /** A device's last values; `incomplete` while Redis is not known to hold everything. */
  async read(device: string): Promise<Lookup<Map<string, LastValue>>> {
    const reply = await this.#redis.readLatest(this.latestKey(device), this.markerKey)

    if (typeof reply === 'number') return { status: 'incomplete' }
    if (reply.length === 0) return { status: 'unknown' }

    const values = new Map<string, LastValue>()
    for (let i = 0; i < reply.length; i += 2)
      values.set(reply[i] as string, decodeEntry(reply[i + 1] as string))

    return { status: 'found', value: values }
  }

  /** What the device's hash holds now, complete or not (for the load verifier). */
  async readStored(device: string): Promise<Map<string, LastValue>> {
    const hash = await this.#redis.hgetall(this.latestKey(device))
    return new Map(Object.entries(hash).map(([metric, enc]) => [metric, decodeEntry(enc)]))
  }

  /** One metric of a device; `unknown` when the device or metric has no reading. */
  async readMetric(device: string, metric: string): Promise<Lookup<LastValue>> {
    const reply = await this.#redis.readMetric(this.latestKey(device), this.markerKey, metric)

    if (typeof reply === 'number') return { status: 'incomplete' }
    if (reply === null) return { status: 'unknown' }
    return { status: 'found', value: decodeEntry(reply) }
  }

  /** Devices seen within [minMs, maxMs] ('-inf'/'+inf' for open ends), newest first. */
  async fleet(
    minMs: number | string,
    maxMs: number | string,
    offset: number,
    limit: number,
  ): Promise<Lookup<FleetPage>> {
    const args = [String(minMs), String(maxMs), String(offset), String(limit)]
    const reply = await this.#redis.fleetPage(this.fleetKey, this.markerKey, ...args)

    if (typeof reply === 'number') return { status: 'incomplete' }

    const devices: FleetPage['devices'] = []
    for (let i = 1; i < reply.length; i += 2)
      devices.push({ id: reply[i] as string, lastSeenMs: Number(reply[i + 1]) })

    return { status: 'found', value: { total: Number(reply[0]), devices } }
  }

  /** Whether the completeness marker is present. */
  async isComplete(): Promise<boolean> {
    return (await this.#redis.exists(this.markerKey)) === 1
  }

  /** Announces a rebuild; only the run that announced last may set the marker. */
  async beginRebuild(runId: string): Promise<void> {
    await this.#redis.set(this.rebuildKey, runId)
  }

  /**
   * Sets the marker unless Redis lost the announcement meanwhile (flushed
   * again: `lost`) or a later run took it over (`superseded`).
   */
  async finishRebuild(runId: string): Promise<'complete' | 'lost' | 'superseded'> {
    const r = await this.#redis.finishRebuild(this.rebuildKey, this.markerKey, runId)
    return r === 1 ? 'complete' : r === 0 ? 'lost' : 'superseded'
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
