import pidusage from 'pidusage'

export interface ProcSample {
  /** Seconds since the sampler started. */
  t: number
  /** CPU, percent of one core. */
  cpu: number
  rssMb: number
}

/**
 * CPU and resident memory of named processes, once a second: a series per
 * process for the report's charts, and its mean and peak.
 */
export class ProcSampler {
  readonly series = new Map<string, ProcSample[]>()
  #timer: NodeJS.Timeout | undefined
  #started = Date.now()

  constructor(private readonly pids: Record<string, number>) {}

  /** Samples `pid` under `name` from now on (a process that changes per step). */
  track(name: string, pid: number): void {
    this.pids[name] = pid
  }

  start(everyMs = 1000): void {
    this.#started = Date.now()
    this.#timer = setInterval(() => void this.#sample(), everyMs)
  }

  async #sample(): Promise<void> {
    const t = (Date.now() - this.#started) / 1000

    for (const [name, pid] of Object.entries(this.pids)) {
      try {
        const s = await pidusage(pid)
        const list = this.series.get(name) ?? []
        list.push({ t, cpu: Math.round(s.cpu), rssMb: Math.round(s.memory / 1048576) })
        this.series.set(name, list)
      } catch {
        // The process is gone (stopped between samples): nothing to record.
      }
    }
  }

  stop(): Record<string, { cpuMean: number; cpuPeak: number; rssPeakMb: number }> {
    clearInterval(this.#timer)
    pidusage.clear()

    return Object.fromEntries(
      [...this.series].map(([name, list]) => {
        const cpus = list.map((s) => s.cpu)
        return [
          name,
          {
            cpuMean: Math.round(cpus.reduce((a, b) => a + b, 0) / Math.max(1, cpus.length)),
            cpuPeak: Math.max(0, ...cpus),
            rssPeakMb: Math.max(0, ...list.map((s) => s.rssMb)),
          },
        ]
      }),
    )
  }
}
