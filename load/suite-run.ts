import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { Redis } from 'ioredis'
import pg from 'pg'
import { rawCopyBaseline } from './baselines/raw-copy.js'
import { relayBaseline } from './baselines/relay.js'
import { readLoad } from './harness/reads.js'
import { ProcSampler } from './harness/sampler.js'
import { startLoadStack } from './harness/stack.js'
import type { StepContext, StepResult, StepSpec } from './harness/step.js'
import { runStep } from './harness/step.js'
import { describeMachine } from './machine.js'
import type { BenchReport } from './report/types.js'
import { rampScenario } from './scenarios/ramp.js'
import { latestPaths, readsScenario, round2 } from './scenarios/reads.js'
import type { Suite } from './suites.js'

export interface SuiteOptions {
  databaseUrl: string
  redisUrl: string
  suite: Suite
  token?: string
  bridgeEnv?: Record<string, string>
  say?: (line: string) => void
}

/**
 * Runs a suite end to end: baselines first (nothing else running), then
 * broker and bridge as child processes in a schema and Redis prefix of
 * their own, every scenario, and cleanup.
 */
export async function runSuite(o: SuiteOptions): Promise<BenchReport> {
  const id = randomBytes(4).toString('hex')
  const schema = `load_${id}`
  const redisPrefix = `load:${id}`
  const say = o.say ?? (() => {})
  const started = Date.now()
  const s = o.suite
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: 4 })
  const redis = new Redis(o.redisUrl)
  const offsets: Record<string, number> = {}

  try {
    const machine = await describeMachine(pool, redis)
    say(`relay baseline: ${s.relay.devices} publishers, ${s.relay.durationS} s`)
    const relay = await relayBaseline(s.relay.devices, s.relay.durationS, {
      databaseUrl: o.databaseUrl,
      schema: `${schema}_relay`,
    })

    const stack = await startLoadStack({
      databaseUrl: o.databaseUrl,
      redisUrl: o.redisUrl,
      schema,
      redisPrefix,
      ...(o.bridgeEnv ? { bridgeEnv: o.bridgeEnv } : {}),
    })
    const sampler = new ProcSampler({
      broker: stack.broker.pid,
      bridge: stack.bridge.pid,
      harness: process.pid,
    })
    sampler.start()

    try {
      const ctx: StepContext = {
        stack,
        pool,
        schema,
        say,
        sampler,
        ...(o.token ? { token: o.token } : {}),
      }
      const step = async (spec: StepSpec): Promise<StepResult> => {
        offsets[spec.name] = (Date.now() - started) / 1000
        return runStep(ctx, spec)
      }

      say(`raw copy baseline: ${s.rawCopyRows} rows`)
      const rawCopy = rawCopyBaseline(o.databaseUrl, schema, s.rawCopyRows)

      const ramp = await rampScenario(ctx, { ...s.ramp, prefix: `ld${id}-` }, step)

      const half = ramp.maxSustainable ? ramp.maxSustainable.offeredMsgsPerS / 2 : null
      say(`half rate: ${half ?? 'skipped (nothing sustainable)'}`)
      const halfRate = half
        ? await step({
            name: 'half-rate',
            devices: s.ramp.devices,
            ratePerDevice: (half - 20) / s.ramp.devices,
            durationS: s.halfRateS,
            qos: 1,
            prefix: `ld${id}-h-`,
            fleet: { timestampForms: { us: 1 } },
          })
        : null

      say(`firehose: ${s.firehose.devices} connections at full speed`)
      const firehose = await step({
        name: 'firehose',
        devices: s.firehose.devices,
        ratePerDevice: 20_000,
        durationS: s.firehose.durationS,
        qos: 1,
        prefix: `ld${id}-f-`,
        fleet: { timestampForms: { us: 1 }, maxInflight: 500 },
        drainLimitS: 60,
      })

      say(`fleet: ${s.fleet.devices} devices at 1 msg/s`)
      const fleetPrefix = `ld${id}-d-`
      const fleet = await step({
        name: 'fleet',
        devices: s.fleet.devices,
        ratePerDevice: 1,
        durationS: s.fleet.durationS,
        qos: 1,
        prefix: fleetPrefix,
        fleet: {
          connectRatePerS: s.fleet.connectRatePerS,
          rateSpread: 0.2,
          profiles: { climate: 2, tracker: 1, meter: 1 },
          formats: { flat: 2, values: 1, array: 1 },
          timestampForms: { ms: 2, s: 1, us: 1, iso: 1, 'iso-offset': 1, none: 1 },
          faults: { skew: 0.02, reorder: 0.01, duplicate: 0.01, malformed: 0.01 },
        },
      })

      say(`reads: ${s.reads.connections} connections, ${s.reads.durationS} s, then bare node:http`)
      // Devices the fleet step stored readings for: in a short step a device
      // can end with none (late to connect, its messages malformed), and its
      // latest would be a 404 rather than a read.
      const { rows: withData } = await pool.query<{ device_id: string }>(
        `SELECT DISTINCT device_id FROM ${schema}.telemetry
          WHERE left(device_id, length($1)) = $1 ORDER BY device_id LIMIT 1000`,
        [fleetPrefix],
      )
      const readDevices = withData.map((r) => r.device_id)
      const reads = await readsScenario(ctx, readDevices, s.reads)

      const mixedRate = half ?? s.ramp.offeredMsgsPerS[0] ?? 100
      say(`mixed: ${mixedRate} msg/s writes with reads`)
      const [writes, mixedReads] = await Promise.all([
        step({
          name: 'mixed',
          devices: s.ramp.devices,
          ratePerDevice: Math.max(0.1, (mixedRate - 20) / s.ramp.devices),
          durationS: s.mixed.durationS,
          qos: 1,
          prefix: `ld${id}-m-`,
          fleet: { timestampForms: { us: 1 } },
        }),
        readLoad(
          stack.httpUrl,
          latestPaths(readDevices),
          s.mixed.durationS,
          s.mixed.connections,
          o.token,
        ),
      ])

      const best = ramp.maxSustainable
      const processes = sampler.stop()

      return {
        kind: 'telemetry-load-report',
        version: 1,
        suite: s.name,
        startedAt: new Date(started).toISOString(),
        elapsedS: Math.round((Date.now() - started) / 1000),
        machine,
        loadAvg1mEnd: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
        bridgeEnv: o.bridgeEnv ?? {},
        baselines: { relay, rawCopy, bareHttp: reads.bare },
        ramp,
        halfRate,
        firehose,
        fleet,
        reads,
        mixed: { writes, reads: mixedReads },
        ratios: {
          ingestToRawCopy: best ? round2(best.rowsPerS / rawCopy.rowsPerS) : null,
          ingestToRelay: best
            ? round2(best.achievedMsgsPerS / Math.max(1, relay.deliveredMsgsPerS))
            : null,
          firehoseToRelay: round2(
            firehose.processedMsgsPerS / Math.max(1, relay.deliveredMsgsPerS),
          ),
          readsToBareHttp: reads.ratio,
        },
        processes,
        processSeries: Object.fromEntries(sampler.series),
        stepOffsetsS: offsets,
      }
    } finally {
      sampler.stop()
      await stack.stop()
    }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema}, ${schema}_relay CASCADE`).catch(() => {})
    await dropKeys(redis, redisPrefix)
    redis.disconnect()
    await pool.end()
  }
}

async function dropKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    if (keys.length > 0) await redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
}
