import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface CliProcess {
  /** The `port` field of the line that said it was ready, if any. */
  port: number
  /** That line itself. */
  ready: Record<string, unknown>
  /** SIGTERM, then waits for the exit code. */
  stop(): Promise<number | null>
}

/**
 * A `telemetry` subcommand in a child process, as an operator runs it.
 * Resolves once it logs `ready` (a pino `msg`).
 */
export async function cliProcess(
  t: Teardown,
  command: string,
  ready: string,
  env: Record<string, string>,
): Promise<CliProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', command], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stopping = false
  t.teardown(() => {
    stopping = true
    child.kill('SIGKILL')
  })
  const exited = once(child, 'exit')

  let port = -1
  let readyLine: Record<string, unknown> = {}
  const seen: string[] = []
  for await (const line of createInterface({ input: child.stderr })) {
    seen.push(line)
    if (!line.startsWith('{')) continue

    const entry = JSON.parse(line)
    if (entry.msg === ready) {
      port = entry.port ?? 0
      readyLine = entry
      break
    }
  }
  if (port < 0) throw new Error(`${command} did not start:\n${seen.join('\n')}`)
  // Keep draining stderr so the child never blocks on a full pipe, and keep
  // its last lines: a child that dies on its own says why in the test output.
  const last = createInterface({ input: child.stderr })
  last.on('line', (line) => {
    seen.push(line)
    if (seen.length > 50) seen.shift()
  })
  child.once('exit', (code, signal) => {
    if (stopping) return
    console.error(`${command} exited on its own (${code ?? signal}):\n${seen.join('\n')}`)
  })

  return {
    port,
    ready: readyLine,
    async stop() {
      stopping = true
      child.kill('SIGTERM')
      const [code] = await exited
      return code as number | null
    },
  }
}

/** `telemetry broker`; MQTT_PORT=0 picks a port, which a restart can ask for again. */
export function brokerProcess(t: Teardown, env: Record<string, string>): Promise<CliProcess> {
  return cliProcess(t, 'broker', 'broker listening', {
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    BROKER_ALLOW_ANONYMOUS: 'true',
    ...env,
  })
}
