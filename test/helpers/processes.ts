import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import pg from 'pg'
import { Registry } from '../../broker/registry.js'
import type { Config } from '../../common/config.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

type LogEntry = Record<string, unknown> & { msg?: string }

/** A CLI process (`node --import tsx cli/main.ts …`) whose JSON log lines can be awaited. */
export interface CliProcess {
  child: ChildProcess
  /** Resolves with the first log entry (from now or earlier) for which `match` is true. */
  waitFor(match: (e: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>
  /** Every JSON log line so far, for diagnosis. */
  log: LogEntry[]
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal: NodeJS.Signals): Promise<number | string>
}

export function spawnCli(t: Teardown, args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = once(child, 'exit')
  t.teardown(() => child.kill('SIGKILL'))

  const seen: LogEntry[] = []
  const waiters = new Set<() => void>()
  // Node's own warnings share stderr with the JSON log lines.
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    if (!line.startsWith('{')) return
    seen.push(JSON.parse(line))
    for (const w of waiters) w()
  })

  return {
    child,
    log: seen,
    waitFor(match, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = seen.find(match)
          if (!hit) return
          cleanup()
          resolve(hit)
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`${args.join(' ')}: no matching log line in ${timeoutMs} ms`))
        }, timeoutMs)
        const cleanup = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const [code, sig] = await exited
      return code ?? sig
    },
  }
}

/** The environment a CLI child needs to run with a test's isolated configuration. */
export function cliEnv(c: Config, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: c.DATABASE_URL as string,
    REDIS_URL: c.REDIS_URL as string,
    PG_SCHEMA: c.PG_SCHEMA,
    REDIS_KEY_PREFIX: c.REDIS_KEY_PREFIX,
    BRIDGE_CLIENT_ID: c.BRIDGE_CLIENT_ID,
    SPOOL_DIR: c.SPOOL_DIR,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    BROKER_ALLOW_ANONYMOUS: 'true',
    API_AUTH: 'none',
    ...extra,
  }
}

/**
 * A service account for a bridge running apart from its broker (anonymous
 * clients may only act as the device their client id names). Call it once
 * the broker has migrated the registry.
 */
export async function bridgeAccount(c: Config): Promise<Record<string, string>> {
  const pool = new pg.Pool({
    connectionString: c.DATABASE_URL,
    options: `-c search_path=${c.PG_SCHEMA}`,
    max: 1,
  })
  try {
    const secret = await new Registry(pool).add(c.BRIDGE_CLIENT_ID, 'service')
    if (!secret) throw new Error(`account ${c.BRIDGE_CLIENT_ID} exists already`)
    return { BRIDGE_MQTT_USERNAME: c.BRIDGE_CLIENT_ID, BRIDGE_MQTT_PASSWORD: secret }
  } finally {
    await pool.end()
  }
}
