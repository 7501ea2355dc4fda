import { Redis } from 'ioredis'
import t from 'tap'
import { createPool, migrate } from '../bridge/store/db.js'
import { LastValues } from '../bridge/store/last-values.js'
import { createLogger } from '../common/logger.js'
import { verifyRun } from '../load/verify/index.js'
import type { DeviceLedger, LedgerFile } from '../simulator/ledger.js'
import { readLedger, writeLedger } from '../simulator/ledger.js'
import { isolatedConfig } from './helpers/env.js'

const log = createLogger('silent')
const T0_US = Date.parse('2026-03-01T00:00:00Z') * 1000
const SEC = 1_000_000

function device(id: string, sent: number, extra: Partial<DeviceLedger> = {}): DeviceLedger {
  return {
    device: id,
    profile: 'climate',
    format: 'flat',
    timestampForm: 'us',
    qos: 1,
    skewMs: 0,
    sent,
    messages: sent,
    acked: sent,
    unacked: [],
    rejected: [],
    rejectReasons: {},
    reordered: [],
    duplicated: [],
    newest: null,
    ...extra,
  }
}

/** seq n at T0 + n s, unless `ts` moves it. */
function rows(id: string, seqs: number[], ts: Record<number, number> = {}) {
  return seqs.map((seq) => ({ id, seq, tsUs: ts[seq] ?? T0_US + seq * SEC }))
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

t.test(
  'the verifier catches a planted loss, duplicate, reordering and stale latest, and nothing else',
  async (t) => {
    const config = isolatedConfig(t)
    const db = { databaseUrl: config.DATABASE_URL!, schema: config.PG_SCHEMA, poolSize: 2 }
    await migrate(db, log)
    const pool = createPool(db, log)
    t.teardown(() => pool.end())
    const redis = new Redis(config.REDIS_URL!)
    t.teardown(() => redis.disconnect())
    const lastValues = new LastValues(redis, config.REDIS_KEY_PREFIX)

    const p = 'v-'
    const planted = [
      ...rows(`${p}clean`, range(1, 10)),
      // seq 4 acknowledged, never stored.
      ...rows(`${p}lost`, [1, 2, 3, 5, 6]),
      // seq 3 stored twice under two timestamps.
      ...rows(`${p}dup`, [1, 2, 3, 4]),
      { id: `${p}dup`, seq: 3, tsUs: T0_US + 3 * SEC + 500 },
      // seq 7 older than seq 6, not on purpose.
      ...rows(`${p}order`, range(1, 8), { 7: T0_US + 5 * SEC + 10 }),
      // seq 5 older on purpose (the ledger says so): not a fault.
      ...rows(`${p}injected`, range(1, 6), { 5: T0_US - 20 * SEC }),
      // seq 3 never acknowledged: missing is allowed, reported apart.
      ...rows(`${p}unacked`, [1, 2]),
      // seq 2 was sent malformed on purpose, yet a row exists.
      ...rows(`${p}unexpected`, [1, 2, 3]),
      ...rows(`${p}stale`, range(1, 5)),
    ]

    const values = planted.map((r) => `('${r.id}', 'seq', to_timestamp(${r.tsUs} / 1e6), ${r.seq})`)
    await pool.query(
      `INSERT INTO telemetry (device_id, metric, ts, v_int) VALUES ${values.join(',')}`,
    )

    const ledger: LedgerFile = {
      header: {
        kind: 'telemetry-sim-ledger',
        version: 1,
        startedAt: new Date().toISOString(),
        readingsPerSample: 5,
        devices: 8,
      },
      devices: [
        device(`${p}clean`, 10),
        device(`${p}lost`, 6),
        device(`${p}dup`, 4),
        device(`${p}order`, 8),
        device(`${p}injected`, 6, { reordered: [5] }),
        device(`${p}unacked`, 3, { acked: 2, unacked: [3] }),
        device(`${p}unexpected`, 3, { rejected: [2], rejectReasons: { invalid_json: 1 } }),
        device(`${p}stale`, 5),
      ],
    }

    // Latest as the bridge would hold it: newest by timestamp, except the
    // stale device, whose latest shows seq 4 while seq 5 is newer.
    for (const d of ledger.devices) {
      const mine = planted.filter((r) => r.id === d.device)
      const newest = mine.reduce((a, b) => (b.tsUs > a.tsUs ? b : a))
      const shown = d.device === `${p}stale` ? mine.find((r) => r.seq === 4)! : newest
      await lastValues.update([
        {
          device: d.device,
          metric: 'seq',
          tsUs: shown.tsUs,
          value: { kind: 'int', value: BigInt(shown.seq) },
        },
      ])
    }

    // Through the file, as a run would hand it over.
    const file = `${t.testdirName}.ndjson`
    const { mkdirSync } = await import('node:fs')
    const { dirname } = await import('node:path')
    mkdirSync(dirname(file), { recursive: true })
    await writeLedger(file, ledger)
    const read = await readLedger(file)
    t.same(read, ledger, 'the ledger survives its file')

    const report = await verifyRun(read, {
      pool,
      schema: config.PG_SCHEMA,
      prefix: p,
      latest: { kind: 'redis', lastValues },
    })
    const of = (id: string) => report.faulty.find((v) => v.device === `${p}${id}`)

    t.equal(report.ok, false)
    t.equal(report.lostAcked, 1, 'one acknowledged reading lost')
    t.same(of('lost')?.lostAcked, [4])
    t.equal(report.lostUnacked, 1, 'one unacknowledged reading missing, counted apart')
    t.equal(of('unacked'), undefined, 'a missing unacknowledged reading is not a fault')
    t.equal(report.duplicated, 1)
    t.same(of('dup')?.duplicated, [3])
    t.equal(report.outOfOrder, 1)
    t.same(of('order')?.outOfOrder, [7])
    t.equal(report.reorderedAsInjected, 1, 'the injected reordering is recognised')
    t.equal(of('injected'), undefined)
    t.same(of('unexpected')?.unexpected, [2], 'a row for a seq that had to be refused')
    t.equal(of('clean'), undefined)
    t.equal(report.latestChecked, 8)
    t.equal(report.latestMismatched, 1)
    t.same(report.latestMismatches[0], {
      device: `${p}stale`,
      expected: { seq: 5, tsUs: T0_US + 5 * SEC },
      shown: { seq: 4, tsUs: T0_US + 4 * SEC },
    })
    t.equal(report.faulty.length, 4, 'lost, dup, order, unexpected; nothing else')
  },
)
