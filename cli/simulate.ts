import type { Logger } from '../common/logger.js'
import { runFleet } from '../simulator/fleet.js'

export interface SimulateArgs {
  url: string
  devices: number
  rate: number
  duration: number
  qos: string
  prefix: string
}

export async function runSimulate(a: SimulateArgs, log: Logger): Promise<void> {
  const { summary } = await runFleet(
    {
      url: a.url,
      devices: a.devices,
      rate: a.rate,
      durationS: a.duration,
      qos: a.qos === '0' ? 0 : 1,
      prefix: a.prefix,
      topic: (d) => `devices/${d}/telemetry`,
    },
    log.child({ component: 'simulator' }),
  )

  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
}
