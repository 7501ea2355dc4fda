import { setTimeout as delay } from 'node:timers/promises'

export interface BackoffOptions {
  /** First delay, ms. */
  baseMs: number
  /** Longest delay, ms. */
  capMs: number
}

/**
 * Exponential backoff with "equal jitter": between half and all of base·2^attempt,
 * capped, so many clients that failed together do not retry together.
 */
export function backoffMs(attempt: number, opts: BackoffOptions): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

/**
 * Waits `ms`, or less if `signal` aborts (then it resolves, not rejects).
 * node:timers/promises removes its abort listener when the timer fires, so
 * a long-lived signal collects no listeners across many retries.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal })
  } catch (err) {
    if (!signal?.aborted) throw err
  }
}
