import type pg from 'pg'
import type { LedgerFile } from '../../simulator/ledger.js'
import type { DeviceVerdict, SeqRow } from './judge.js'
import { deviceClean, judgeDevice } from './judge.js'
import type { LatestSource } from './latest.js'
import { latestSeq } from './latest.js'
import { deadLetterCounts, seqRows } from './rows.js'

export type { DeviceVerdict, SeqRow } from './judge.js'
export { judgeDevice } from './judge.js'
export type { LatestSource } from './latest.js'

export interface VerifyOptions {
  pool: pg.Pool
  schema: string
  /** Every device id of the run starts with this. */
  prefix: string
  latest?: LatestSource
  /** Parallel latest look-ups. Default 16. */
  concurrency?: number
}

export interface LatestMismatch {
  device: string
  expected: SeqRow | null
  shown: SeqRow | null
}

export interface VerifyReport {
  devices: number
  samplesSent: number
  expectedStored: number
  stored: number
  /** Expected but missing, acknowledged at QoS 1: a broken guarantee. */
  lostAcked: number
  /** Expected but missing, never acknowledged (QoS 0 or no PUBACK). */
  lostUnacked: number
  duplicated: number
  unexpected: number
  outOfOrder: number
  reorderedAsInjected: number
  expectedRejected: Record<string, number>
  deadLetters: Record<string, number>
  latestChecked: number
  latestMismatched: number
  /** No acknowledged loss, duplicate, unexpected row, disorder or stale latest. */
  ok: boolean
  /** Up to 20 devices with a fault, for a look. */
  faulty: DeviceVerdict[]
  latestMismatches: LatestMismatch[]
}

/** Checks what landed in Postgres (and "latest") against the simulator's ledger. */
export async function verifyRun(ledger: LedgerFile, opts: VerifyOptions): Promise<VerifyReport> {
  const rows = await seqRows(opts.pool, opts.schema, opts.prefix)
  const verdicts = ledger.devices.map((d) => judgeDevice(d, rows.get(d.device) ?? []))
  const report = summarize(ledger, verdicts)

  report.deadLetters = await deadLetterCounts(opts.pool, opts.schema, opts.prefix)

  if (opts.latest) await checkLatest(report, verdicts, opts.latest, opts.concurrency ?? 16)

  report.ok =
    report.lostAcked === 0 &&
    report.duplicated === 0 &&
    report.unexpected === 0 &&
    report.outOfOrder === 0 &&
    report.latestMismatched === 0

  return report
}

function summarize(ledger: LedgerFile, verdicts: DeviceVerdict[]): VerifyReport {
  const r: VerifyReport = {
    devices: verdicts.length,
    samplesSent: 0,
    expectedStored: 0,
    stored: 0,
    lostAcked: 0,
    lostUnacked: 0,
    duplicated: 0,
    unexpected: 0,
    outOfOrder: 0,
    reorderedAsInjected: 0,
    expectedRejected: {},
    deadLetters: {},
    latestChecked: 0,
    latestMismatched: 0,
    ok: false,
    faulty: [],
    latestMismatches: [],
  }

  for (const d of ledger.devices) {
    r.samplesSent += d.sent
    for (const [reason, n] of Object.entries(d.rejectReasons))
      r.expectedRejected[reason] = (r.expectedRejected[reason] ?? 0) + n
  }

  for (const v of verdicts) {
    r.expectedStored += v.expected
    r.stored += v.stored
    r.lostAcked += v.lostAcked.length
    r.lostUnacked += v.lostUnacked.length
    r.duplicated += v.duplicated.length
    r.unexpected += v.unexpected.length
    r.outOfOrder += v.outOfOrder.length
    r.reorderedAsInjected += v.reorderedAsInjected
    if (!deviceClean(v) && r.faulty.length < 20) r.faulty.push(v)
  }

  return r
}

/** "Latest" must be the newest accepted row by timestamp, never the last to arrive. */
async function checkLatest(
  report: VerifyReport,
  verdicts: DeviceVerdict[],
  source: LatestSource,
  concurrency: number,
): Promise<void> {
  let next = 0

  async function worker(): Promise<void> {
    while (next < verdicts.length) {
      const v = verdicts[next++] as DeviceVerdict
      const shown = await latestSeq(source, v.device)
      const same =
        shown === v.newest ||
        (shown !== null &&
          v.newest !== null &&
          shown.seq === v.newest.seq &&
          shown.tsUs === v.newest.tsUs)

      report.latestChecked++
      if (same) continue
      report.latestMismatched++
      if (report.latestMismatches.length < 20)
        report.latestMismatches.push({ device: v.device, expected: v.newest, shown })
    }
  }

  await Promise.all(Array.from({ length: concurrency }, worker))
}
