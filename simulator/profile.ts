/**
 * Plausible sensor values that drift over time: temperature and humidity
 * wander, the battery drains, a door opens now and then, and a counter only
 * grows. Each device gets its own starting point.
 */
export class DeviceProfile {
  #temp: number
  #rh: number
  #batt: number
  #door = false
  #seq = 0

  constructor(private readonly rand: () => number = Math.random) {
    this.#temp = 18 + rand() * 8
    this.#rh = 40 + rand() * 20
    this.#batt = 80 + rand() * 20
  }

  get seq(): number {
    return this.#seq
  }

  /** The next reading, as the JSON object a device would publish. */
  next(tsMs: number): Record<string, number | boolean> {
    this.#seq++
    this.#temp = clamp(this.#temp + (this.rand() - 0.5) * 0.2, -20, 60)
    this.#rh = clamp(this.#rh + (this.rand() - 0.5) * 0.5, 0, 100)
    this.#batt = Math.max(0, this.#batt - this.rand() * 0.01)
    if (this.rand() < 0.05) this.#door = !this.#door

    return {
      ts: tsMs,
      seq: this.#seq,
      temp: round(this.#temp, 2),
      rh: round(this.#rh, 1),
      batt: round(this.#batt, 2),
      door_open: this.#door,
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v))
}

function round(v: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}
