/** A source of uniform numbers in [0, 1), injectable so tests are reproducible. */
export type Rand = () => number

/** mulberry32: small, fast and good enough for simulated sensors; not for secrets. */
export function seededRand(seed: number): Rand {
  let a = seed >>> 0

  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Picks from weighted choices, e.g. `{ climate: 2, tracker: 1 }`. */
export function pickWeighted<K extends string>(weights: Partial<Record<K, number>>, rand: Rand): K {
  const entries = Object.entries(weights) as [K, number][]
  const total = entries.reduce((s, [, w]) => s + w, 0)
  let r = rand() * total

  for (const [k, w] of entries) {
    r -= w
    if (r < 0) return k
  }

  return (entries[entries.length - 1] as [K, number])[0]
}
