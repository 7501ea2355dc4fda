import type { MqttClient } from 'mqtt'
import mqtt from 'mqtt'
import type { Logger } from '../common/logger.js'
import { backoffMs } from './retry.js'

export interface SourceOptions {
  url: string
  clientId: string
  username?: string | undefined
  password?: string | undefined
  filters: readonly string[]
}

export type OnMessage = (topic: string, payload: Buffer, receivedUs: number) => void

const RECONNECT = { baseMs: 500, capMs: 30_000 }

/**
 * The bridge's MQTT subscription: QoS 1, a persistent session under a stable
 * client id, so messages published while the bridge is away wait for it.
 * Reconnects back off exponentially with jitter instead of MQTT.js's fixed
 * period, so a fleet of bridges does not reconnect in lockstep.
 */
export async function openSource(
  opts: SourceOptions,
  onMessage: OnMessage,
  log: Logger,
): Promise<MqttClient> {
  const client = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    clean: false,
    protocolVersion: 4,
    username: opts.username,
    password: opts.password,
    reconnectPeriod: RECONNECT.baseMs,
    connectTimeout: 10_000,
    keepalive: 30,
  })
  let attempt = 0

  // Receive times are strictly increasing microseconds: readings without a
  // timestamp of their own, arriving within one millisecond, must not share
  // a primary key and be taken for redeliveries.
  let lastUs = 0
  client.on('message', (topic, payload) => {
    lastUs = Math.max(lastUs + 1, Date.now() * 1000)
    onMessage(topic, payload, lastUs)
  })
  client.on('error', (err) => log.warn({ err }, 'mqtt error'))
  client.on('offline', () => log.warn('mqtt offline'))
  client.on('reconnect', () => {
    attempt++
    client.options.reconnectPeriod = backoffMs(attempt, RECONNECT)
  })

  client.on('connect', (connack) => {
    attempt = 0
    log.info({ sessionPresent: connack.sessionPresent }, 'mqtt connected')

    // A present session still holds our subscriptions; a lost one must be
    // rebuilt or nothing arrives.
    if (connack.sessionPresent) return
    subscribe(client, opts.filters, log)
  })

  // A daemon waits for its broker: errors until then are logged and retried.
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))

  return client
}

function subscribe(client: MqttClient, filters: readonly string[], log: Logger): void {
  const wanted = Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }]))

  client.subscribe(wanted, (err, granted) => {
    if (err) {
      log.error({ err }, 'mqtt subscribe failed')
      return
    }

    const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic)
    if (refused.length > 0) log.error({ refused }, 'broker refused subscriptions')
    else log.info({ filters }, 'subscribed')
  })
}
