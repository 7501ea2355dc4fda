import type { Rand } from './random.js'

export interface BackoffOptions {
  /** First delay before jitter, ms. Default 500. */
  baseMs: number
  /** Largest delay before jitter, ms. Default 30000. */
  capMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 }

/**
 * Exponential backoff with "equal jitter": half of the capped exponential
 * delay is fixed, the other half random, so 10,000 devices that lost the
 * broker at the same instant come back spread out rather than in one
 * storm, yet none retries sooner than half its step.
 */
export function backoffMs(attempt: number, opts: BackoffOptions, rand: Rand): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, attempt - 1))

  return exp / 2 + rand() * (exp / 2)
}
