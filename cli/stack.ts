import type { Client } from 'aedes'
import type { FastifyInstance } from 'fastify'
import { apiOptions, startApi } from '../bridge/api/index.js'
import { compilePattern, sameShape } from '../bridge/decode/index.js'
import type { Bridge } from '../bridge/index.js'
import { startBridge } from '../bridge/index.js'
import type { BrokerOptions, RunningBroker } from '../broker/index.js'
import { internalAccount, runBroker } from '../broker/run.js'
import type { Config } from '../common/config.js'
import type { Logger } from '../common/logger.js'

export interface Stack {
  broker?: RunningBroker
  bridge?: Bridge
  api?: FastifyInstance
  apiPort?: number
  /** Device messages the broker accepted on the bridge's topics. */
  routed(): number
  /**
   * Resolves true once the bridge has received every message the broker
   * accepted (Aedes acknowledges a device before it routes the message),
   * false if that took longer than `timeoutMs`.
   */
  caughtUp(timeoutMs: number): Promise<boolean>
  close(): Promise<void>
}

export type Part = 'broker' | 'bridge'

/**
 * Starts the chosen parts in dependency order. With the broker in the same
 * process, the bridge connects to it on loopback at whatever port it got.
 */
export async function startStack(c: Config, log: Logger, parts: readonly Part[]): Promise<Stack> {
  let routed = 0
  const stack: Stack = {
    routed: () => routed,
    caughtUp: async (timeoutMs) => {
      const until = Date.now() + timeoutMs
      const behind = () => (stack.bridge?.pipeline.received ?? 0) < routed
      while (behind() && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
      return !behind()
    },
    close: () => closeStack(stack, log),
  }
  const patterns = c.TOPIC_PATTERNS.map(compilePattern)
  // Counted before the device's PUBACK, so shutdown can wait until the
  // bridge has received everything the broker acknowledged.
  const countRouted: NonNullable<BrokerOptions['beforeAck']> = (_client, packet, done) => {
    const levels = packet.topic.split('/')
    if (patterns.some((p) => sameShape(levels, p))) routed++
    done()
  }

  // A bridge beside its broker logs in with a service account that exists
  // only in this process, unless it was given one (issue #8).
  const together = parts.includes('broker') && parts.includes('bridge')
  const account =
    together && !c.BRIDGE_MQTT_USERNAME ? internalAccount(c.BRIDGE_CLIENT_ID) : undefined
  const credentials = account
    ? { BRIDGE_MQTT_USERNAME: account.id, BRIDGE_MQTT_PASSWORD: account.secret }
    : {}

  // Fail on an API without tokens before anything starts.
  if (parts.includes('bridge')) apiOptions(c)
  // The bridge takes messages straight from the broker's hook, and devices
  // get their PUBACK only when the bridge acknowledges.
  const direct = together && c.BROKER_ACK_AFTER_COMMIT

  try {
    if (parts.includes('broker')) {
      const internal = new Map(account ? [[account.id, account.secret]] : [])
      const beforeAck = direct ? holdAck(stack) : together ? countRouted : undefined
      stack.broker = await runBroker(c, log.child({ component: 'broker' }), internal, {
        beforeAck,
      })
    }

    if (parts.includes('bridge')) {
      const url = stack.broker ? `mqtt://127.0.0.1:${stack.broker.port}` : c.BRIDGE_MQTT_URL
      stack.bridge = await startBridge(
        { ...c, ...credentials, BRIDGE_MQTT_URL: url },
        log.child({ component: 'bridge' }),
        direct ? 'direct' : 'mqtt',
      )
      stack.broker?.metrics.alsoOn(stack.bridge.metrics.registry)
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

/**
 * Devices first: with broker and bridge in one process, the broker stops
 * taking connections and drops every client but the bridge, so it accepts
 * nothing more that the bridge would not see. Then the bridge (stop intake,
 * write or spool, acknowledge), the API, and the broker itself.
 */
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

  const { broker, bridge } = stack
  if (broker && bridge) {
    const keep = bridge.source?.client.options.clientId
    await step('devices', async () => {
      disconnectDevices(broker, keep)
      await stack.caughtUp(5_000)
    })
  }
  await step('bridge', stack.bridge?.close)
  await step('api', stack.api ? () => stack.api!.close() : undefined)
  await step('broker', stack.broker?.close)

  if (errors.length > 0) throw errors[0]
}

function disconnectDevices(broker: RunningBroker, keepClientId: string | undefined): void {
  void broker.stopListening()
  // Aedes keeps its connected clients by id; its typings do not list them.
  const { clients } = broker.aedes as unknown as { clients: Record<string, Client> }
  for (const [id, client] of Object.entries(clients)) {
    if (id !== keepClientId) client.close()
  }
}

/** Hands each device PUBLISH to the bridge and answers the broker when the bridge acknowledges. */
function holdAck(stack: Stack): NonNullable<BrokerOptions['beforeAck']> {
  return (_client, packet, done) => {
    const bridge = stack.bridge
    if (!bridge) return done(new Error('bridge not started yet'))
    const payload =
      typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload

    if (packet.qos === 0) {
      bridge.receive(packet.topic, payload)
      return done()
    }
    const taken = bridge.receive(packet.topic, payload, () => done())
    if (!taken) done(new Error('the bridge is not taking messages now'))
  }
}
