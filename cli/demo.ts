import { randomBytes } from 'node:crypto'
import type { Config } from '../common/config.js'
import type { Logger } from '../common/logger.js'
import { runFleet } from '../simulator/fleet.js'
import { startStack } from './stack.js'

export interface DemoArgs {
  devices: number
  rate: number
  duration: number
}

/**
 * The whole path in one process: broker, bridge and API on free ports, a
 * simulated fleet for the duration, then what landed where.
 */
export async function runDemo(c: Config, log: Logger, a: DemoArgs): Promise<void> {
  // The demo reads over HTTP like any client: with a token of its own.
  const token = { name: 'demo', token: randomBytes(24).toString('base64url') }
  const config: Config = {
    ...c,
    API_TOKENS: [...(c.API_TOKENS ?? []), token],
    BROKER_ALLOW_ANONYMOUS: true,
    MQTT_PORT: 0,
    HTTP_PORT: 0,
    MQTT_HOST: '127.0.0.1',
  }
  const stack = await startStack(config, log, ['broker', 'bridge'])
  const run = Date.now().toString(36)
  const prefix = `demo-${run}-`
  const out = (line = '') => process.stdout.write(`${line}\n`)

  try {
    out(
      `demo: ${a.devices} devices × ${a.rate} msg/s for ${a.duration} s (device ids ${prefix}NNNNN)…`,
    )

    const { summary } = await runFleet(
      {
        url: `mqtt://127.0.0.1:${stack.broker!.port}`,
        devices: a.devices,
        rate: a.rate,
        durationS: a.duration,
        qos: 1,
        prefix,
        topic: (d) => `devices/${d}/telemetry`,
      },
      log.child({ component: 'simulator' }),
    )

    // The last PUBACKs can reach devices before their messages reach the
    // bridge: count only once it has them all.
    const complete = await stack.caughtUp(10_000)
    await stack.bridge!.pipeline.flush()

    const { rows } = await stack.bridge!.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM telemetry WHERE device_id LIKE $1',
      [`${prefix}%`],
    )
    const sample = `${prefix}00001`
    const url = `http://127.0.0.1:${stack.apiPort}/v1/devices/${encodeURIComponent(sample)}/latest`
    const headers = { authorization: `Bearer ${token.token}` }
    const latest = await (await fetch(url, { headers })).text()

    out()
    out(`messages sent ${summary.messagesSent}, acknowledged ${summary.messagesAcked}`)
    out(`readings sent ${summary.readingsSent}, rows in Postgres ${rows[0]?.n ?? 0}`)
    if (!complete) out('(the bridge had not received every accepted message after 10 s)')
    out()
    out(`GET /v1/devices/${sample}/latest`)
    out(JSON.stringify(JSON.parse(latest), null, 2))
    out()
    out('query more:')
    out(
      `  psql "${c.DATABASE_URL}" -c "SELECT * FROM telemetry WHERE device_id = '${sample}' ORDER BY ts DESC LIMIT 10"`,
    )
    out(
      '  make run   # keeps broker (:1883), bridge and API (:8080) up; then curl localhost:8080/v1/devices/<id>/latest',
    )
  } finally {
    await stack.close()
  }
}
