import type pg from 'pg'
import { hashSecret, newSecret } from './secrets.js'

export type Role = 'device' | 'service'

export interface Account {
  id: string
  role: Role
  secretHash: string
  enabled: boolean
  createdAt: Date
  lastSeenAt: Date | null
}

interface Row {
  id: string
  role: Role
  secret_hash: string
  enabled: boolean
  created_at: Date
  last_seen_at: Date | null
}

const COLUMNS = 'id, role, secret_hash, enabled, created_at, last_seen_at'

// A connect refreshes last_seen_at at most this often, so a reconnect storm
// is not also a storm of UPDATEs.
const LAST_SEEN_RESOLUTION_MS = 60_000

/** The device_credentials table (migration 1700000000200). */
export class Registry {
  constructor(private readonly pool: pg.Pool) {}

  async find(id: string): Promise<Account | undefined> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM device_credentials WHERE id = $1`,
      [id],
    )
    return rows[0] && toAccount(rows[0])
  }

  async list(): Promise<Account[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM device_credentials ORDER BY id`,
    )
    return rows.map(toAccount)
  }

  /** Creates the account and returns its secret: the only time it exists in the clear. */
  async add(id: string, role: Role): Promise<string | undefined> {
    const secret = newSecret()
    const { rowCount } = await this.pool.query(
      `INSERT INTO device_credentials (id, role, secret_hash) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO NOTHING`,
      [id, role, await hashSecret(secret)],
    )
    return rowCount === 1 ? secret : undefined
  }

  /** A new secret replaces the old one at once; the account is enabled again. */
  async rotate(id: string): Promise<string | undefined> {
    const secret = newSecret()
    const { rowCount } = await this.pool.query(
      'UPDATE device_credentials SET secret_hash = $2, enabled = true WHERE id = $1',
      [id, await hashSecret(secret)],
    )
    return rowCount === 1 ? secret : undefined
  }

  async disable(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE device_credentials SET enabled = false WHERE id = $1',
      [id],
    )
    return rowCount === 1
  }

  async touch(account: Account, now = new Date()): Promise<void> {
    const last = account.lastSeenAt?.getTime() ?? 0
    if (now.getTime() - last < LAST_SEEN_RESOLUTION_MS) return

    await this.pool.query('UPDATE device_credentials SET last_seen_at = $2 WHERE id = $1', [
      account.id,
      now,
    ])
  }
}

function toAccount(r: Row): Account {
  return {
    id: r.id,
    role: r.role,
    secretHash: r.secret_hash,
    enabled: r.enabled,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
  }
}
