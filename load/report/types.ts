import type { RawCopyResult } from '../baselines/raw-copy.js'
import type { RelayResult } from '../baselines/relay.js'
import type { ReadResult } from '../harness/reads.js'
import type { ProcSample } from '../harness/sampler.js'
import type { StepResult } from '../harness/step.js'
import type { Machine } from '../machine.js'
import type { RampResult } from '../scenarios/ramp.js'
import type { ReadsResult } from '../scenarios/reads.js'

export interface BenchReport {
  kind: 'telemetry-load-report'
  version: 1
  suite: string
  startedAt: string
  elapsedS: number
  machine: Machine
  /** 1-minute load average at the end of the run. */
  loadAvg1mEnd: number
  /** Bridge settings the run used (defaults unless overridden). */
  bridgeEnv: Record<string, string>
  baselines: {
    relay: RelayResult
    rawCopy: RawCopyResult
    bareHttp: ReadResult
  }
  ramp: RampResult
  halfRate: StepResult | null
  firehose: StepResult
  fleet: StepResult
  reads: ReadsResult
  mixed: { writes: StepResult; reads: ReadResult }
  ratios: {
    /** Highest sustainable ingest rows/s over raw psql \copy rows/s. */
    ingestToRawCopy: number | null
    /** Highest sustainable msgs/s over the bare relay's delivered msgs/s. */
    ingestToRelay: number | null
    /** Firehose messages processed per s over the bare relay's. */
    firehoseToRelay: number
    /** Latest reads per s over bare node:http's. */
    readsToBareHttp: number
  }
  processes: Record<string, { cpuMean: number; cpuPeak: number; rssPeakMb: number }>
  processSeries: Record<string, ProcSample[]>
  /** Where each step sits on the run's clock, for the timeline chart. */
  stepOffsetsS: Record<string, number>
}
