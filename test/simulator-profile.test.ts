import t from 'tap'
import { decodeMessage } from '../bridge/decode/index.js'
import { decodeOptions } from '../bridge/index.js'
import { loadConfig } from '../common/config.js'
import { backoffMs } from '../simulator/backoff.js'
import type { Malformation, PayloadFormat, TimestampForm } from '../simulator/payload.js'
import {
  encodePayload,
  MALFORMATIONS,
  malformedPayload,
  TIMESTAMP_FORMS,
} from '../simulator/payload.js'
import { DeviceProfile, PROFILE_KINDS, READINGS_PER_SAMPLE } from '../simulator/profile.js'
import { seededRand } from '../simulator/random.js'

const decode = decodeOptions(loadConfig({}))
const T0_US = Date.parse('2026-06-01T12:00:00Z') * 1000

function samplesOf(profile: DeviceProfile, n: number, stepS: number) {
  return Array.from({ length: n }, (_, i) => profile.next(T0_US / 1000 + i * stepS * 1000))
}

t.test('values drift within physical bounds, per type', async (t) => {
  const climate = samplesOf(new DeviceProfile('climate', seededRand(1)), 5000, 60)
  const temps = climate.map((s) => s.temp as number)
  const rh = climate.map((s) => s.rh as number)

  t.ok(
    temps.every((v) => v >= -30 && v <= 60),
    'temperature stays in -30..60 °C',
  )
  t.ok(new Set(temps).size > 100, 'temperature wanders rather than repeating')
  t.ok(
    rh.every((v) => v >= 0 && v <= 100),
    'humidity stays in 0..100 %',
  )
  t.ok(climate.some((s) => s.door_open === true) && climate.some((s) => s.door_open === false))

  const meter = samplesOf(new DeviceProfile('meter', seededRand(2)), 500, 10)
  const energy = meter.map((s) => s.energy_wh as number)
  t.ok(
    energy.every((v, i) => i === 0 || v >= (energy[i - 1] as number)),
    'the counter never goes back',
  )
  t.ok((energy.at(-1) as number) > (energy[0] as number), 'the counter grows')
  t.ok(meter.every((s) => typeof s.status === 'string' && typeof s.online === 'boolean'))

  const tracker = samplesOf(new DeviceProfile('tracker', seededRand(3)), 200, 10)
  const first = tracker[0]?.gps as { lat: number; lon: number }
  const last = tracker.at(-1)?.gps as { lat: number; lon: number }
  t.not(first.lat, last.lat, 'the tracker moves')
  t.ok(Math.abs(first.lat - last.lat) < 0.5, 'at vehicle speed, not teleporting')
  const batt = tracker.map((s) => s.batt as number)
  t.ok((batt.at(-1) as number) < (batt[0] as number), 'the battery drains over half an hour')
})

t.test('seq counts samples from 1', async (t) => {
  const p = new DeviceProfile('climate', seededRand(4))
  t.same(
    samplesOf(p, 3, 1).map((s) => s.seq),
    [1, 2, 3],
  )
})

t.test(
  'every profile × format × timestamp form decodes to 5 readings per sample at the sent time',
  async (t) => {
    for (const kind of PROFILE_KINDS) {
      for (const format of ['flat', 'values', 'array'] as PayloadFormat[]) {
        for (const form of TIMESTAMP_FORMS.filter((f) => f !== 'none') as TimestampForm[]) {
          const p = new DeviceProfile(kind, seededRand(5))
          const n = format === 'array' ? 3 : 1
          const samples = Array.from({ length: n }, (_, i) => {
            const tsUs = T0_US + i * 1000 + 123
            return { tsUs, metrics: p.next(tsUs / 1000) }
          })
          const text = encodePayload(samples, format, form)
          const out = decodeMessage('devices/d1/telemetry', Buffer.from(text), T0_US, decode)

          t.equal(out.status, 'decoded', `${kind}/${format}/${form}`)
          if (out.status !== 'decoded') continue
          t.equal(out.rejects.length, 0, `${kind}/${format}/${form}: no refusal`)
          t.equal(
            out.readings.length,
            n * READINGS_PER_SAMPLE,
            `${kind}/${format}/${form}: readings`,
          )

          const exact = form === 'us' || form === 'iso' || form === 'iso-offset'
          const want = samples.map((s) => (exact ? s.tsUs : Math.floor(s.tsUs / 1000) * 1000))
          const got = [...new Set(out.readings.map((r) => r.tsUs))]
          t.same(got, want, `${kind}/${format}/${form}: timestamps`)
        }
      }
    }
  },
)

t.test(
  'malformed payloads are refused with the reason the ledger expects, no reading kept',
  async (t) => {
    for (const kind of MALFORMATIONS) {
      const text = malformedPayload(kind as Malformation, 7, T0_US / 1000, seededRand(6))
      const out = decodeMessage('devices/d1/telemetry', Buffer.from(text), T0_US, decode)

      t.equal(out.status, 'decoded', kind)
      if (out.status !== 'decoded') continue
      t.equal(out.readings.length, 0, `${kind}: nothing stored`)
      t.same(
        out.rejects.map((r) => r.reason),
        [kind],
        `${kind}: reason`,
      )
    }
  },
)

t.test('backoff grows exponentially to its cap, with jitter that spreads a fleet', async (t) => {
  const opts = { baseMs: 500, capMs: 30_000 }
  const rand = seededRand(7)
  const at = (attempt: number) => Array.from({ length: 1000 }, () => backoffMs(attempt, opts, rand))

  const first = at(1)
  t.ok(
    first.every((v) => v >= 250 && v <= 500),
    'attempt 1: 250..500 ms',
  )
  const fifth = at(5)
  t.ok(
    fifth.every((v) => v >= 4000 && v <= 8000),
    'attempt 5: 4..8 s',
  )
  const late = at(20)
  t.ok(
    late.every((v) => v >= 15_000 && v <= 30_000),
    'capped at 30 s',
  )
  const buckets = new Set(late.map((v) => Math.floor(v / 1000)))
  t.ok(buckets.size >= 14, 'spread over the whole jitter window, not synchronised')
})
