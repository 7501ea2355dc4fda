import type { z } from 'zod'
import { TelemetryError } from './errors.js'
import type { VariableName } from './variables.js'
import { VARIABLES } from './variables.js'

type Parsed = { [K in VariableName]: z.output<(typeof VARIABLES)[K]['schema']> }

export type Config = Readonly<Parsed>

/** Where a value came from, so errors can point at it. */
type Env = Readonly<Record<string, string | undefined>>

/**
 * Reads every variable of the catalogue from `env` once, validates it and
 * returns a frozen object. All problems are reported together; nothing here
 * does I/O. This is the only module that looks at the environment.
 */
export function loadConfig(env: Env = process.env): Config {
  const out: Record<string, unknown> = {}
  const problems: string[] = []

  for (const [name, spec] of Object.entries(VARIABLES)) {
    const raw = env[name]
    const input = raw === undefined || raw === '' ? spec.default : raw
    const result = spec.schema.safeParse(input)

    if (result.success) {
      out[name] = result.data
      continue
    }

    const why = result.error.issues.map((i) => i.message).join('; ')
    const got = 'secret' in spec && spec.secret ? '[redacted]' : JSON.stringify(raw)
    problems.push(`${name} ${spec.expect}, got ${got} (${why})`)
  }

  if (problems.length > 0) {
    throw new TelemetryError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`)
  }

  return Object.freeze(out) as Config
}
