import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import type { Batch } from '../bridge/batcher.js'
import { Delivery } from '../bridge/delivery.js'
import type { Reading, Value } from '../bridge/reading.js'
import { Spool } from '../bridge/spool.js'
import type { SpooledBatch } from '../bridge/spool-codec.js'
import { decodeBatch, encodeBatch } from '../bridge/spool-codec.js'
import { createLogger } from '../common/logger.js'
import { eventually } from './helpers/env.js'

const log = createLogger('silent')

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'spool-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const value: fc.Arbitrary<Value> = fc.oneof(
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .map((v) => ({ kind: 'float' as const, value: v })),
  fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n).map((v) => ({ kind: 'int' as const, value: v })),
  fc.constantFrom('1e400', '0.12345678901234567890', '-0.00').map((v) => ({
    kind: 'numeric' as const,
    value: v,
  })),
  fc.boolean().map((v) => ({ kind: 'bool' as const, value: v })),
  fc.string({ unit: 'binary' }).map((v) => ({ kind: 'string' as const, value: v })),
  fc.json().map((v) => ({ kind: 'json' as const, value: v })),
)

const reading: fc.Arbitrary<Reading> = fc.record({
  device: fc.string({ minLength: 1 }),
  metric: fc.string({ minLength: 1 }),
  tsUs: fc.integer({ min: 0, max: 2 ** 52 }),
  value,
})

t.test('a spooled batch reads back exactly, every value kind', async (t) => {
  fc.assert(
    fc.property(fc.array(reading, { maxLength: 20 }), (readings) => {
      const batch: SpooledBatch = {
        readings,
        letters: [
          {
            receivedUs: 1,
            topic: 'devices/x/telemetry',
            payload: Buffer.from([0, 255, 10]),
            payloadBytes: 3,
            reason: 'invalid_json',
            detail: 'bad',
            device: 'x',
            metric: undefined,
            sqlstate: undefined,
          },
        ],
        outcomes: ['stored', 'rejected'],
        openedAtMs: 123,
      }
      const back = decodeBatch(encodeBatch(batch))
      t.same(back, batch)
      return readings.every((r, i) => Object.is(r.value.value, back.readings[i]?.value.value))
    }),
  )
  t.ok(Object.is(decodeBatch(encodeBatch(spooled(1, -0))).readings[0]?.value.value, -0), '-0')
})

function spooled(n: number, v = 1.5, at = 1000): SpooledBatch & Batch {
  return {
    readings: Array.from({ length: n }, (_, i) => ({
      device: 'd',
      metric: 'm',
      tsUs: i,
      value: { kind: 'float', value: v },
    })),
    letters: [],
    outcomes: Array.from({ length: n }, () => 'stored' as const),
    acks: [],
    bytes: n * 10,
    openedAtMs: at,
  }
}

t.test('the spool survives a restart; a half-written segment does not count', async (t) => {
  const dir = await tempDir(t)
  const first = await Spool.open(dir, 1e9, log)
  await first.append(spooled(3, 1, 10))
  await first.append(spooled(2, 2, 20))
  // A crash mid-write leaves only a temporary file behind.
  await writeFile(join(dir, '000000000002-9-30.batch.tmp'), '{"v":1,')

  const again = await Spool.open(dir, 1e9, log)
  t.same([again.batches, again.messages, again.oldestMs], [2, 5, 10])
  t.notOk(
    (await readdir(dir)).some((f) => f.endsWith('.tmp')),
    'temporary file removed',
  )

  const oldest = await again.peek()
  t.equal(oldest?.batch.readings.length, 3, 'first in, first out')
  await again.remove(oldest?.name as string)
  await again.append(spooled(1, 3, 40))
  const next = await again.peek()
  t.equal(next?.batch.openedAtMs, 20)
  t.same([again.batches, again.messages], [2, 3])
})

t.test('an unreadable segment is set aside, not replayed forever', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, '000000000000-4-5.batch'), 'not json')
  const spool = await Spool.open(dir, 1e9, createLogger('silent'))
  await spool.append(spooled(1))
  const next = await spool.peek()
  t.equal(next?.batch.readings.length, 1)
  t.same(await readdir(join(dir, 'corrupt')), ['000000000000-4-5.batch'])
})

/** A Postgres stand-in whose writes wait until released. */
function gatedWriter() {
  const written: SpooledBatch[] = []
  let open = false
  let wake: () => void = () => undefined
  return {
    written,
    release() {
      open = true
      wake()
    },
    async write(batch: SpooledBatch, signal: AbortSignal) {
      while (!open) {
        await new Promise<void>((resolve) => {
          wake = resolve
          signal.addEventListener('abort', () => resolve(), { once: true })
        })
        if (signal.aborted) throw new Error('aborted')
      }
      written.push(batch)
    },
  }
}

function ackingBatch(n: number, acked: number[], first: number): Batch {
  const b = spooled(n, 1.5, first)
  b.acks = Array.from({ length: n }, (_, i) => () => acked.push(first + i))
  return b
}

t.test(
  'delivery: acks once durable, spills over the cap, pauses when the spool is full',
  async (t) => {
    const dir = await tempDir(t)
    // Full after three spilled batches of five.
    const spool = await Spool.open(dir, 2 * encodeBatch(spooled(5)).length + 1, log)
    const db = gatedWriter()
    const acked: number[] = []
    const pressure: boolean[] = []
    const stop = new AbortController()
    const delivery = new Delivery(
      spool,
      { maxMessages: 10, maxBytes: 1e9 },
      (b, s) => db.write(b, s),
      stop.signal,
      log,
      (p) => pressure.push(p),
    )

    // As Pipeline.ingest does: a message is taken only while there is room.
    let seq = 0
    let deferred = 0
    const push = (n: number) => {
      let taken = 0
      for (let i = 0; i < n; i++) {
        if (!delivery.hasRoom()) {
          deferred++
          continue
        }
        delivery.held(10)
        taken++
      }
      if (taken === 0) return
      delivery.push(ackingBatch(taken, acked, seq))
      seq += taken
    }

    push(5) // being written, stuck
    push(5)
    await new Promise((r) => setTimeout(r, 20))
    t.same(acked, [], 'nothing is acknowledged before it is durable')

    push(5) // 15 held > 10: the oldest waiting batch goes to the spool
    await eventually(async () => acked.length > 0, 5_000, 'a spill')
    t.same(acked, [5, 6, 7, 8, 9], 'a spilled batch is acknowledged')
    t.equal(spool.batches, 1)

    for (let i = 0; i < 6; i++) {
      push(5)
      await new Promise((r) => setTimeout(r, 10))
    }
    await eventually(async () => spool.isFull, 5_000, 'a full spool')
    t.ok(spool.isFull, 'the spool filled up')
    t.ok(delivery.stats().paused, 'intake paused')
    t.notOk(delivery.hasRoom(), 'new messages are refused')
    t.same(pressure, [], 'no disconnect while held messages wait for their PUBACK')
    t.ok(delivery.stats().memoryMessages <= 20, 'memory stays within twice its cap')
    t.ok(deferred > 0, 'messages beyond that are not taken (nor acknowledged)')

    db.release()
    await delivery.idle()
    t.same(pressure, [true, false], 'disconnected once all was acknowledged, then resumed')
    t.same(
      [...acked].sort((a, b) => a - b),
      Array.from({ length: seq }, (_, i) => i),
      'every message acknowledged once',
    )
    t.equal(
      db.written.reduce((n, b) => n + b.outcomes.length, 0),
      seq,
      'every message written once',
    )
    const starts = db.written.map((b) => b.openedAtMs)
    t.same(
      starts,
      [...starts].sort((a, b) => a - b),
      'written first in, first out',
    )
    t.same(delivery.stats(), {
      memoryMessages: 0,
      memoryBytes: 0,
      spoolMessages: 0,
      spoolBytes: 0,
      oldestMs: undefined,
      paused: false,
    })
  },
)
