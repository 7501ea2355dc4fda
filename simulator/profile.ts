import type { Rand } from './random.js'

/**
 * Plausible sensor values that drift with time. Each profile publishes
 * `seq` plus four metrics of different types, so every sample is exactly
 * five readings once the bridge flattens `gps` into `gps.lat`/`gps.lon`.
 */
export type ProfileKind = 'climate' | 'tracker' | 'meter'

export const PROFILE_KINDS: readonly ProfileKind[] = ['climate', 'tracker', 'meter']

/** Readings per sample, `seq` included, for every profile. */
export const READINGS_PER_SAMPLE = 5

export type MetricValue = number | boolean | string | { lat: number; lon: number }

export type Metrics = Record<string, MetricValue>

const STATUSES = ['ok', 'idle', 'moving', 'charging', 'fault'] as const

export class DeviceProfile {
  readonly kind: ProfileKind
  #seq = 0
  #lastMs: number | undefined
  #temp: number
  #rh: number
  #batt: number
  #door = false
  #online = true
  #lat: number
  #lon: number
  #headingRad: number
  #energyWh: number
  #status: (typeof STATUSES)[number] = 'ok'

  constructor(
    kind: ProfileKind = 'climate',
    private readonly rand: Rand = Math.random,
  ) {
    this.kind = kind
    this.#temp = 18 + rand() * 8
    this.#rh = 40 + rand() * 20
    this.#batt = 80 + rand() * 20
    this.#lat = 48 + rand() * 6
    this.#lon = 2 + rand() * 14
    this.#headingRad = rand() * 2 * Math.PI
    this.#energyWh = Math.floor(rand() * 1_000_000)
  }

  /** Sequence number of the last sample, 0 before the first. */
  get seq(): number {
    return this.#seq
  }

  /** The next sample's metrics at `tsMs`; drift scales with the time elapsed. */
  next(tsMs: number): Metrics {
    const dtS = this.#lastMs === undefined ? 1 : Math.max(0, (tsMs - this.#lastMs) / 1000)

    this.#lastMs = tsMs
    this.#seq++
    this.#drift(dtS)

    return { seq: this.#seq, ...this.#metrics() }
  }

  #drift(dtS: number): void {
    const r = this.rand
    const step = Math.sqrt(Math.min(dtS, 3600))

    // Temperature: a random walk; humidity: mean-reverting inside 0..100 %.
    this.#temp = clamp(this.#temp + (r() - 0.5) * 0.2 * step, -30, 60)
    this.#rh = clamp(this.#rh + (50 - this.#rh) * 0.01 + (r() - 0.5) * 0.6 * step, 0, 100)
    // Battery: about 1 % per hour, recharged to full once empty.
    this.#batt -= (dtS / 3600) * (0.5 + r())
    if (this.#batt <= 0) this.#batt = 100
    if (r() < 0.05) this.#door = !this.#door
    if (r() < 0.01) this.#online = !this.#online
    if (r() < 0.03) this.#status = STATUSES[Math.floor(r() * STATUSES.length)] ?? 'ok'
    this.#energyWh += Math.floor(r() * 50 * dtS)
    this.#move(dtS)
  }

  /** Up to 20 m/s on a slowly turning heading. */
  #move(dtS: number): void {
    const r = this.rand
    const metres = r() * 20 * Math.min(dtS, 60)

    this.#headingRad += (r() - 0.5) * 0.5
    this.#lat = clamp(this.#lat + (Math.cos(this.#headingRad) * metres) / 111_320, -85, 85)
    const lonScale = 111_320 * Math.cos((this.#lat * Math.PI) / 180)
    this.#lon = wrapLon(this.#lon + (Math.sin(this.#headingRad) * metres) / lonScale)
  }

  #metrics(): Metrics {
    switch (this.kind) {
      case 'climate':
        return {
          temp: round(this.#temp, 2),
          rh: round(this.#rh, 1),
          batt: round(this.#batt, 2),
          door_open: this.#door,
        }
      case 'tracker':
        return {
          gps: { lat: round(this.#lat, 6), lon: round(this.#lon, 6) },
          batt: round(this.#batt, 2),
          status: this.#status,
        }
      case 'meter':
        return {
          energy_wh: this.#energyWh,
          temp: round(this.#temp, 2),
          status: this.#status,
          online: this.#online,
        }
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v))
}

function wrapLon(v: number): number {
  return ((((v + 180) % 360) + 360) % 360) - 180
}

function round(v: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}
