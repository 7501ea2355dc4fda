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

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      { once: true },
    )
  })
}
