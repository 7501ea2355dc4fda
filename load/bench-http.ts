/**
 * GET /v1/devices/{id}/latest against a bare node:http server answering a
 * constant JSON body of the same size, in one run, so the result is a
 * ratio. Each server runs in a child process of its own; autocannon drives
 * both from this process with the same connections and duration. A third
 * run repeats the API measurement while a simulated fleet publishes.
 *
 * Run: make bench, or DATABASE_URL=… REDIS_URL=… npx tsx load/bench-http.ts
 *   [durationS=10] [connections=50] [devices=1000] [ingestDevices=100] [ingestRatePerDevice=20]
 */
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import pg from 'pg'
import { startStack } from '../cli/stack.js'
import { loadConfig } from '../common/config.js'
import { createLogger } from '../common/logger.js'

const [role] = process.argv.slice(2)

if (role === 'serve-api') await serveApi()
else if (role === 'serve-bare') await serveBare()
else await main()

/** Child: broker, bridge and API on free ports; prints them, runs until killed. */
async function serveApi(): Promise<void> {
  const stack = await startStack(loadConfig(), createLogger('warn'), ['broker', 'bridge'])
  await stack.bridge!.rebuilder.idle()
  process.stdout.write(`${JSON.stringify({ http: stack.apiPort, mqtt: stack.broker!.port })}\n`)
  process.once('SIGTERM', () => void stack.close().then(() => process.exit(0)))
}

/** Child: the baseline, a constant body as fast as node:http can send it. */
async function serveBare(): Promise<void> {
  const body = Buffer.from(process.env.BENCH_BODY ?? '{}')
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
    res.end(body)
  })
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number }
    process.stdout.write(`${JSON.stringify({ http: port })}\n`)
  })
}

async function main(): Promise<void> {
  const [durationS = 10, connections = 50, devices = 1000, ingestDevices = 100, ingestRate = 20] =
    process.argv.slice(2).map(Number)
  const databaseUrl = process.env.DATABASE_URL
  const redisUrl = process.env.REDIS_URL
  if (!databaseUrl || !redisUrl) throw new Error('DATABASE_URL and REDIS_URL must be set')

  const id = Date.now().toString(36)
  const token = randomBytes(24).toString('base64url')
  const env = {
    ...process.env,
    PG_SCHEMA: `bench_http_${id}`,
    REDIS_KEY_PREFIX: `bench:${id}`,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    BROKER_ALLOW_ANONYMOUS: 'true',
    BRIDGE_CLIENT_ID: `bench-${id}`,
    API_AUTH: 'bearer',
    API_TOKENS: `bench:${token}`,
    LOG_LEVEL: 'warn',
  }

  const api = await child(['serve-api'], env)
  try {
    const ids = Array.from({ length: devices }, (_, d) => `bench-${String(d).padStart(5, '0')}`)
    await seed(api.ports.mqtt!, ids)
    const base = `http://127.0.0.1:${api.ports.http}`
    const headers = { authorization: `Bearer ${token}` }
    const last = `${base}/v1/devices/${ids.at(-1)}/latest`
    while ((await fetch(last, { headers })).status !== 200)
      await new Promise((r) => setTimeout(r, 100))
    const sample = await (await fetch(`${base}/v1/devices/${ids[0]}/latest`, { headers })).text()

    const bare = await child(['serve-bare'], { ...process.env, BENCH_BODY: sample })
    const paths = ids.map((d) => `/v1/devices/${encodeURIComponent(d)}/latest`)
    const opts = { connections, durationS, headers, paths }

    const bareRun = await cannon(`http://127.0.0.1:${bare.ports.http}`, opts)
    bare.proc.kill('SIGTERM')
    const apiRun = await cannon(base, opts)
    // Diagnostic: the same server and hooks without a store (GET /healthz).
    const healthRun = await cannon(base, { ...opts, paths: ['/healthz'] })

    // Reads while a simulated fleet publishes (its own process).
    const sim = spawnSimulator(api.ports.mqtt!, ingestDevices, ingestRate, durationS + 4)
    const simExit = once(sim, 'exit')
    let simOut = ''
    sim.stdout!.on('data', (d) => {
      simOut += d
    })
    await new Promise((r) => setTimeout(r, 2000))
    const before = await rowCount(databaseUrl, env.PG_SCHEMA)
    const ingestRun = await cannon(base, opts)
    const rowsPerS = ((await rowCount(databaseUrl, env.PG_SCHEMA)) - before) / durationS
    const [simCode] = await simExit

    const result = {
      bench: 'http-latest',
      connections,
      pipelining: 1,
      durationS,
      bodyBytes: Buffer.byteLength(sample),
      api: apiRun,
      bare: bareRun,
      ratio: round(apiRun.rps / bareRun.rps),
      healthzNoStore: healthRun,
      withIngest: {
        offeredMessagesPerS: ingestDevices * ingestRate,
        storedRowsPerS: Math.round(rowsPerS),
        simulator: simCode === 0 ? summaryOf(simOut) : `exited with ${simCode}`,
        ...ingestRun,
      },
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    api.proc.kill('SIGTERM')
    await once(api.proc, 'exit')
    await cleanup(databaseUrl, redisUrl, env.PG_SCHEMA, env.REDIS_KEY_PREFIX)
  }
}

interface Child {
  proc: ChildProcess
  ports: { http?: number; mqtt?: number }
}

/** This script again in another role; resolves with the ports it printed. */
async function child(args: string[], env: NodeJS.ProcessEnv): Promise<Child> {
  const proc = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [line] = (await once(proc.stdout!, 'data')) as [Buffer]
  return { proc, ports: JSON.parse(line.toString()) }
}

/** Five metrics per device, then wait until the last device is readable. */
async function seed(mqttPort: number, ids: string[]): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
  const ts = Date.now() - 60_000

  await Promise.all(
    ids.map((d, i) =>
      client.publishAsync(
        `devices/${d}/telemetry`,
        JSON.stringify({
          ts,
          temp: 20.25 + i / 100,
          rh: 41.5,
          batt: 3.71,
          seq: i,
          door: i % 2 === 0,
        }),
        { qos: 1 },
      ),
    ),
  )
  await client.endAsync()
}

interface Run {
  rps: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  statusCodes: Record<string, number>
  errors: number
}

async function cannon(
  url: string,
  o: { connections: number; durationS: number; headers: Record<string, string>; paths: string[] },
): Promise<Run> {
  let next = 0
  const r = await autocannon({
    url,
    connections: o.connections,
    pipelining: 1,
    duration: o.durationS,
    headers: o.headers,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: o.paths[next++ % o.paths.length] }),
      },
    ],
  })

  return {
    rps: Math.round(r.requests.average),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    statusCodes: Object.fromEntries(
      Object.entries(r.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]),
    ),
    errors: r.errors + r.timeouts,
  }
}

function spawnSimulator(port: number, devices: number, rate: number, durationS: number) {
  const cli = new URL('../cli/main.ts', import.meta.url).pathname
  const args = ['simulate', '--url', `mqtt://127.0.0.1:${port}`, '--devices', String(devices)]
  args.push('--rate', String(rate), '--duration', String(durationS), '--prefix', 'ingest-')
  return spawn(process.execPath, [...process.execArgv, cli, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  })
}

async function rowCount(databaseUrl: string, schema: string): Promise<number> {
  const c = new pg.Client({ connectionString: databaseUrl })
  await c.connect()
  const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${schema}.telemetry`)
  await c.end()
  return rows[0].n
}

async function cleanup(databaseUrl: string, redisUrl: string, schema: string, prefix: string) {
  const c = new pg.Client({ connectionString: databaseUrl })
  await c.connect()
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await c.end()

  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}:*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

/** The simulator's JSON summary, or what it printed when it is not JSON. */
function summaryOf(out: string): unknown {
  try {
    return JSON.parse(out)
  } catch {
    return out.slice(0, 200)
  }
}
