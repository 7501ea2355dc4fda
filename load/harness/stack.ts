import { loadBrokerEnv, serviceAccount } from './accounts.js'
import type { Proc } from './procs.js'
import { freePort, httpOk, spawnCli, tcpOpen, waitReady } from './procs.js'

export interface StackOptions {
  databaseUrl: string
  redisUrl: string
  schema: string
  redisPrefix: string
  /** Extra environment for the bridge (batch sizes, pool size). */
  bridgeEnv?: Record<string, string>
}

export interface LoadStack {
  broker: Proc
  bridge: Proc
  mqttUrl: string
  httpUrl: string
  /** Messages the bridge has finished with (stored, partial, rejected, ignored). */
  processed(): Promise<number>
  stop(): Promise<void>
}

/**
 * Broker and bridge as two child processes, as in production, so each
 * one's CPU and memory can be measured on its own.
 */
export async function startLoadStack(o: StackOptions): Promise<LoadStack> {
  const mqttPort = await freePort()
  const httpPort = await freePort()
  const broker = spawnCli('broker', 'broker', {
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: String(mqttPort),
    ...loadBrokerEnv(o.databaseUrl, o.schema),
    LOG_LEVEL: 'warn',
  })

  await waitReady(broker, () => tcpOpen(mqttPort))
  const account = await serviceAccount(o.databaseUrl, o.schema, `bridge-${o.schema}`)

  const httpUrl = `http://127.0.0.1:${httpPort}`
  const bridge = spawnCli('bridge', 'bridge', {
    DATABASE_URL: o.databaseUrl,
    REDIS_URL: o.redisUrl,
    PG_SCHEMA: o.schema,
    REDIS_KEY_PREFIX: o.redisPrefix,
    BRIDGE_MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`,
    BRIDGE_CLIENT_ID: account.id,
    BRIDGE_MQTT_USERNAME: account.id,
    BRIDGE_MQTT_PASSWORD: account.secret,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(httpPort),
    LOG_LEVEL: 'warn',
    // Open reads on loopback unless bridgeEnv names tokens (API_AUTH, API_TOKENS).
    API_AUTH: 'none',
    ...o.bridgeEnv,
  })

  try {
    await waitReady(bridge, () => httpOk(`${httpUrl}/healthz`))
  } catch (err) {
    await broker.stop()
    throw err
  }

  return {
    broker,
    bridge,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpUrl,
    processed: () => processedMessages(httpUrl),
    async stop() {
      await bridge.stop()
      await broker.stop()
    },
  }
}

/** Sum of a metric's samples at a /metrics URL whose labels pass `keep`. */
export async function metricSum(
  url: string,
  name: string,
  keep: (labels: string) => boolean = () => true,
): Promise<number> {
  const text = await (await fetch(url)).text()
  let sum = 0
  for (const m of text.matchAll(/^(\w+)(?:\{([^}]*)\})? (\S+)$/gm)) {
    if (m[1] === name && keep(m[2] ?? '')) sum += Number(m[3])
  }
  return sum
}

/**
 * Sum of telemetry_messages_total over its final outcomes, from /metrics.
 * `deferred` is left out: a refused message comes again and is counted
 * then, so counting it too ended a step's drain while it was still owed.
 */
export function processedMessages(httpUrl: string): Promise<number> {
  return metricSum(
    `${httpUrl}/metrics`,
    'telemetry_messages_total',
    (labels) => labels !== 'outcome="deferred"',
  )
}
