/**
 * Receive times in strictly increasing microseconds: readings without a
 * timestamp of their own, arriving within one millisecond, must not share a
 * primary key and be taken for redeliveries.
 */
export function receiveClock(): () => number {
  let lastUs = 0
  return () => {
    lastUs = Math.max(lastUs + 1, Date.now() * 1000)
    return lastUs
  }
}
