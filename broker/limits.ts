/**
 * Per-address budgets: a token bucket that holds `perMinute` tokens and
 * refills at `perMinute` per minute. 0 turns the budget off. Buckets that
 * are full again are forgotten, so the map holds only addresses that were
 * active within the last minute.
 */
export class AddressBudget {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>()
  private readonly sweep: NodeJS.Timeout | undefined

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    if (perMinute <= 0) return
    this.sweep = setInterval(() => this.forgetFull(), 60_000)
    this.sweep.unref()
  }

  /** True when the address still had a token, which is now spent. */
  take(address: string): boolean {
    if (this.perMinute <= 0) return true

    const b = this.refilled(address)
    if (b.tokens < 1) return false

    b.tokens -= 1
    this.buckets.set(address, b)
    return true
  }

  /** True when the address has no token left, without spending one. */
  exhausted(address: string): boolean {
    if (this.perMinute <= 0) return false
    return this.refilled(address).tokens < 1
  }

  close(): void {
    if (this.sweep) clearInterval(this.sweep)
  }

  private refilled(address: string): { tokens: number; atMs: number } {
    const now = this.now()
    const b = this.buckets.get(address)
    if (!b) return { tokens: this.perMinute, atMs: now }

    const earned = ((now - b.atMs) / 60_000) * this.perMinute
    return { tokens: Math.min(this.perMinute, b.tokens + earned), atMs: now }
  }

  private forgetFull(): void {
    for (const address of [...this.buckets.keys()]) {
      if (this.refilled(address).tokens >= this.perMinute) this.buckets.delete(address)
    }
  }
}
