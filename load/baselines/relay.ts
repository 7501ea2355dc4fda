import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createLogger } from '../../common/logger.js'
import { runFleet } from '../../simulator/fleet.js'
import { loadBrokerEnv, serviceAccount } from '../harness/accounts.js'
import { freePort, spawnCli, tcpOpen, waitReady } from '../harness/procs.js'

export interface RelayResult {
  devices: number
  durationS: number
  publishedMsgsPerS: number
  deliveredMsgsPerS: number
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The same broker with a subscriber that does nothing, driven by the same
 * firehose publishers: the most this machine relays at QoS 1, for the
 * bridge's numbers to be read against.
 */
export async function relayBaseline(
  devices: number,
  durationS: number,
  db: { databaseUrl: string; schema: string },
): Promise<RelayResult> {
  const port = await freePort()
  const broker = spawnCli('relay-broker', 'broker', {
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: String(port),
    ...loadBrokerEnv(db.databaseUrl, db.schema),
    LOG_LEVEL: 'warn',
  })

  try {
    await waitReady(broker, () => tcpOpen(port))
    const url = `mqtt://127.0.0.1:${port}`
    // Reading every device's telemetry takes a service account.
    const account = await serviceAccount(db.databaseUrl, db.schema, 'null-subscriber')
    const sub = spawn(
      process.execPath,
      ['--import', 'tsx', `${ROOT}load/baselines/null-subscriber.ts`, url],
      {
        env: { ...process.env, NULL_SUB_ID: account.id, NULL_SUB_SECRET: account.secret },
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    const lines = createInterface({ input: sub.stdout })
    let count = 0
    let ready: () => void = () => {}
    const isReady = new Promise<void>((r) => {
      ready = r
    })

    lines.on('line', (l) => {
      if (l === 'ready') ready()
      else count = Number(l)
    })
    await isReady

    const { summary } = await runFleet(
      {
        url,
        devices,
        rate: 20_000,
        durationS,
        qos: 1,
        prefix: 'relay-',
        topic: (d) => `devices/${d}/telemetry`,
        maxInflight: 500,
        timestampForms: { us: 1 },
      },
      createLogger('warn'),
    )

    await new Promise((r) => setTimeout(r, 1000))
    const exited = new Promise((r) => sub.once('exit', r))
    sub.kill('SIGTERM')
    await exited

    return {
      devices,
      durationS,
      publishedMsgsPerS: Math.round(summary.messagesSent / durationS),
      deliveredMsgsPerS: Math.round(count / durationS),
    }
  } finally {
    await broker.stop()
  }
}
