import { readFileSync } from 'node:fs'
import t from 'tap'
import type { BenchReport } from '../load/report/types.js'
import { writeReport } from '../load/report/write.js'
import { runSuite } from '../load/suite-run.js'
import { SUITES } from '../load/suites.js'
import { serviceUrls } from './helpers/env.js'

t.test(
  'a tiny suite runs every scenario against child processes and writes JSON, HTML and Markdown',
  async (t) => {
    const { databaseUrl, redisUrl } = serviceUrls()
    const report = await runSuite({ databaseUrl, redisUrl, suite: SUITES.tiny! })
    const dir = t.testdir()
    const files = writeReport(dir, report)

    const json = JSON.parse(readFileSync(files.json, 'utf8')) as BenchReport
    t.equal(json.kind, 'telemetry-load-report')
    t.ok(json.machine.cores >= 1 && /^v\d+/.test(json.machine.node), 'machine details recorded')
    t.match(json.machine.postgres, /^\d+/)
    t.match(json.machine.redis, /^\d+/)

    t.ok(json.ramp.steps.length >= 1, 'ramp ran')
    for (const s of [...json.ramp.steps, json.firehose, json.fleet, json.mixed.writes]) {
      t.equal(s.verify.lostAcked + s.verify.lostUnacked, 0, `${s.name}: nothing lost`)
      t.equal(s.verify.duplicated, 0, `${s.name}: nothing duplicated`)
      t.equal(s.verify.latestMismatched, 0, `${s.name}: latest is the newest`)
      t.ok(s.verify.stored > 0, `${s.name}: rows stored`)
      t.ok(s.latencyDb.count > 0, `${s.name}: publish → row latency measured`)
    }
    t.ok(json.fleet.verify.reorderedAsInjected >= 0)
    t.ok(json.baselines.relay.deliveredMsgsPerS > 0, 'relay baseline ran')
    t.ok(json.baselines.rawCopy.rowsPerS > 0, 'raw copy baseline ran')
    t.ok(json.reads.api.requestsPerS > 0 && json.reads.bare.requestsPerS > 0, 'both read loads ran')
    t.equal(json.reads.api.non2xx, 0, 'every latest read answered 200')
    t.ok(Object.keys(json.processes).includes('bridge'), 'bridge CPU and RSS sampled')

    const html = readFileSync(files.html, 'utf8')
    t.match(html, /<svg /, 'charts inline')
    t.notMatch(html, /<script|<link|src="http/, 'self-contained: no script, no external resource')
    t.match(html, /max sustainable QoS 1 ingest/)

    const md = readFileSync(files.markdown, 'utf8')
    t.match(md, /\| max sustainable QoS 1 ingest \|/)
    t.match(md, /ratio to raw psql/)
  },
)
