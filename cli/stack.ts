import type { FastifyInstance } from 'fastify'
import { buildApi } from '../bridge/api/server.js'
import type { Bridge } from '../bridge/index.js'
import { startBridge } from '../bridge/index.js'
import type { RunningBroker } from '../broker/index.js'
import { internalAccount, runBroker } from '../broker/run.js'
import type { Config } from '../common/config.js'
import type { Logger } from '../common/logger.js'

export interface Stack {
  broker?: RunningBroker
  bridge?: Bridge
  api?: FastifyInstance
  apiPort?: number
  close(): Promise<void>
}

export type Part = 'broker' | 'bridge'

/**
 * Starts the chosen parts in dependency order. With the broker in the same
 * process, the bridge connects to it on loopback at whatever port it got.
 */
export async function startStack(c: Config, log: Logger, parts: readonly Part[]): Promise<Stack> {
  const stack: Stack = { close: () => closeStack(stack, log) }

  // A bridge beside its broker logs in with a service account that exists
  // only in this process, unless it was given one (issue #8).
  const together = parts.includes('broker') && parts.includes('bridge')
  const account =
    together && !c.BRIDGE_MQTT_USERNAME ? internalAccount(c.BRIDGE_CLIENT_ID) : undefined
  const credentials = account
    ? { BRIDGE_MQTT_USERNAME: account.id, BRIDGE_MQTT_PASSWORD: account.secret }
    : {}

  try {
    if (parts.includes('broker')) {
      const internal = new Map(account ? [[account.id, account.secret]] : [])
      stack.broker = await runBroker(c, log.child({ component: 'broker' }), internal)
    }

    if (parts.includes('bridge')) {
      const url = stack.broker ? `mqtt://127.0.0.1:${stack.broker.port}` : c.BRIDGE_MQTT_URL
      stack.bridge = await startBridge(
        { ...c, ...credentials, BRIDGE_MQTT_URL: url },
        log.child({ component: 'bridge' }),
      )
      stack.broker?.metrics.alsoOn(stack.bridge.metrics.registry)
      stack.api = buildApi({
        lastValues: stack.bridge.lastValues,
        metrics: stack.bridge.metrics,
        log,
      })
      const address = await stack.api.listen({ host: c.HTTP_HOST, port: c.HTTP_PORT })
      stack.apiPort = Number(new URL(address).port)
      log.info({ url: address }, 'http api listening')
    }
  } catch (err) {
    await stack.close().catch(() => {})
    throw err
  }

  return stack
}

/** Bridge first (stop intake, flush), then the API, then the broker. */
async function closeStack(stack: Stack, log: Logger): Promise<void> {
  const errors: unknown[] = []
  const step = async (name: string, fn: (() => Promise<unknown>) | undefined) => {
    if (!fn) return
    try {
      await fn()
    } catch (err) {
      errors.push(err)
      log.error({ err, part: name }, 'shutdown step failed')
    }
  }

  await step('bridge', stack.bridge?.close)
  await step('api', stack.api ? () => stack.api!.close() : undefined)
  await step('broker', stack.broker?.close)

  if (errors.length > 0) throw errors[0]
}
