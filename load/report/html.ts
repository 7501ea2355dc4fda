import type { StepResult } from '../harness/step.js'
import { machineLine, summaryRows } from './summary.js'
import { lineChart } from './svg.js'
import type { BenchReport } from './types.js'

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)

function table(head: string[], rows: (string | number)[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('')
  const tr = rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`)
    .join('')
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`
}

function steps(r: BenchReport): StepResult[] {
  return [...r.ramp.steps, ...(r.halfRate ? [r.halfRate] : []), r.firehose, r.fleet, r.mixed.writes]
}

function charts(r: BenchReport): string[] {
  const ramp = r.ramp.steps
  const all = steps(r)
  const at = (s: StepResult) => r.stepOffsetsS[s.name] ?? 0
  const timeline = (pick: (p: StepResult['timeline'][number]) => number) =>
    all
      .flatMap((s) => s.timeline.map((p) => [at(s) + p.t, pick(p)] as const))
      .sort((a, b) => a[0] - b[0])
  const proc = (pick: 'cpu' | 'rssMb') =>
    Object.entries(r.processSeries).map(([name, list]) => ({
      name,
      points: list.map((p) => [p.t, p[pick]] as const),
    }))

  return [
    lineChart({
      title: 'Ramp: throughput by offered rate (QoS 1)',
      xLabel: 'offered msg/s',
      yLabel: 'msg/s',
      series: [
        { name: 'offered', points: ramp.map((s) => [s.offeredMsgsPerS, s.offeredMsgsPerS]) },
        { name: 'published', points: ramp.map((s) => [s.offeredMsgsPerS, s.achievedMsgsPerS]) },
        { name: 'stored rows/5', points: ramp.map((s) => [s.offeredMsgsPerS, s.rowsPerS / 5]) },
      ],
    }),
    lineChart({
      title: 'Ramp: publish → row latency by offered rate',
      xLabel: 'offered msg/s',
      yLabel: 'ms',
      series: (['p50', 'p95', 'p99'] as const).map((p) => ({
        name: p,
        points: ramp.map((s) => [s.offeredMsgsPerS, s.latencyDb[p]] as const),
      })),
    }),
    lineChart({
      title: 'Throughput over the run',
      xLabel: 's since start',
      yLabel: 'msg/s',
      series: [
        { name: 'sent', points: timeline((p) => p.sentPerS) },
        { name: 'processed', points: timeline((p) => p.processedPerS) },
      ],
    }),
    lineChart({
      title: 'Publish → row latency of the probe over the run',
      xLabel: 's since start',
      yLabel: 'ms',
      series: [
        {
          name: 'probe',
          points: all
            .flatMap((s) => s.probeTimeline.map((p) => [at(s) + p.t, p.ms] as const))
            .sort((a, b) => a[0] - b[0]),
        },
      ],
    }),
    lineChart({
      title: 'CPU per process',
      xLabel: 's since stack start',
      yLabel: '% of one core',
      series: proc('cpu'),
    }),
    lineChart({
      title: 'Resident memory per process',
      xLabel: 's since stack start',
      yLabel: 'MB',
      series: proc('rssMb'),
    }),
  ]
}

/** One self-contained page: inline CSS and SVG, no script, no network. */
export function htmlReport(r: BenchReport): string {
  const stepRows = steps(r).map((s) => [
    s.name,
    s.devices,
    s.offeredMsgsPerS,
    s.achievedMsgsPerS,
    s.rowsPerS,
    s.drainS ?? '> limit',
    s.fleet.maxBehindMs,
    `${s.latencyDb.p50} / ${s.latencyDb.p95} / ${s.latencyDb.p99}`,
    `${s.latencyHttp.p50} / ${s.latencyHttp.p95} / ${s.latencyHttp.p99}`,
    s.verify.lostAcked + s.verify.lostUnacked,
    s.verify.duplicated,
    s.verify.outOfOrder,
    `${s.verify.latestMismatched}/${s.verify.latestChecked}`,
  ])

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Load report ${esc(r.startedAt)}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3} svg{display:block;margin:1em 0}
</style></head><body>
<h1>Telemetry ingest load report</h1>
<p>Suite <b>${esc(r.suite)}</b>, started ${esc(r.startedAt)}, ${r.elapsedS} s.<br>${esc(machineLine(r))}</p>
<p>Bridge settings: ${esc(JSON.stringify(r.bridgeEnv))} (empty: defaults).</p>
<h2>Summary</h2>
${table(['measure', 'result', 'goal'], summaryRows(r))}
<h2>Charts</h2>
${charts(r).join('\n')}
<h2>Steps</h2>
${table(['step', 'devices', 'offered msg/s', 'published msg/s', 'rows/s', 'drain s', 'simulator late by ms', 'publish → row p50/p95/p99 ms', 'publish → HTTP latest p50/p95/p99 ms', 'lost', 'duplicated', 'out of order', 'stale latest'], stepRows)}
<h2>Baselines</h2>
${table(
  ['baseline', 'result'],
  [
    [
      'bare broker relay (same Aedes broker, subscriber that does nothing)',
      `${r.baselines.relay.publishedMsgsPerS} msg/s published, ${r.baselines.relay.deliveredMsgsPerS} msg/s delivered by ${r.baselines.relay.devices} publishers`,
    ],
    [
      'raw psql \\copy of the same kind of rows',
      `${r.baselines.rawCopy.rowsPerS} rows/s (${r.baselines.rawCopy.rows} rows)`,
    ],
    [
      'bare node:http, one fixed latest body',
      `${r.baselines.bareHttp.requestsPerS} req/s, p99 ${r.baselines.bareHttp.latencyMs.p99} ms`,
    ],
  ],
)}
<p>Latency is measured by a probe device publishing 20 msg/s beside the load and polled every 10 ms in Postgres and over HTTP, so figures are late by up to 10 ms.</p>
</body></html>
`
}
