/**
 * Micro-benchmark of the binary COPY encoder on typical rows (a device id,
 * a short metric, a float). Prints one JSON line.
 * Run: npx tsx load/bench-encode.ts [rows]
 */
import { encodeTelemetryCopy } from '../bridge/copy/binary.js'
import type { Reading } from '../bridge/reading.js'

const rows = Number(process.argv[2] ?? 1_000_000)
const devices = 1000
const readings: Reading[] = []
const t0 = 1_717_000_000_000_000
for (let i = 0; i < rows; i++) {
  const device = `dev-${String(i % devices).padStart(5, '0')}`
  const value = 20 + (i % 100) / 10
  readings.push({ device, metric: 'temp', tsUs: t0 + i, value: { kind: 'float', value } })
}

function run(): { ms: number; bytes: number; chunks: number } {
  const start = process.hrtime.bigint()
  const chunks = encodeTelemetryCopy(readings)
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  let bytes = 0
  for (const c of chunks) bytes += c.length
  return { ms, bytes, chunks: chunks.length }
}

// Warm up so the JIT has compiled the hot path, then keep the best of 5.
run()
let best = run()
for (let i = 0; i < 4; i++) {
  const r = run()
  if (r.ms < best.ms) best = r
}
const rowsPerSec = Math.round(rows / (best.ms / 1000))
const { bytes, chunks } = best
const ms = Math.round(best.ms)
console.log(JSON.stringify({ rows, ms, rowsPerSec, bytes, chunks }))
