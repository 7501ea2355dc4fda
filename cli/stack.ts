import type { FastifyInstance } from 'fastify'
import { apiOptions, startApi } from '../bridge/api/index.js'
import type { Bridge } from '../bridge/index.js'
import { startBridge } from '../bridge/index.js'
import type { RunningBroker } from '../broker/index.js'
import { startBroker } from '../broker/index.js'
import type { Config } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
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

  // The bridge would be refused by its own broker: say so instead of waiting.
  if (parts.includes('broker') && parts.includes('bridge') && !c.BROKER_ALLOW_ANONYMOUS) {
    throw new TelemetryError(
      'CONFIG_INVALID',
      'BROKER_ALLOW_ANONYMOUS must be true to run broker and bridge in one process (no service accounts yet)',
    )
  }

  // Fail on an API without tokens before anything starts.
  if (parts.includes('bridge')) apiOptions(c)

  try {
    if (parts.includes('broker')) {
      const opts = {
        host: c.MQTT_HOST,
        port: c.MQTT_PORT,
        allowAnonymous: c.BROKER_ALLOW_ANONYMOUS,
      }
      stack.broker = await startBroker(opts, log.child({ component: 'broker' }))
    }

    if (parts.includes('bridge')) {
      const url = stack.broker ? `mqtt://127.0.0.1:${stack.broker.port}` : c.BRIDGE_MQTT_URL
      stack.bridge = await startBridge(
        { ...c, BRIDGE_MQTT_URL: url },
        log.child({ component: 'bridge' }),
      )
      stack.api = await startApi(stack.bridge, c, log)
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
