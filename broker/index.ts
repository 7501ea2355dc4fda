import { once } from 'node:events'
import type { AddressInfo, Server } from 'node:net'
import { createServer } from 'node:net'
import type { AuthenticateError, Client, PublishPacket } from 'aedes'
import { Aedes } from 'aedes'
import type { Logger } from '../common/logger.js'
import type { PersistenceOptions } from './durability.js'
import { DEFAULT_PERSISTENCE, durability } from './durability.js'
import type { BrokerMetrics } from './metrics.js'

export interface BrokerOptions {
  host: string
  /** 0 picks a free port. */
  port: number
  /** Let clients in without credentials. Development only. */
  allowAnonymous: boolean
  /**
   * Called for each authorized PUBLISH before Aedes acknowledges it (QoS 1
   * PUBACK) or routes it; `done()` lets it go on, `done(err)` drops the
   * device's connection (it sends the message again after reconnecting).
   */
  beforeAck?:
    | ((client: Client, packet: PublishPacket, done: (err?: Error) => void) => void)
    | undefined
  /** Sessions and queues: memory unless given (broker/persistence.ts). */
  persistence?: PersistenceOptions
}

export interface RunningBroker {
  aedes: Aedes
  server: Server
  port: number
  metrics: BrokerMetrics
  close(): Promise<void>
}

// CONNACK return code 5, "not authorized" [MQTT-3.2.2-3].
const NOT_AUTHORIZED = 5

/**
 * An Aedes broker on plain TCP. Default deny: until device identities
 * exist (issue #8) the only way in is an explicit allowAnonymous.
 */
export async function startBroker(opts: BrokerOptions, log: Logger): Promise<RunningBroker> {
  const durable = durability(opts.persistence ?? DEFAULT_PERSISTENCE, log)
  // createBroker awaits the persistence's setup() (Aedes.listen()).
  const aedes = await Aedes.createBroker({
    authorizePublish: (client, packet, done) => {
      if (!opts.beforeAck || !client) return done(null)
      opts.beforeAck(client, packet, (err) => done(err ?? null))
    },
    ...durable.aedesOptions,
    authenticate: (client, username, _password, done) => {
      if (opts.allowAnonymous) return done(null, true)

      log.info({ clientId: client.id, username }, 'connect refused: anonymous access is off')
      const err = Object.assign(new Error('not authorized'), { returnCode: NOT_AUTHORIZED })
      done(err as AuthenticateError, false)
    },
  })

  durable.attach(aedes)
  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err }, 'client error'))
  aedes.on('connectionError', (client, err) =>
    log.debug({ clientId: client.id, err }, 'connection error'),
  )

  const server = createServer(aedes.handle)
  server.on('error', (err) => log.error({ err }, 'broker listener failed'))
  server.listen(opts.port, opts.host)
  await once(server, 'listening')

  const port = (server.address() as AddressInfo).port
  log.info({ host: opts.host, port, allowAnonymous: opts.allowAnonymous }, 'broker listening')

  async function close(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await closed
    await durable.close()
  }

  return { aedes, server, port, metrics: durable.metrics, close }
}
