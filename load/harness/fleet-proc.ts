import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { FleetSummary } from '../../simulator/fleet.js'
import type { LedgerFile } from '../../simulator/ledger.js'
import { readLedger } from '../../simulator/ledger.js'
import type { ChildFleetOptions } from './fleet-child.js'
import { spawnScript } from './procs.js'

export interface FleetProc {
  pid: number
  /** Messages published so far, from the child's progress lines. */
  sent(): number
  done: Promise<{ ledger: LedgerFile; summary: FleetSummary }>
}

/** Runs a fleet in a child process (load/harness/fleet-child.ts). */
export function spawnFleet(opts: ChildFleetOptions): FleetProc {
  const ledgerPath = join(
    tmpdir(),
    `fleet-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.ndjson`,
  )
  const proc = spawnScript(
    'simulator',
    'load/harness/fleet-child.ts',
    [JSON.stringify(opts), ledgerPath],
    {},
    true,
  )
  let sent = 0
  let out = ''

  createInterface({ input: proc.child.stderr! }).on('line', (line) => {
    const m = /\bsent (\d+)/.exec(line)
    if (m) sent = Number(m[1])
  })
  proc.child.stdout?.on('data', (c: Buffer) => {
    out += c.toString()
  })

  const done = (async () => {
    const [code] = (await once(proc.child, 'exit')) as [number | null]
    if (code !== 0)
      throw new Error(`simulator child exited with ${code}: ${proc.stderrTail().slice(-1500)}`)

    try {
      const summary = JSON.parse(out) as FleetSummary
      sent = summary.messagesSent
      return { ledger: await readLedger(ledgerPath), summary }
    } finally {
      rmSync(ledgerPath, { force: true })
    }
  })()

  return { pid: proc.pid, sent: () => sent, done }
}
