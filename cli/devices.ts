import { Command } from 'commander'
import type pg from 'pg'
import { validateDeviceId } from '../bridge/decode/topics.js'
import { createPool, migrate } from '../bridge/store/db.js'
import type { Role } from '../broker/registry.js'
import { Registry } from '../broker/registry.js'
import type { Config } from '../common/config.js'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'

type Run = (fn: (c: Config, log: Logger) => Promise<void>) => Promise<void>

const out = (line: string) => process.stdout.write(`${line}\n`)

/**
 * `devices add|list|disable|rotate`: the broker's registry of device and
 * service accounts. A secret is printed once, by add and rotate, and never
 * stored: only its scrypt hash is.
 */
export function devicesCommand(run: Run): Command {
  const cmd = new Command('devices').description(
    'manage device and service accounts of the broker (DATABASE_URL)',
  )

  cmd
    .command('add <id>')
    .description('create an account and print its secret, once')
    .option('--service', 'a service account (reads all telemetry, publishes commands)')
    .action((id: string, o: { service?: boolean }) =>
      withRegistry(run, async (r, c) => {
        checkId(id, c)
        const role: Role = o.service ? 'service' : 'device'
        const secret = await r.add(id, role)
        if (!secret) throw accountInvalid(`account ${JSON.stringify(id)} exists already`)
        printSecret(id, secret)
      }),
    )

  cmd
    .command('list')
    .description('list accounts as JSON lines, without secrets')
    .action(() =>
      withRegistry(run, async (r) => {
        for (const a of await r.list()) {
          const { secretHash: _hash, ...shown } = a
          out(JSON.stringify(shown))
        }
      }),
    )

  cmd
    .command('disable <id>')
    .description('refuse the account from its next connect on')
    .action((id: string) =>
      withRegistry(run, async (r) => {
        if (!(await r.disable(id))) throw accountInvalid(`no account ${JSON.stringify(id)}`)
        out(`disabled ${id}`)
      }),
    )

  cmd
    .command('rotate <id>')
    .description('replace the secret (and enable the account); prints the new one once')
    .action((id: string) =>
      withRegistry(run, async (r) => {
        const secret = await r.rotate(id)
        if (!secret) throw accountInvalid(`no account ${JSON.stringify(id)}`)
        printSecret(id, secret)
      }),
    )

  return cmd
}

function withRegistry(run: Run, fn: (r: Registry, c: Config) => Promise<void>): Promise<void> {
  return run(async (c, log) => {
    if (!c.DATABASE_URL) throw new TelemetryError('CONFIG_INVALID', 'DATABASE_URL must be set')

    const db = { databaseUrl: c.DATABASE_URL, schema: c.PG_SCHEMA, poolSize: 2 }
    await migrate(db, log)
    const pool: pg.Pool = createPool(db, log)

    try {
      await fn(new Registry(pool), c)
    } finally {
      await pool.end()
    }
  })
}

function checkId(id: string, c: Config): void {
  const bad = validateDeviceId(id, c.MAX_DEVICE_ID_LENGTH)
  if (bad) throw new TelemetryError('ACCOUNT_INVALID', bad)
}

function accountInvalid(message: string): TelemetryError {
  return new TelemetryError('ACCOUNT_INVALID', message)
}

function printSecret(id: string, secret: string): void {
  out(`id:     ${id}`)
  out(`secret: ${secret}`)
  out('the secret is shown only now; connect with username = client id = id, password = secret')
}
