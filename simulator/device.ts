import type { IClientOptions, MqttClient } from 'mqtt'
import mqtt from 'mqtt'
import type { BackoffOptions } from './backoff.js'
import { backoffMs } from './backoff.js'
import type { DeviceLedger } from './ledger.js'
import type { Malformation, PayloadFormat, Sample, TimestampForm } from './payload.js'
import { encodePayload, MALFORMATIONS, malformedPayload, resolutionUs } from './payload.js'
import type { ProfileKind } from './profile.js'
import { DeviceProfile } from './profile.js'
import type { Rand } from './random.js'
import { seededRand } from './random.js'

/** Fractions (0..1) of samples that get a fault injected. */
export interface SampleFaults {
  /** Timestamp 1..30 s older than the previous sample's. */
  reorder: number
  /** The message is published twice. */
  duplicate: number
  /** Replaced by a payload the bridge must refuse. */
  malformed: number
}

export interface DeviceSpec {
  id: string
  profile: ProfileKind
  format: PayloadFormat
  timestampForm: TimestampForm
  qos: 0 | 1
  /** Messages per second of this device. */
  ratePerS: number
  /** Each interval varies by ± this fraction. */
  jitter: number
  /** Samples per message with the `array` format; 1 otherwise. */
  samplesPerMessage: number
  /** Added to every timestamp, ms. */
  skewMs: number
  /** The skew puts samples beyond the bridge's future limit: all refused. */
  skewRejected: boolean
  faults: SampleFaults
  username?: string
  password?: string
  seed: number
}

export interface DeviceRun {
  url: string
  topic: (device: string) => string
  /** Publishing stops at this instant (epoch ms). */
  deadlineMs: number
  /** Unacknowledged QoS 1 messages allowed before due messages are skipped. */
  maxInflight: number
  backoff: BackoffOptions
  /** Called for every sample published (not for duplicates and malformed). */
  onPublish?: (device: string, seq: number, tsUs: number, atMs: number) => void
}

export interface DeviceCounters {
  connects: number
  reconnects: number
  connectErrors: number
  /** Due messages not sent because the connection was down. */
  offlineSkipped: number
  /** Due messages not sent because maxInflight was reached. */
  throttled: number
  inflight: number
  messagesAcked: number
  /** Largest delay between a message's due time and its publish, ms. */
  maxBehindMs: number
}

/** One simulated device: its connection, schedule, faults and ledger entry. */
export class SimDevice {
  readonly ledger: DeviceLedger
  readonly counters: DeviceCounters = {
    connects: 0,
    reconnects: 0,
    connectErrors: 0,
    offlineSkipped: 0,
    throttled: 0,
    inflight: 0,
    messagesAcked: 0,
    maxBehindMs: 0,
  }
  #client: MqttClient | undefined
  #profile: DeviceProfile
  #rand: Rand
  #timer: NodeJS.Timeout | undefined
  #attempt = 0
  #stopping = false
  #nextDueMs = 0
  #lastTsUs = 0
  #pending = new Map<number, number[]>()
  #used = new Set<number>()
  #token = 0
  #drained: (() => void) | undefined

  constructor(
    readonly spec: DeviceSpec,
    private readonly run: DeviceRun,
  ) {
    this.#rand = seededRand(spec.seed)
    this.#profile = new DeviceProfile(spec.profile, this.#rand)
    this.ledger = {
      device: spec.id,
      profile: spec.profile,
      format: spec.format,
      timestampForm: spec.timestampForm,
      qos: spec.qos,
      skewMs: spec.skewMs,
      sent: 0,
      messages: 0,
      acked: 0,
      unacked: [],
      rejected: [],
      rejectReasons: {},
      reordered: [],
      duplicated: [],
      newest: null,
    }
  }

  get connected(): boolean {
    return this.#client?.connected ?? false
  }

  /** Connects (retrying with backoff) and publishes until the deadline. */
  start(): void {
    const opts: IClientOptions = {
      clientId: this.spec.id,
      clean: true,
      // Reconnects are ours: jittered exponential backoff instead of
      // MQTT.js's fixed period, which would synchronise a fleet.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 60,
    }
    if (this.spec.username !== undefined) opts.username = this.spec.username
    if (this.spec.password !== undefined) opts.password = this.spec.password

    const client = mqtt.connect(this.run.url, opts)
    this.#client = client

    client.on('connect', () => this.#onConnect())
    client.on('close', () => this.#onClose())
    client.on('error', () => {
      this.counters.connectErrors++
    })
  }

  #onConnect(): void {
    if (this.counters.connects > 0) this.counters.reconnects++
    this.counters.connects++
    this.#attempt = 0
    if (this.#nextDueMs !== 0 || this.#stopping) return

    // Spread the first message over one interval: no synchronised burst.
    this.#nextDueMs = Date.now() + this.#rand() * this.#intervalMs()
    this.#schedule()
  }

  #onClose(): void {
    if (this.#stopping) return

    this.#attempt++
    const wait = backoffMs(this.#attempt, this.run.backoff, this.#rand)
    setTimeout(() => {
      if (!this.#stopping) this.#client?.reconnect()
    }, wait).unref()
  }

  #intervalMs(): number {
    return 1000 / this.spec.ratePerS
  }

  #schedule(): void {
    const wait = Math.max(0, this.#nextDueMs - Date.now())
    this.#timer = setTimeout(() => this.#tick(), wait)
  }

  #tick(): void {
    const now = Date.now()

    this.counters.maxBehindMs = Math.max(this.counters.maxBehindMs, now - this.#nextDueMs)
    // At high rates one timer fires for several due messages.
    this.#publishOwed(Math.min(now, this.run.deadlineMs), 1000)

    if (this.#nextDueMs < this.run.deadlineMs) this.#schedule()
  }

  /** Publishes every message due before `until`, at most `max`. */
  #publishOwed(until: number, max: number): void {
    for (let n = 0; this.#nextDueMs < until && n < max; n++) {
      this.#publishDue(Date.now())
      const jitter = 1 + this.spec.jitter * (2 * this.#rand() - 1)
      this.#nextDueMs += this.#intervalMs() * jitter
    }
  }

  #publishDue(now: number): void {
    if (!this.connected) {
      this.counters.offlineSkipped++
      return
    }
    if (this.spec.qos === 1 && this.counters.inflight >= this.run.maxInflight) {
      this.counters.throttled++
      return
    }

    const n = this.spec.format === 'array' ? this.spec.samplesPerMessage : 1
    const samples: Sample[] = []

    for (let i = 0; i < n; i++) {
      const sample = this.#sample()
      if (sample) samples.push(sample)
    }

    if (samples.length === 0) return

    const payload = encodePayload(samples, this.spec.format, this.spec.timestampForm)
    const seqs = samples.map((s) => s.metrics.seq as number)

    this.#publish(payload, seqs)
    for (const s of samples)
      this.run.onPublish?.(this.spec.id, s.metrics.seq as number, s.tsUs, now)

    // Without a timestamp a resent message is a new reading (receive time):
    // duplicates are only injected where storage can recognise them.
    if (this.spec.timestampForm !== 'none' && this.#rand() < this.spec.faults.duplicate) {
      this.ledger.duplicated.push(...seqs)
      this.#publish(payload, [])
    }
  }

  /** The next sample, or undefined when it went out malformed on its own. */
  #sample(): Sample | undefined {
    const form = this.spec.timestampForm
    const step = resolutionUs(form)
    const nowUs = Math.floor((performance.timeOrigin + performance.now()) * 1000)
    // Timestamps of one device never repeat at the form's resolution: a
    // repeat would be the same primary key, silently one row.
    let tsUs = Math.max(nowUs + this.spec.skewMs * 1000, this.#lastTsUs + step)
    const reorder = form !== 'none' && this.#lastTsUs > 0 && this.#rand() < this.spec.faults.reorder

    if (reorder)
      tsUs = this.#unusedBefore(
        this.#lastTsUs - step * Math.ceil((1e6 + this.#rand() * 29e6) / step),
        step,
      )
    this.#remember(tsUs, step)

    const metrics = this.#profile.next(tsUs / 1000)
    const seq = this.#profile.seq
    const led = this.ledger

    led.sent = seq

    if (this.#rand() < this.spec.faults.malformed) {
      const kind = MALFORMATIONS[Math.floor(this.#rand() * MALFORMATIONS.length)] as Malformation
      this.#reject(seq, kind)
      this.#publish(malformedPayload(kind, seq, Math.floor(tsUs / 1000), this.#rand), [])
      return undefined
    }

    if (!reorder) this.#lastTsUs = tsUs
    if (this.spec.skewRejected) {
      this.#reject(seq, 'ts_in_future')
    } else {
      if (reorder) led.reordered.push(seq)
      if (!led.newest || tsUs > led.newest.tsUs) led.newest = { seq, tsUs }
    }

    return { tsUs, metrics }
  }

  /** At or before `tsUs`, a timestamp no earlier sample used (same primary key). */
  #unusedBefore(tsUs: number, step: number): number {
    let ts = tsUs
    while (this.#used.has(Math.floor(ts / step))) ts -= step
    return ts
  }

  /** Recent timestamps at the form's resolution: 4096 cover the 30 s a reordering reaches back up to 136 samples/s. */
  #remember(tsUs: number, step: number): void {
    this.#used.add(Math.floor(tsUs / step))
    if (this.#used.size <= 4096) return
    const oldest = this.#used.values().next().value
    if (oldest !== undefined) this.#used.delete(oldest)
  }

  #reject(seq: number, reason: string): void {
    this.ledger.rejected.push(seq)
    this.ledger.rejectReasons[reason] = (this.ledger.rejectReasons[reason] ?? 0) + 1
  }

  #publish(payload: string, seqs: number[]): void {
    const client = this.#client
    if (!client) return

    const token = ++this.#token
    this.ledger.messages++
    if (this.spec.qos === 1) {
      this.#pending.set(token, seqs)
      this.counters.inflight++
    }

    client.publish(this.run.topic(this.spec.id), payload, { qos: this.spec.qos }, (err) => {
      if (this.spec.qos === 0) return
      const acked = this.#pending.get(token)
      if (!acked) return

      this.#pending.delete(token)
      this.counters.inflight--
      if (err) this.ledger.unacked.push(...acked)
      else {
        this.ledger.acked += acked.length
        this.counters.messagesAcked++
      }
      if (this.counters.inflight === 0) this.#drained?.()
    })
  }

  /** Stops publishing, waits up to `drainMs` for acknowledgements, disconnects. */
  async stop(drainMs: number): Promise<void> {
    clearTimeout(this.#timer)
    // A device running late still owes what fell due before the deadline:
    // the offered rate is what was scheduled, lateness shows in maxBehindMs.
    if (this.#nextDueMs > 0) this.#publishOwed(this.run.deadlineMs, 1_000_000)

    if (this.counters.inflight > 0 && this.connected) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve
        setTimeout(resolve, drainMs).unref()
      })
    }

    this.#stopping = true
    for (const seqs of this.#pending.values()) this.ledger.unacked.push(...seqs)
    this.ledger.unacked.sort((a, b) => a - b)

    const client = this.#client
    if (client) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()))
  }
}
