import type { DbOptions } from '../bridge/store/db.js'
import { migrate } from '../bridge/store/db.js'
import type { Logger } from '../common/logger.js'

const ATTEMPTS = 20

/**
 * migrate(), tried again while another process holds the migration lock.
 * node-pg-migrate takes it with pg_try_advisory_lock, one lock for the whole
 * database whatever the schema, and throws at once instead of waiting; its
 * error has no code, so the message is the only thing to recognise it by.
 * Remove when bridge/store/db.ts waits for the lock itself.
 */
export async function migrateWhenFree(db: DbOptions, log: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(db, log)
      return
    } catch (err) {
      const busy = err instanceof Error && /another migration is already running/i.test(err.message)
      if (!busy || attempt >= ATTEMPTS) throw err

      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200 * attempt))
    }
  }
}
