import type { Logger } from '../common/logger.js'
import type { BackoffOptions } from './backoff.js'
import { DEFAULT_BACKOFF } from './backoff.js'
import type { DeviceRun, DeviceSpec } from './device.js'
import { SimDevice } from './device.js'
import type { LedgerFile } from './ledger.js'
import { assertFdBudget } from './limits.js'
import type { PayloadFormat, TimestampForm } from './payload.js'
import type { ProfileKind } from './profile.js'
import { READINGS_PER_SAMPLE } from './profile.js'
import type { FleetTotals } from './progress.js'
import { fleetTotals, startProgress } from './progress.js'
import { pickWeighted, seededRand } from './random.js'

/** Fractions (0..1) of devices (skew) or samples (the rest) given a fault. */
export interface FleetFaults {
  /** Devices whose clock is off; a quarter of them too far ahead to be accepted. */
  skew: number
  reorder: number
  duplicate: number
  malformed: number
}

export interface FleetOptions {
  url: string
  devices: number
  /** Mean messages per second per device. */
  rate: number
  durationS: number
  qos: 0 | 1
  /** Device ids are `${prefix}${n}`, n zero-padded to 5 digits. */
  prefix: string
  topic: (device: string) => string
  /** Each device's rate differs from `rate` by up to ± this fraction. Default 0. */
  rateSpread?: number
  /** Each interval differs by up to ± this fraction. Default 0.1. */
  jitter?: number
  /** Weights of device profiles. Default `{ climate: 1 }`. */
  profiles?: Partial<Record<ProfileKind, number>>
  /** Weights of payload formats. Default `{ flat: 1 }`. */
  formats?: Partial<Record<PayloadFormat, number>>
  /** Weights of timestamp forms. Default `{ ms: 1 }`. */
  timestampForms?: Partial<Record<TimestampForm, number>>
  /** Samples per message with the `array` format. Default 2. */
  samplesPerMessage?: number
  faults?: Partial<FleetFaults>
  /** The bridge's TS_MAX_FUTURE_MS, to know which skews it refuses. Default 300000. */
  tsMaxFutureMs?: number
  /** Credentials per device; none = anonymous. */
  credentials?: (device: string) => { username: string; password?: string } | undefined
  /** New connections per second, so 10,000 devices do not connect at once. Default 500. */
  connectRatePerS?: number
  /**
   * Publishing lasts `durationS` from when every device is connected (each
   * starts as soon as it is), or from this long after the start. Default 120000 ms.
   */
  connectTimeoutMs?: number
  /** Unacknowledged QoS 1 messages per device before due ones are skipped. Default 1000. */
  maxInflight?: number
  backoff?: BackoffOptions
  /** After the deadline, how long to wait for acknowledgements, ms. Default 10000. */
  drainMs?: number
  /** Progress line on stderr every this many ms; 0 = none. Default 0. */
  progressMs?: number
  /** Seed of every random choice, for a reproducible fleet. Default random. */
  seed?: number
  onPublish?: DeviceRun['onPublish']
  /** Receives, at start, a way to read the fleet's running totals. */
  observe?: (totals: () => FleetTotals) => void
}

export interface FleetSummary {
  devices: number
  messagesSent: number
  messagesAcked: number
  samplesSent: number
  readingsSent: number
  /** Samples sent malformed or skewed on purpose, which the bridge must refuse. */
  samplesExpectedRejected: number
  reconnects: number
  offlineSkipped: number
  throttled: number
  maxBehindMs: number
  /** Seconds until every device was connected (or the connect timeout). */
  connectS: number
  elapsedS: number
}

export function deviceIds(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(5, '0')}`)
}

/** Builds each device's spec from the fleet's weights and fractions. */
export function deviceSpecs(opts: FleetOptions): DeviceSpec[] {
  const rand = seededRand(opts.seed ?? Math.floor(Math.random() * 2 ** 31))
  const faults = { skew: 0, reorder: 0, duplicate: 0, malformed: 0, ...opts.faults }
  const maxFutureMs = opts.tsMaxFutureMs ?? 300_000
  const spread = opts.rateSpread ?? 0

  return deviceIds(opts.prefix, opts.devices).map((id) => {
    const skewed = rand() < faults.skew
    const farAhead = skewed && rand() < 0.25
    // Mild skews stay well inside the limit; far ones well beyond it.
    const skewMs = !skewed
      ? 0
      : farAhead
        ? maxFutureMs + 600_000
        : Math.round(-120_000 + rand() * 180_000)
    const format = pickWeighted(opts.formats ?? { flat: 1 }, rand)
    const form = noReceiveTimeArrays(format, pickWeighted(opts.timestampForms ?? { ms: 1 }, rand))
    // Without a timestamp the bridge's clock counts: a device clock cannot be off.
    const clockless = form === 'none'
    const creds = opts.credentials?.(id)

    return {
      id,
      profile: pickWeighted(opts.profiles ?? { climate: 1 }, rand),
      format,
      timestampForm: noReceiveTimeArrays(
        format,
        pickWeighted(opts.timestampForms ?? { ms: 1 }, rand),
      ),
      qos: opts.qos,
      ratePerS: opts.rate * (1 + spread * (2 * rand() - 1)),
      jitter: opts.jitter ?? 0.1,
      samplesPerMessage: format === 'array' ? (opts.samplesPerMessage ?? 2) : 1,
      skewMs: clockless ? 0 : skewMs,
      skewRejected: farAhead && !clockless,
      faults: { reorder: faults.reorder, duplicate: faults.duplicate, malformed: faults.malformed },
      ...(creds ? { username: creds.username, password: creds.password } : {}),
      seed: Math.floor(rand() * 2 ** 31),
    }
  })
}

/**
 * Entries of one array without `ts` all get the message's receive time, so
 * all but one collapse onto the same primary key: not a form to offer.
 */
function noReceiveTimeArrays(format: PayloadFormat, form: TimestampForm): TimestampForm {
  return format === 'array' && form === 'none' ? 'ms' : form
}

/**
 * Connects the fleet at `connectRatePerS`, publishes until `durationS`
 * after the last device started connecting, waits for acknowledgements,
 * disconnects, and returns the ledger of what was sent.
 */
export async function runFleet(
  opts: FleetOptions,
  log: Logger,
): Promise<{ ledger: LedgerFile; summary: FleetSummary }> {
  assertFdBudget(opts.devices)

  const specs = deviceSpecs(opts)
  const connectRate = opts.connectRatePerS ?? 500
  const started = Date.now()
  const run: DeviceRun = {
    url: opts.url,
    topic: opts.topic,
    // Set once the fleet is connected: every device gets the full duration.
    deadlineMs: Number.POSITIVE_INFINITY,
    maxInflight: opts.maxInflight ?? 1000,
    backoff: opts.backoff ?? DEFAULT_BACKOFF,
    ...(opts.onPublish ? { onPublish: opts.onPublish } : {}),
  }
  const devices = specs.map((s) => new SimDevice(s, run))
  opts.observe?.(() => fleetTotals(devices))
  const stopProgress = opts.progressMs ? startProgress(devices, opts.progressMs) : () => {}
  let connectS = 0

  log.info(
    { devices: devices.length, rate: opts.rate, durationS: opts.durationS },
    'fleet starting',
  )

  try {
    await connectSpread(devices, connectRate)
    await allConnected(devices, opts.connectTimeoutMs ?? 120_000)
    connectS = (Date.now() - started) / 1000
    run.deadlineMs = Date.now() + opts.durationS * 1000
    log.info({ connected: fleetTotals(devices).connected, connectS }, 'fleet connect phase over')
    await sleep(run.deadlineMs - Date.now())
    await Promise.all(devices.map((d) => d.stop(opts.drainMs ?? 10_000)))
  } finally {
    stopProgress()
  }

  return { ledger: ledgerOf(devices, started), summary: summarize(devices, started, connectS) }
}

/** Resolves when every device is connected, or after `timeoutMs` with those that are. */
async function allConnected(devices: readonly SimDevice[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs

  while (Date.now() < deadline && devices.some((d) => !d.connected)) await sleep(50)
}

/** Starts devices in slices of 10 ms so connects arrive at an even rate. */
async function connectSpread(devices: readonly SimDevice[], perS: number): Promise<void> {
  const perSlice = Math.max(1, Math.round(perS / 100))

  for (let i = 0; i < devices.length; i += perSlice) {
    for (const d of devices.slice(i, i + perSlice)) d.start()
    if (i + perSlice < devices.length) await sleep(10)
  }
}

function ledgerOf(devices: readonly SimDevice[], started: number): LedgerFile {
  return {
    header: {
      kind: 'telemetry-sim-ledger',
      version: 1,
      startedAt: new Date(started).toISOString(),
      readingsPerSample: READINGS_PER_SAMPLE,
      devices: devices.length,
    },
    devices: devices.map((d) => d.ledger),
  }
}

function summarize(devices: readonly SimDevice[], started: number, connectS: number): FleetSummary {
  const t = fleetTotals(devices)
  let messagesAcked = 0
  let expectedRejected = 0

  for (const d of devices) {
    messagesAcked += d.counters.messagesAcked
    expectedRejected += d.ledger.rejected.length
  }

  return {
    devices: devices.length,
    messagesSent: t.messages,
    messagesAcked,
    samplesSent: t.samples,
    readingsSent: t.samples * READINGS_PER_SAMPLE,
    samplesExpectedRejected: expectedRejected,
    reconnects: t.reconnects,
    offlineSkipped: t.offlineSkipped,
    throttled: t.throttled,
    maxBehindMs: Math.round(t.maxBehindMs),
    connectS,
    elapsedS: (Date.now() - started) / 1000,
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}
