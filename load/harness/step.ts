import type pg from 'pg'
import { createLogger } from '../../common/logger.js'
import type { FleetSummary } from '../../simulator/fleet.js'
import { runFleet } from '../../simulator/fleet.js'
import type { FleetTotals } from '../../simulator/progress.js'
import type { VerifyReport } from '../verify/index.js'
import { verifyRun } from '../verify/index.js'
import type { ChildFleetOptions } from './fleet-child.js'
import { spawnFleet } from './fleet-proc.js'
import type { Percentiles } from './latency.js'
import { LatencyProbe, percentiles } from './latency.js'
import type { ProcSampler } from './sampler.js'
import type { LoadStack } from './stack.js'

export interface StepContext {
  stack: LoadStack
  pool: pg.Pool
  schema: string
  token?: string
  /** Progress lines on stderr. */
  say: (line: string) => void
  /** Samples each step's simulator process as `simulator`. */
  sampler?: ProcSampler
}

export interface StepSpec {
  name: string
  devices: number
  /** Messages per second per device. */
  ratePerDevice: number
  durationS: number
  qos: 0 | 1
  prefix: string
  fleet?: Partial<ChildFleetOptions>
  /** Probe device publishing at this rate beside the load; 0 = no probe. Default 20. */
  probeRate?: number
  /** Check every device's latest over HTTP. Default true. */
  checkLatest?: boolean
  /** After publishing stops, how long the bridge may take to catch up, s. Default 30. */
  drainLimitS?: number
}

export interface TimelinePoint {
  /** Seconds since the step started. */
  t: number
  sentPerS: number
  processedPerS: number
  /** Messages sent but not yet processed by the bridge. */
  lag: number
}

export interface StepResult {
  name: string
  devices: number
  offeredMsgsPerS: number
  durationS: number
  fleet: FleetSummary
  achievedMsgsPerS: number
  /** Messages processed by the bridge per second over the step, drain included. */
  processedMsgsPerS: number
  rowsPerS: number
  /** Backlog when publishing stopped, messages. */
  lagAtEnd: number
  /** Time to work off that backlog, s (null: not within the limit). */
  drainS: number | null
  latencyDb: Percentiles
  latencyHttp: Percentiles
  verify: VerifyReport
  timeline: TimelinePoint[]
  probeTimeline: { t: number; ms: number }[]
}

const log = createLogger('warn')

/** One load step at a fixed offered rate: publish, catch up, verify. */
export async function runStep(ctx: StepContext, spec: StepSpec): Promise<StepResult> {
  const probeRate = spec.probeRate ?? 20
  const probeDevice = `${spec.prefix}probe-00001`
  const probe = new LatencyProbe(probeDevice, ctx.pool, ctx.schema, ctx.stack.httpUrl, ctx.token)
  const base = await ctx.stack.processed()
  const timeline: TimelinePoint[] = []
  const started = Date.now()
  const common = { url: ctx.stack.mqttUrl, qos: spec.qos }

  probe.start()

  // The load runs in a child process; the probe publishes from here, so a
  // busy simulator cannot delay the probe's clock.
  const child = spawnFleet({
    ...common,
    devices: spec.devices,
    rate: spec.ratePerDevice,
    durationS: spec.durationS,
    prefix: spec.prefix,
    ...spec.fleet,
  })
  ctx.sampler?.track('simulator', child.pid)

  let probeTotals: (() => FleetTotals) | undefined
  const totals = [() => child.sent(), () => probeTotals?.().messages ?? 0]
  const ticker = startTimeline(ctx, totals, base, started, timeline)

  const [main, probed] = await Promise.all([
    child.done,
    probeRate > 0
      ? runFleet(
          {
            ...common,
            topic: (d: string) => `devices/${d}/telemetry`,
            devices: 1,
            rate: probeRate,
            durationS: spec.durationS + spec.devices / (spec.fleet?.connectRatePerS ?? 500),
            prefix: `${spec.prefix}probe-`,
            timestampForms: { us: 1 },
            onPublish: probe.onPublish,
            observe: (t) => {
              probeTotals = t
            },
          },
          log,
        )
      : undefined,
  ])

  const sent = main.summary.messagesSent + (probed?.summary.messagesSent ?? 0)
  const lagAtEnd = Math.max(0, sent - ((await ctx.stack.processed()) - base))
  const drainS = await drain(ctx, base, sent, spec.drainLimitS ?? 30)

  clearInterval(ticker)
  await probe.stop()

  const elapsedS = (Date.now() - started) / 1000
  const ledger = {
    ...main.ledger,
    devices: [...main.ledger.devices, ...(probed?.ledger.devices ?? [])],
  }
  const verify = await verifyRun(ledger, {
    pool: ctx.pool,
    schema: ctx.schema,
    prefix: spec.prefix,
    ...(spec.checkLatest === false
      ? {}
      : {
          latest: {
            kind: 'http' as const,
            baseUrl: ctx.stack.httpUrl,
            ...(ctx.token ? { token: ctx.token } : {}),
          },
        }),
  })
  // Devices start publishing as they connect, spread over connectS, and
  // all stop at the same deadline.
  const publishS = spec.durationS + main.summary.connectS / 2

  return {
    name: spec.name,
    devices: spec.devices,
    offeredMsgsPerS: Math.round(spec.devices * spec.ratePerDevice + probeRate),
    durationS: spec.durationS,
    fleet: main.summary,
    achievedMsgsPerS: Math.round(sent / publishS),
    processedMsgsPerS: Math.round((((await ctx.stack.processed()) - base) / elapsedS) * 10) / 10,
    rowsPerS: Math.round((verify.stored * 5) / publishS),
    lagAtEnd,
    drainS,
    latencyDb: percentiles(probe.db),
    latencyHttp: percentiles(probe.http),
    verify,
    timeline,
    probeTimeline: probe.timeline,
  }
}

function startTimeline(
  ctx: StepContext,
  totals: (() => number)[],
  base: number,
  started: number,
  out: TimelinePoint[],
): NodeJS.Timeout {
  let last = { at: started, sent: 0, processed: 0 }

  return setInterval(async () => {
    const now = Date.now()
    const sent = totals.reduce((s, f) => s + f(), 0)
    const processed = (await ctx.stack.processed().catch(() => base)) - base
    const dt = (now - last.at) / 1000

    out.push({
      t: Math.round((now - started) / 100) / 10,
      sentPerS: Math.round((sent - last.sent) / dt),
      processedPerS: Math.round((processed - last.processed) / dt),
      lag: Math.max(0, sent - processed),
    })
    ctx.say(`  ${(now - started) / 1000}s sent ${sent} processed ${processed}`)
    last = { at: now, sent, processed }
  }, 1000)
}

/** Seconds until the bridge has processed `sent` messages since `base`, or null. */
async function drain(
  ctx: StepContext,
  base: number,
  sent: number,
  limitS: number,
): Promise<number | null> {
  const started = Date.now()

  while (Date.now() - started < limitS * 1000) {
    if ((await ctx.stack.processed()) - base >= sent) return (Date.now() - started) / 1000
    await new Promise((r) => setTimeout(r, 100))
  }

  return null
}
