import { readFileSync } from 'node:fs'
import { TelemetryError } from '../common/errors.js'

// Listeners, the log, Postgres and Redis clients besides the devices.
const SPARE_FDS = 256

/** The soft open-files limit of this process, or undefined off Linux. */
export function openFilesLimit(): number | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8')
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits)
    if (!m?.[1] || m[1] === 'unlimited') return undefined
    return Number(m[1])
  } catch {
    return undefined
  }
}

/**
 * Each device is one socket. Refuse up front with a way out instead of
 * failing thousands of connects with EMFILE halfway through a run.
 */
export function assertFdBudget(devices: number, limit = openFilesLimit()): void {
  if (limit === undefined || devices + SPARE_FDS <= limit) return

  throw new TelemetryError(
    'CONFIG_INVALID',
    `${devices} devices need about ${devices + SPARE_FDS} open files, the limit is ${limit}: raise it (ulimit -n) or run fewer devices`,
  )
}
