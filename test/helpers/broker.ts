import { connect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import pg from 'pg'
import type { RunningBroker } from '../../broker/index.js'
import { Registry } from '../../broker/registry.js'
import { runBroker } from '../../broker/run.js'
import type { Config } from '../../common/config.js'
import type { Logger } from '../../common/logger.js'
import { createLogger } from '../../common/logger.js'
import { isolatedConfig } from './env.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestBroker {
  broker: RunningBroker
  registry: Registry
  pool: pg.Pool
  config: Config
  url: string
}

/**
 * A real broker on a free port with its registry in a schema of its own.
 * Anonymous access is off unless `env` turns it on.
 */
export async function testBroker(
  t: Teardown,
  env: Record<string, string> = {},
  log: Logger = createLogger('silent'),
): Promise<TestBroker> {
  const config = isolatedConfig(t, { BROKER_ALLOW_ANONYMOUS: 'false', ...env })
  const db = { databaseUrl: config.DATABASE_URL as string, schema: config.PG_SCHEMA, poolSize: 2 }
  // runBroker applies the migrations, the registry table included.
  const broker = await runBroker(config, log)
  const pool = new pg.Pool({
    connectionString: db.databaseUrl,
    options: `-c search_path=${db.schema}`,
    max: 2,
  })
  // Teardowns run in reverse: the broker goes before the schema is dropped.
  t.teardown(() => pool.end())
  t.teardown(() => broker.close())

  return {
    broker,
    registry: new Registry(pool),
    pool,
    config,
    url: `mqtt://127.0.0.1:${broker.port}`,
  }
}

/** The value of one sample of a broker counter, 0 when absent. */
export async function counter(b: RunningBroker, name: string, labels: Record<string, string> = {}) {
  const m = b.metrics.registry.getSingleMetric(name)
  if (!m) return 0

  const { values } = await m.get()
  const hit = values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
  return hit?.value ?? 0
}

export function frame(p: Packet): Buffer {
  return mqttPacket.generate(p)
}

export function connectFrame(o: {
  clientId: string
  username?: string
  password?: Buffer
  keepalive?: number
}): Buffer {
  return frame({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: o.keepalive ?? 30,
    clientId: o.clientId,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
  })
}

export interface RawResult {
  /** Everything the broker sent back, parsed. */
  packets: Packet[]
  /** The broker closed the connection within the wait. */
  closed: boolean
}

/**
 * Writes raw bytes on a new TCP connection, then waits until the broker
 * closes it or `waitMs` passes, and reports what came back.
 */
export async function rawExchange(
  port: number,
  chunks: readonly Buffer[],
  waitMs = 5_000,
): Promise<RawResult> {
  const socket = connect(port, '127.0.0.1')
  const parser = mqttPacket.parser()
  const packets: Packet[] = []
  parser.on('packet', (p) => packets.push(p))
  parser.on('error', () => {})
  socket.on('data', (d) => parser.parse(d))
  socket.on('error', () => {})

  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  for (const c of chunks) socket.write(c)

  const closed = await closedWithin(socket, waitMs)
  socket.destroy()
  return { packets, closed }
}

export function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true)

  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}
