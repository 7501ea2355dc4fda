import type { DeviceLedger } from '../../simulator/ledger.js'

/** One stored `seq` row of a device. */
export interface SeqRow {
  seq: number
  tsUs: number
}

export interface DeviceVerdict {
  device: string
  /** Seqs the bridge should have stored (sent minus expected refusals). */
  expected: number
  /** Distinct seqs found. */
  stored: number
  /** Expected seqs with no row, whose message the broker acknowledged (QoS 1). */
  lostAcked: number[]
  /** Expected seqs with no row, never acknowledged (QoS 0, or no PUBACK by the end). */
  lostUnacked: number[]
  /** Seqs stored more than once (under different timestamps). */
  duplicated: number[]
  /** Seqs stored that should not be: refused on purpose, or never sent. */
  unexpected: number[]
  /** Seqs whose timestamp is older than a lower seq's, not injected on purpose. */
  outOfOrder: number[]
  /** Seqs reordered on purpose and found so (not a fault). */
  reorderedAsInjected: number
  /** The newest accepted row by timestamp, what "latest" must show. */
  newest: SeqRow | null
}

/**
 * Compares one device's ledger with its stored `seq` rows. Pure: the rows
 * may come from Postgres or be planted by a test.
 */
export function judgeDevice(d: DeviceLedger, rows: readonly SeqRow[]): DeviceVerdict {
  const refused = new Set(d.rejected)
  const unacked = new Set(d.unacked)
  const reordered = new Set(d.reordered)
  const bySeq = new Map<number, number[]>()
  let newest: SeqRow | null = null

  for (const r of rows) {
    const ts = bySeq.get(r.seq)
    if (ts) ts.push(r.tsUs)
    else bySeq.set(r.seq, [r.tsUs])
    if (!newest || r.tsUs > newest.tsUs) newest = r
  }

  const v: DeviceVerdict = {
    device: d.device,
    expected: d.sent - refused.size,
    stored: bySeq.size,
    lostAcked: [],
    lostUnacked: [],
    duplicated: [],
    unexpected: [],
    outOfOrder: [],
    reorderedAsInjected: 0,
    newest,
  }

  for (let seq = 1; seq <= d.sent; seq++) {
    if (refused.has(seq) || bySeq.has(seq)) continue
    const guaranteed = d.qos === 1 && !unacked.has(seq)
    ;(guaranteed ? v.lostAcked : v.lostUnacked).push(seq)
  }

  let maxTsUs = Number.NEGATIVE_INFINITY
  const seqs = [...bySeq.keys()].sort((a, b) => a - b)

  for (const seq of seqs) {
    const ts = bySeq.get(seq) as number[]
    const first = Math.min(...ts)

    if (ts.length > 1) v.duplicated.push(seq)
    if (refused.has(seq) || seq < 1 || seq > d.sent) v.unexpected.push(seq)

    // In seq order, a timestamp older than one already seen is out of order.
    if (first < maxTsUs) {
      if (reordered.has(seq)) v.reorderedAsInjected++
      else v.outOfOrder.push(seq)
    }
    // A sample moved back on purpose does not set the bar for the next ones.
    if (!reordered.has(seq)) maxTsUs = Math.max(maxTsUs, first)
  }

  return v
}

/** True when nothing in the verdict is a fault. */
export function deviceClean(v: DeviceVerdict): boolean {
  return (
    v.lostAcked.length === 0 &&
    v.duplicated.length === 0 &&
    v.unexpected.length === 0 &&
    v.outOfOrder.length === 0
  )
}
