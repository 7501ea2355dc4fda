import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface BrokerProcess {
  port: number
  /** SIGTERM, then waits for the exit code. */
  stop(): Promise<number | null>
}

/**
 * `telemetry broker` in a child process, as an operator runs it. Resolves
 * once it logs that it listens; MQTT_PORT=0 picks a port, which a restart
 * can then ask for again.
 */
export async function brokerProcess(
  t: Teardown,
  env: Record<string, string>,
): Promise<BrokerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'broker'], {
    env: {
      ...process.env,
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      BROKER_ALLOW_ANONYMOUS: 'true',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  t.teardown(() => child.kill('SIGKILL'))
  const exited = once(child, 'exit')

  let port = 0
  const seen: string[] = []
  for await (const line of createInterface({ input: child.stderr })) {
    seen.push(line)
    if (!line.startsWith('{')) continue

    const entry = JSON.parse(line)
    if (entry.msg === 'broker listening') {
      port = entry.port
      break
    }
  }
  if (!port) throw new Error(`broker did not start:\n${seen.join('\n')}`)
  // Keep draining stderr so the child never blocks on a full pipe.
  child.stderr.resume()

  return {
    port,
    async stop() {
      child.kill('SIGTERM')
      const [code] = await exited
      return code as number | null
    },
  }
}
