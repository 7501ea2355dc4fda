/**
 * Micro-benchmark of decodeMessage on typical whole-device payloads, next to
 * the floor it cannot beat: Buffer → string → JSON.parse of the same bytes.
 * 10% of the payloads carry a 16-digit µs timestamp, which sends them
 * through the exact (lossless) parser. Prints one JSON line.
 * Run: npx tsx load/bench-decode.ts [messages] [rounds]
 */
import { decodeMessage } from '../bridge/decode/index.js'
import { decodeOptions } from '../bridge/index.js'
import { loadConfig } from '../common/config.js'

const messages = Number(process.argv[2] ?? 50_000)
const rounds = Number(process.argv[3] ?? 7)
const opts = decodeOptions(loadConfig({}))

// Every timestamp lies in the 20 minutes before receive time.
const receivedUs = 1_717_001_200_000_000
const t0Ms = 1_717_000_000_000

// A fixed-seed LCG, so every run decodes the same bytes.
let seed = 42
function rand(): number {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
  return seed / 2 ** 31
}

/** Rounded to `places`, written as JSON writes it (no trailing zeros). */
const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places

const topics: string[] = []
const payloads: Buffer[] = []
let exactShare = 0

for (let i = 0; i < messages; i++) {
  const tsMs = t0Ms + Math.floor(rand() * 1_200_000)
  const exact = i % 10 === 0
  const ts = exact ? `${tsMs}${String(Math.floor(rand() * 1000)).padStart(3, '0')}` : `${tsMs}`
  const body = {
    seq: i % 65_536,
    temp: round(15 + rand() * 15, 2),
    rh: round(30 + rand() * 40, 1),
    batt: round(20 + rand() * 80, 2),
    door_open: rand() < 0.1,
  }
  const text = `{"ts":${ts},${JSON.stringify(body).slice(1)}`

  if (exact) exactShare++
  topics.push(`devices/dev-${String(i % 1000).padStart(5, '0')}/telemetry`)
  payloads.push(Buffer.from(text))
}

// Check once that every payload decodes cleanly, so the timing is of the
// happy path and not of refusals.
let readings = 0
for (let i = 0; i < messages; i++) {
  const d = decodeMessage(topics[i] as string, payloads[i] as Buffer, receivedUs, opts)
  if (d.status !== 'decoded' || d.rejects.length > 0 || d.readings.length !== 5) {
    throw new Error(`payload ${i} did not decode cleanly: ${payloads[i]}`)
  }
  readings += d.readings.length
}

let sink = 0

function timeDecode(): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < messages; i++) {
    const d = decodeMessage(topics[i] as string, payloads[i] as Buffer, receivedUs, opts)
    if (d.status === 'decoded') sink += d.readings.length
  }
  return Number(process.hrtime.bigint() - start) / 1e9
}

function timeParse(): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < messages; i++) {
    const v = JSON.parse((payloads[i] as Buffer).toString('utf8'))
    if (v !== null) sink++
  }
  return Number(process.hrtime.bigint() - start) / 1e9
}

// Interleave the two so drift (thermal, GC) hits both alike; the first
// round of each warms the JIT and is not counted. Keep the best.
let bestDecode = Number.POSITIVE_INFINITY
let bestParse = Number.POSITIVE_INFINITY

for (let r = 0; r <= rounds; r++) {
  const d = timeDecode()
  const p = timeParse()
  if (r === 0) continue
  bestDecode = Math.min(bestDecode, d)
  bestParse = Math.min(bestParse, p)
}

const decodePerSec = Math.round(messages / bestDecode)
const parsePerSec = Math.round(messages / bestParse)

console.log(
  JSON.stringify({
    messages,
    rounds,
    readingsPerMessage: readings / messages,
    exactShare: exactShare / messages,
    decodeMsgsPerSec: decodePerSec,
    jsonParseMsgsPerSec: parsePerSec,
    // How many times slower decoding is than the bare JSON.parse floor.
    parseOverDecode: Math.round((parsePerSec / decodePerSec) * 100) / 100,
    sink: sink > 0,
  }),
)
