import type { Logger } from '../common/logger.js'
import type { FleetFaults } from '../simulator/fleet.js'
import { runFleet } from '../simulator/fleet.js'
import { writeLedger } from '../simulator/ledger.js'
import { PAYLOAD_FORMATS, TIMESTAMP_FORMS } from '../simulator/payload.js'
import { PROFILE_KINDS } from '../simulator/profile.js'

const FAULTS = ['skew', 'reorder', 'duplicate', 'malformed'] as const

export interface SimulateArgs {
  url: string
  devices: number
  rate: number
  duration: number
  qos: string
  prefix: string
  /** `climate=2,tracker=1`; names from simulator/profile.ts. */
  profiles?: string
  /** `flat=1,values=1,array=1`. */
  formats?: string
  /** `ms=1,iso=1`. */
  tsForms?: string
  /** `skew=0.1,reorder=0.01,duplicate=0.01,malformed=0.01`. */
  faults?: string
  /** `{device}` is replaced by each device's id. */
  username?: string
  password?: string
  connectRate?: number
  ledger?: string
  progress?: boolean
  seed?: number
}

export async function runSimulate(a: SimulateArgs, log: Logger): Promise<void> {
  const fill = (template: string, device: string) => template.replaceAll('{device}', device)
  const username = a.username
  const password = a.password

  const { summary, ledger } = await runFleet(
    {
      url: a.url,
      devices: a.devices,
      rate: a.rate,
      durationS: a.duration,
      qos: a.qos === '0' ? 0 : 1,
      prefix: a.prefix,
      topic: (d) => `devices/${d}/telemetry`,
      ...(a.profiles ? { profiles: weights(a.profiles, PROFILE_KINDS) } : {}),
      ...(a.formats ? { formats: weights(a.formats, PAYLOAD_FORMATS) } : {}),
      ...(a.tsForms ? { timestampForms: weights(a.tsForms, TIMESTAMP_FORMS) } : {}),
      ...(a.faults ? { faults: weights(a.faults, FAULTS) as Partial<FleetFaults> } : {}),
      ...(username
        ? {
            credentials: (d: string) => ({
              username: fill(username, d),
              ...(password ? { password: fill(password, d) } : {}),
            }),
          }
        : {}),
      ...(a.connectRate ? { connectRatePerS: a.connectRate } : {}),
      ...(a.seed !== undefined ? { seed: a.seed } : {}),
      progressMs: a.progress === false ? 0 : 2000,
    },
    log.child({ component: 'simulator' }),
  )

  if (a.ledger) await writeLedger(a.ledger, ledger)
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
}

/** `a=1,b=0.5` → `{ a: 1, b: 0.5 }`, every name one of `allowed`. */
export function weights<K extends string>(
  text: string,
  allowed: readonly K[],
): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {}

  for (const part of text.split(',')) {
    const [name, value = '1'] = part.split('=').map((s) => s.trim())
    const n = Number(value)

    if (!name || !Number.isFinite(n) || n < 0) {
      throw new Error(`expected name=number pairs separated by commas, got ${JSON.stringify(part)}`)
    }
    if (!(allowed as readonly string[]).includes(name)) {
      throw new Error(`expected one of ${allowed.join(', ')}, got ${JSON.stringify(name)}`)
    }
    out[name as K] = n
  }

  return out
}
