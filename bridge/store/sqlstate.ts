/**
 * What to do when Postgres refuses a batch, decided by SQLSTATE class
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 *
 * - 'retry': the same batch will succeed later; back off and send it again.
 * - 'bisect': some row is bad; split the batch until the bad rows are alone.
 */
export type FailureClass = 'retry' | 'bisect'

const RETRY_CLASSES: Record<string, string> = {
  // Connection exception: the server went away or the network broke.
  '08': 'connection',
  // Transaction rollback: serialization failure 40001, deadlock 40P01.
  '40': 'transaction rollback',
  // Insufficient resources: disk full 53100, out of memory 53200, too many connections 53300.
  '53': 'resources',
  // Operator intervention: admin shutdown 57P01, crash shutdown 57P02, cannot connect now 57P03.
  // query_canceled 57014 is our own statement timeout and worth another try too.
  '57': 'operator intervention',
  // Object not in prerequisite state: lock not available 55P03.
  '55': 'lock',
  // System error: I/O errors on the server side.
  '58': 'system',
}

/** Node socket errors carry no SQLSTATE but mean the connection is gone. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
])

export function classify(err: unknown): FailureClass {
  const code = (err as { code?: unknown } | null)?.code

  if (typeof code !== 'string') return 'retry'
  if (NETWORK_CODES.has(code)) return 'retry'
  if (code === 'COPY_TIMEOUT') return 'retry'
  if (code.length === 5 && RETRY_CLASSES[code.slice(0, 2)]) return 'retry'

  // Data exceptions (22), integrity violations (23), syntax or access
  // problems (42) and anything unknown belong to some row: isolate it
  // rather than stall the whole pipeline on it.
  return 'bisect'
}

export function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}
