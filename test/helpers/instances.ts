import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url))

interface Teardown {
  teardown(fn: () => unknown): void
}

type Service = 'pg' | 'redis'

/**
 * Postgres and Redis of a test's own, in a throwaway directory, for fault
 * tests that stop, restart or kill them without disturbing other tests.
 * A stopped service comes back on the same port.
 */
export interface OwnServices {
  databaseUrl: string
  redisUrl: string
  stop(service: Service): Promise<void>
  start(service: Service): Promise<void>
}

export async function ownServices(t: Teardown): Promise<OwnServices> {
  const dir = await mkdtemp(join(tmpdir(), 'telemetry-svc-'))
  // The unprivileged database user must be able to reach its data folder.
  await chmod(dir, 0o755)
  const env = { ...process.env, SERVICES_DIR: dir, SERVICES_FAST: '1' }
  const services = (...args: string[]) => run(SCRIPT, args, { env })

  t.teardown(async () => {
    await services('reset')
    await rm(dir, { recursive: true, force: true })
  })

  await services('start')
  const urls = Object.fromEntries(
    (await readFile(join(dir, 'services.env'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  ) as Record<string, string>

  const databaseUrl = urls.DATABASE_URL
  const redisUrl = urls.REDIS_URL
  if (!databaseUrl || !redisUrl) throw new Error(`no URLs in ${dir}/services.env`)

  return {
    databaseUrl,
    redisUrl,
    stop: async (service) => void (await services('stop', service)),
    start: async (service) => void (await services('start', service)),
  }
}
