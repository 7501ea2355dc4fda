/**
 * Bounds the secret checks in progress. scrypt runs on libuv's thread pool;
 * a reconnect storm must neither occupy it entirely (pg and dns need it
 * too) nor queue an unbounded number of checks. Past `maxWaiting` the
 * caller is told to come back later (CONNACK 3, server unavailable).
 */
export class HashGate {
  private running = 0
  private readonly waiting: (() => void)[] = []

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  /** Runs fn in a slot, or returns undefined at once when the queue is full. */
  async run<T>(fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) return undefined
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    } else {
      this.running++
    }

    try {
      return { value: await fn() }
    } finally {
      const next = this.waiting.shift()
      if (next) next()
      else this.running--
    }
  }
}
