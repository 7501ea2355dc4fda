import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { PayloadFormat, TimestampForm } from './payload.js'
import type { ProfileKind } from './profile.js'

/**
 * What one device sent. Samples carry `seq` 1..sent. A seq in `rejected`
 * was malformed or too far in the future on purpose: the bridge must
 * refuse it. Of the rest, at QoS 1 a seq is either acknowledged (counted
 * in `acked`) or listed in `unacked`; at QoS 0 nothing is acknowledged.
 */
export interface DeviceLedger {
  device: string
  profile: ProfileKind
  format: PayloadFormat
  timestampForm: TimestampForm
  qos: 0 | 1
  /** Clock skew applied to every timestamp, ms (0 = none). */
  skewMs: number
  /** Samples published, so seqs 1..sent exist. */
  sent: number
  /** Messages published (a message may carry several samples). */
  messages: number
  /** Samples whose message the broker acknowledged (QoS 1 PUBACK). */
  acked: number
  unacked: number[]
  /** Seqs the bridge must refuse; their reason codes in `rejectReasons`. */
  rejected: number[]
  rejectReasons: Record<string, number>
  /** Seqs given a timestamp older than an earlier sample's, on purpose. */
  reordered: number[]
  /** Seqs published twice, byte for byte (storage must keep one row). */
  duplicated: number[]
  /** The newest sample expected to be accepted, by timestamp (µs). */
  newest: { seq: number; tsUs: number } | null
}

export interface LedgerHeader {
  kind: 'telemetry-sim-ledger'
  version: 1
  startedAt: string
  readingsPerSample: number
  devices: number
}

export interface LedgerFile {
  header: LedgerHeader
  devices: DeviceLedger[]
}

/** One header line, then one line per device. */
export async function writeLedger(path: string, ledger: LedgerFile): Promise<void> {
  const out = createWriteStream(path)

  for (const line of [ledger.header, ...ledger.devices]) {
    if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain')
  }

  out.end()
  await once(out, 'finish')
}

export async function readLedger(path: string): Promise<LedgerFile> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity })
  let header: LedgerHeader | undefined
  const devices: DeviceLedger[] = []

  for await (const line of lines) {
    if (line.trim() === '') continue
    if (!header) header = JSON.parse(line) as LedgerHeader
    else devices.push(JSON.parse(line) as DeviceLedger)
  }

  if (header?.kind !== 'telemetry-sim-ledger') {
    throw new Error(`${path} is not a simulator ledger (expected a telemetry-sim-ledger header)`)
  }

  return { header, devices }
}

/** Every seq 1..sent not expected to be refused, as the bridge should store them. */
export function expectedSeqs(d: DeviceLedger): number[] {
  const refused = new Set(d.rejected)
  const out: number[] = []

  for (let s = 1; s <= d.sent; s++) if (!refused.has(s)) out.push(s)

  return out
}
