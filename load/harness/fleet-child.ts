/**
 * One simulated fleet in a process of its own, so the load it generates
 * does not share an event loop with the latency probe, and its CPU is
 * measured apart. Reads FleetOptions (without functions) as JSON from
 * argv[2], writes the ledger to argv[3], progress lines to stderr and the
 * summary as JSON on stdout.
 */
import { createLogger } from '../../common/logger.js'
import type { FleetOptions } from '../../simulator/fleet.js'
import { runFleet } from '../../simulator/fleet.js'
import { writeLedger } from '../../simulator/ledger.js'

export type ChildFleetOptions = Omit<
  FleetOptions,
  'topic' | 'credentials' | 'onPublish' | 'observe'
>

const opts = JSON.parse(process.argv[2] ?? '{}') as ChildFleetOptions
const ledgerPath = process.argv[3] ?? 'ledger.ndjson'

const { ledger, summary } = await runFleet(
  { ...opts, topic: (d) => `devices/${d}/telemetry`, progressMs: 1000 },
  createLogger('warn'),
)

await writeLedger(ledgerPath, ledger)
process.stdout.write(`${JSON.stringify(summary)}\n`)
