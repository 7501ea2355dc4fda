/**
 * The load harness: baselines, QoS 1 step ramp, half rate, firehose,
 * fleet, reads and mixed, each verified against the simulator's ledger,
 * then report.json, report.html and summary.md.
 *
 * Run: DATABASE_URL=… REDIS_URL=… npx tsx load/run.ts [--suite standard|full|tiny]
 *      [--out load/results/<time>] [--token T] [--bridge-env BATCH_MAX_AGE_MS=50,…]
 * `make bench` runs the standard suite and prints the summary.
 */
import { parseArgs } from 'node:util'
import { writeReport } from './report/write.js'
import { runSuite } from './suite-run.js'
import { SUITES } from './suites.js'

const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'standard' },
    out: { type: 'string' },
    token: { type: 'string' },
    'bridge-env': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
})

const suite = SUITES[values.suite]
const databaseUrl = process.env.DATABASE_URL
const redisUrl = process.env.REDIS_URL

if (!suite || !databaseUrl || !redisUrl) {
  process.stderr.write(
    `usage: DATABASE_URL=… REDIS_URL=… load/run.ts [--suite ${Object.keys(SUITES).join('|')}] [--out DIR] [--token T] [--bridge-env K=V,…]\n`,
  )
  process.exit(2)
}

const bridgeEnv = Object.fromEntries(
  (values['bridge-env'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
)
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)
const out = values.out ?? `load/results/${stamp}`
const say = values.quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`)

const report = await runSuite({
  databaseUrl,
  redisUrl,
  suite,
  bridgeEnv,
  say,
  ...(values.token ? { token: values.token } : {}),
})
const files = writeReport(out, report)

process.stdout.write(
  `${await import('node:fs').then((fs) => fs.readFileSync(files.markdown, 'utf8'))}\n`,
)
process.stdout.write(`report: ${files.html}\njson:   ${files.json}\n`)
