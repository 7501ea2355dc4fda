import type { MessageOutcome } from './batcher.js'
import type { RejectReason } from './decode/index.js'
import type { Reading, Value } from './reading.js'
import type { DeadLetter } from './store/dead-letters.js'

/** What a spooled batch must keep to be written later exactly as it would have been now. */
export interface SpooledBatch {
  readings: Reading[]
  letters: DeadLetter[]
  outcomes: MessageOutcome[]
  /** When the batch's first message arrived (ms), for the oldest-unwritten gauge. */
  openedAtMs: number
}

const VERSION = 1

// Values travel as [kind, text]: JSON numbers would lose int8 digits, -0
// and the exact decimal of a numeric, so every value is text. A double
// prints as the shortest text that reads back to the same double.
type WireValue = [Value['kind'], string | boolean]
type WireReading = [string, string, number, WireValue]
type WireLetter = [number, string, string, number, string, string, string?, string?, string?]

function wireValue(v: Value): WireValue {
  switch (v.kind) {
    case 'float':
      return ['float', Object.is(v.value, -0) ? '-0' : String(v.value)]
    case 'int':
      return ['int', v.value.toString()]
    case 'bool':
      return ['bool', v.value]
    default:
      return [v.kind, v.value]
  }
}

function fromWire([kind, text]: WireValue): Value {
  switch (kind) {
    case 'float':
      return { kind, value: Number(text) }
    case 'int':
      return { kind, value: BigInt(text as string) }
    case 'bool':
      return { kind, value: text === true }
    default:
      return { kind, value: String(text) }
  }
}

export function encodeBatch(b: SpooledBatch): Buffer {
  const readings: WireReading[] = b.readings.map((r) => [
    r.device,
    r.metric,
    r.tsUs,
    wireValue(r.value),
  ])
  const letters: WireLetter[] = b.letters.map((l) => [
    l.receivedUs,
    l.topic,
    l.payload.toString('base64'),
    l.payloadBytes,
    l.reason,
    l.detail,
    l.device,
    l.metric,
    l.sqlstate,
  ])
  return Buffer.from(
    JSON.stringify({ v: VERSION, at: b.openedAtMs, outcomes: b.outcomes, readings, letters }),
  )
}

/** Throws on a file that is not a spooled batch of this version. */
export function decodeBatch(bytes: Buffer): SpooledBatch {
  const o = JSON.parse(bytes.toString('utf8'))
  if (o?.v !== VERSION) throw new Error(`unknown spool format ${JSON.stringify(o?.v)}`)

  return {
    openedAtMs: o.at,
    outcomes: o.outcomes,
    readings: (o.readings as WireReading[]).map(([device, metric, tsUs, v]) => ({
      device,
      metric,
      tsUs,
      value: fromWire(v),
    })),
    letters: (o.letters as WireLetter[]).map((w) => ({
      receivedUs: w[0],
      topic: w[1],
      payload: Buffer.from(w[2], 'base64'),
      payloadBytes: w[3],
      reason: w[4] as RejectReason,
      detail: w[5],
      device: w[6] ?? undefined,
      metric: w[7] ?? undefined,
      sqlstate: w[8] ?? undefined,
    })),
  }
}
