import type { StepResult } from '../harness/step.js'
import type { BenchReport } from './types.js'

export type Row = [measure: string, result: string, goal: string]

const n = (v: number) => Math.round(v).toLocaleString('en-US')
const lat = (p: StepResult['latencyDb']) =>
  `${p.p50} / ${p.p95} / ${p.p99} ms (${n(p.count)} samples)`

function verdict(s: StepResult): string {
  const v = s.verify
  const lost = v.lostAcked + v.lostUnacked
  // Not caught up within the drain limit: missing rows may still be on their way.
  const missing =
    s.drainS === null
      ? `${n(lost)} not stored when checked (backlog not drained)`
      : `${n(lost)} lost`
  return `${missing}, ${n(v.duplicated)} duplicated, ${n(v.outOfOrder)} out of order, ${n(v.latestMismatched)} stale latest of ${n(v.latestChecked)}`
}

/** The headline rows shared by the Markdown summary and the HTML report. */
export function summaryRows(r: BenchReport): Row[] {
  const best = r.ramp.maxSustainable
  const rows: Row[] = []

  rows.push([
    'max sustainable QoS 1 ingest',
    best
      ? `${n(best.achievedMsgsPerS)} msg/s = ${n(best.rowsPerS)} rows/s (5 readings/msg); ${verdict(best)}`
      : 'none of the steps was sustainable',
    '≥ 20,000 msg/s (100,000 rows/s), 0 lost',
  ])
  rows.push([
    `ratio to raw psql \\copy (${n(r.baselines.rawCopy.rowsPerS)} rows/s)`,
    r.ratios.ingestToRawCopy === null ? 'n/a' : String(r.ratios.ingestToRawCopy),
    '≥ 0.6',
  ])
  rows.push([
    `ratio to bare broker relay (${n(r.baselines.relay.deliveredMsgsPerS)} msg/s delivered)`,
    r.ratios.ingestToRelay === null ? 'n/a' : String(r.ratios.ingestToRelay),
    '',
  ])
  if (r.halfRate) {
    rows.push([
      `publish → row p50 / p95 / p99 at half rate (${n(r.halfRate.offeredMsgsPerS)} msg/s)`,
      lat(r.halfRate.latencyDb),
      'p99 ≤ 100 ms',
    ])
    rows.push([
      'publish → latest over HTTP p50 / p95 / p99 at half rate',
      lat(r.halfRate.latencyHttp),
      '',
    ])
  }
  rows.push([
    `firehose (${r.firehose.devices} connections, full speed)`,
    `${n(r.firehose.achievedMsgsPerS)} msg/s published, ${n(r.firehose.processedMsgsPerS)} msg/s processed incl. drain (${r.ratios.firehoseToRelay} of relay); ${verdict(r.firehose)}`,
    '',
  ])
  rows.push([
    `fleet (${n(r.fleet.devices)} devices at 1 msg/s, mixed formats and faults)`,
    `connected in ${r.fleet.fleet.connectS} s, publish → row p99 ${r.fleet.latencyDb.p99} ms; ${verdict(r.fleet)}`,
    '',
  ])
  rows.push([
    `HTTP latest reads (${r.reads.api.connections} connections)`,
    `${n(r.reads.api.requestsPerS)} req/s, p99 ${r.reads.api.latencyMs.p99} ms; bare node:http ${n(r.reads.bare.requestsPerS)} req/s; ratio ${r.reads.ratio}`,
    '',
  ])
  rows.push([
    `mixed (${n(r.mixed.writes.offeredMsgsPerS)} msg/s writes + reads)`,
    `writes: publish → row p99 ${r.mixed.writes.latencyDb.p99} ms, ${verdict(r.mixed.writes)}; reads: ${n(r.mixed.reads.requestsPerS)} req/s`,
    '',
  ])
  for (const [name, p] of Object.entries(r.processes)) {
    rows.push([
      `process ${name}`,
      `CPU mean ${p.cpuMean} %, peak ${p.cpuPeak} % (of one core); RSS peak ${p.rssPeakMb} MB`,
      '',
    ])
  }

  return rows
}

export function machineLine(r: BenchReport): string {
  const m = r.machine
  return `${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB, ${m.os}; Node ${m.node}, Postgres ${m.postgres}, Redis ${m.redis}; load average ${m.loadAvg1m} at start, ${r.loadAvg1mEnd} at end`
}

export function markdownSummary(r: BenchReport): string {
  const lines = [
    `### Load run: suite \`${r.suite}\`, ${r.startedAt.slice(0, 16)}Z, ${r.elapsedS} s`,
    '',
    machineLine(r),
    '',
    '| measure | result | goal |',
    '| --- | --- | --- |',
    ...summaryRows(r).map((row) => `| ${row.join(' | ')} |`),
    '',
    '| ramp step (offered msg/s) | published | rows/s | drain s | p50 / p99 publish → row ms | simulator late by ms | lost | sustainable |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.ramp.steps.map(
      (s) =>
        `| ${n(s.offeredMsgsPerS)} | ${n(s.achievedMsgsPerS)} | ${n(s.rowsPerS)} | ${s.drainS ?? '> limit'} | ${s.latencyDb.p50} / ${s.latencyDb.p99} | ${s.fleet.maxBehindMs} | ${s.drainS === null ? `(${s.verify.lostAcked + s.verify.lostUnacked} not yet stored)` : s.verify.lostAcked + s.verify.lostUnacked} | ${s.sustainable ? 'yes' : 'no'} |`,
    ),
    '',
  ]

  return lines.join('\n')
}
