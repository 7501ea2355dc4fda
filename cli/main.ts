#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander'
import { partitionOptions } from '../bridge/index.js'
import { createPool, migrate } from '../bridge/store/db.js'
import { PartitionMaintainer } from '../bridge/store/partitions.js'
import type { Config } from '../common/config.js'
import { loadConfig } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { createLogger } from '../common/logger.js'
import { runDemo } from './demo.js'
import { devicesCommand } from './devices.js'
import { runSimulate } from './simulate.js'
import type { Part } from './stack.js'
import { startStack } from './stack.js'

const program = new Command('telemetry')
  .description('MQTT telemetry ingest: broker, bridge to Postgres and Redis, HTTP API, simulator')
  .addHelpText('after', '\nConfiguration comes from environment variables; see README.md.')

program
  .command('broker')
  .description('run the MQTT broker (MQTT_HOST, MQTT_PORT)')
  .action(() => serve(['broker']))

program
  .command('bridge')
  .description('run the bridge and HTTP API against BRIDGE_MQTT_URL')
  .action(() => serve(['bridge']))

program
  .command('all')
  .description('run broker, bridge and HTTP API in one process (local use)')
  .action(() => serve(['broker', 'bridge']))
  .addHelpText(
    'after',
    '\nThe bridge logs in to its own broker with a service account that exists only in the process.',
  )

program
  .command('migrate')
  .description('apply pending migrations and one partition maintenance pass, then exit')
  .action(() =>
    withConfig(async (c, log) => {
      const databaseUrl = c.DATABASE_URL
      if (!databaseUrl) throw new TelemetryError('CONFIG_INVALID', 'DATABASE_URL must be set')
      const db = { databaseUrl, schema: c.PG_SCHEMA, poolSize: 2 }
      await migrate(db, log)
      const pool = createPool(db, log)
      try {
        const report = await new PartitionMaintainer(pool, partitionOptions(c), log).runOnce()
        log.info(report, 'partition maintenance done')
      } finally {
        await pool.end()
      }
    }),
  )

program
  .command('simulate')
  .description('publish simulated fleet traffic, then print what was sent')
  .option('--url <url>', 'broker URL', 'mqtt://127.0.0.1:1883')
  .option('--devices <n>', 'device connections', toInt, 100)
  .option('--rate <r>', 'messages per second per device', toRate, 1)
  .option('--duration <s>', 'seconds to publish', toInt, 30)
  .addOption(new Option('--qos <q>', 'MQTT QoS').choices(['0', '1']).default('1'))
  .option('--prefix <p>', 'device id prefix', 'sim-')
  .option('--profiles <w>', 'profile weights, e.g. climate=2,tracker=1,meter=1')
  .option('--formats <w>', 'payload format weights, e.g. flat=1,values=1,array=1')
  .option('--ts-forms <w>', 'timestamp form weights: ms, s, us, iso, iso-offset, none')
  .option(
    '--faults <f>',
    'fault fractions, e.g. skew=0.05,reorder=0.01,duplicate=0.01,malformed=0.01',
  )
  .option('--username <u>', 'username per device ({device} is replaced by its id)')
  .option('--password <p>', 'password per device ({device} is replaced by its id)')
  .option('--connect-rate <n>', 'new connections per second', toInt)
  .option('--ledger <file>', 'write the ledger of what was sent (NDJSON) to this file')
  .option('--no-progress', 'no progress line on stderr')
  .option('--seed <n>', 'seed for a reproducible fleet', toInt)
  .action((o) => withConfig((_c, log) => runSimulate(o, log)))

program
  .command('demo')
  .description('run everything in one process with a simulated fleet, then show what landed')
  .option('--devices <n>', 'device connections', toInt, 100)
  .option('--rate <r>', 'messages per second per device', toRate, 1)
  .option('--duration <s>', 'seconds to publish', toInt, 30)
  .action((o) => withConfig((c, log) => runDemo(c, log, o)))

program.addCommand(devicesCommand(withConfig))

function toInt(v: string): number {
  const n = Number(v)

  if (Number.isInteger(n) && n >= 1) return n
  throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(v)}`)
}

function toRate(v: string): number {
  const n = Number(v)

  if (n > 0 && n <= 1000) return n
  throw new InvalidArgumentError(
    `expected messages per second in (0, 1000], got ${JSON.stringify(v)}`,
  )
}

async function withConfig(fn: (c: Config, log: Logger) => Promise<void>): Promise<void> {
  let config: Config

  try {
    config = loadConfig()
  } catch (err) {
    // Before a logger exists: say it plainly and stop.
    process.stderr.write(`${(err as Error).message}\n`)
    process.exit(2)
  }

  const log = createLogger(config.LOG_LEVEL)

  try {
    await fn(config, log)
  } catch (err) {
    // A check that needs more than one variable, made when a part starts:
    // reported like the catalogue's own, not as a crash.
    if (err instanceof TelemetryError && err.code === 'CONFIG_INVALID') {
      process.stderr.write(
        `${err.message.replace(/^(invalid configuration: )?/, 'invalid configuration: ')}\n`,
      )
      process.exit(2)
    }
    log.fatal({ err, code: err instanceof TelemetryError ? err.code : undefined }, 'stopped')
    // Whatever started (a listener, a reconnecting client) must not keep a
    // failed process alive.
    process.exit(1)
  }
}

function serve(parts: Part[]): Promise<void> {
  return withConfig(async (c, log) => {
    const stack = await startStack(c, log, parts)
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'))
      process.once('SIGINT', () => resolve('SIGINT'))
    })

    log.info({ signal }, 'shutting down')
    await stack.close()
    log.info('stopped cleanly')
  })
}

await program.parseAsync()
