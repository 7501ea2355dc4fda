import type { MqttClient } from 'mqtt'
import mqtt from 'mqtt'
import type { Logger } from '../common/logger.js'
import { DeviceProfile } from './profile.js'

export interface FleetOptions {
  url: string
  devices: number
  /** Messages per second per device. */
  rate: number
  durationS: number
  qos: 0 | 1
  /** Device ids are `${prefix}${n}`, n zero-padded. */
  prefix: string
  topic: (device: string) => string
}

/** What the fleet sent, per device: the ledger the load tests check against. */
export interface Ledger {
  /** Device id → messages published (seq runs 1..sent). */
  sent: Map<string, number>
  /** Device id → messages the broker acknowledged (PUBACK at QoS 1). */
  acked: Map<string, number>
  /** Readings per message (metrics besides ts). */
  readingsPerMessage: number
}

export interface FleetSummary {
  devices: number
  messagesSent: number
  messagesAcked: number
  readingsSent: number
  elapsedS: number
}

const READINGS_PER_MESSAGE = 5

/** Connects the fleet, publishes for the duration, waits for acks, disconnects. */
export async function runFleet(
  opts: FleetOptions,
  log: Logger,
): Promise<{ ledger: Ledger; summary: FleetSummary }> {
  const ledger: Ledger = {
    sent: new Map(),
    acked: new Map(),
    readingsPerMessage: READINGS_PER_MESSAGE,
  }
  const ids = Array.from(
    { length: opts.devices },
    (_, i) => `${opts.prefix}${String(i + 1).padStart(5, '0')}`,
  )
  const clients = await Promise.all(ids.map((id) => connect(opts.url, id)))
  const started = Date.now()
  const deadline = started + opts.durationS * 1000
  const pending: Promise<void>[] = []

  log.info({ devices: ids.length, rate: opts.rate, durationS: opts.durationS }, 'fleet connected')

  await Promise.all(
    clients.map((client, i) => drive(client, ids[i] as string, opts, deadline, ledger, pending)),
  )
  await Promise.allSettled(pending)
  await Promise.all(clients.map((c) => c.endAsync()))

  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)
  const messagesSent = sum(ledger.sent)

  return {
    ledger,
    summary: {
      devices: ids.length,
      messagesSent,
      messagesAcked: sum(ledger.acked),
      readingsSent: messagesSent * READINGS_PER_MESSAGE,
      elapsedS: (Date.now() - started) / 1000,
    },
  }
}

async function connect(url: string, clientId: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 1000 })
  client.on('error', () => {})
  return client
}

/** One device: publish every 1/rate s with ±10 % jitter until the deadline. */
async function drive(
  client: MqttClient,
  id: string,
  opts: FleetOptions,
  deadline: number,
  ledger: Ledger,
  pending: Promise<void>[],
): Promise<void> {
  const profile = new DeviceProfile()
  const intervalMs = 1000 / opts.rate

  // Spread the first messages over one interval: no synchronised burst.
  await delay(Math.random() * intervalMs)

  while (Date.now() < deadline) {
    const payload = JSON.stringify(profile.next(Date.now()))
    ledger.sent.set(id, profile.seq)
    pending.push(
      client.publishAsync(opts.topic(id), payload, { qos: opts.qos }).then(() => {
        ledger.acked.set(id, (ledger.acked.get(id) ?? 0) + 1)
      }),
    )
    await delay(intervalMs * (0.9 + Math.random() * 0.2))
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
