/** What each suite runs; `standard` is `make bench` (under 10 minutes on 2 cores). */
export interface Suite {
  name: string
  relay: { devices: number; durationS: number }
  rawCopyRows: number
  ramp: { devices: number; stepS: number; offeredMsgsPerS: number[] }
  /** Seconds at half the highest sustainable rate, for its latency. */
  halfRateS: number
  firehose: { devices: number; durationS: number }
  fleet: { devices: number; durationS: number; connectRatePerS: number }
  reads: { durationS: number; connections: number }
  mixed: { durationS: number; connections: number }
}

export const SUITES: Record<string, Suite> = {
  standard: {
    name: 'standard',
    relay: { devices: 4, durationS: 10 },
    rawCopyRows: 500_000,
    ramp: {
      devices: 50,
      stepS: 10,
      offeredMsgsPerS: [500, 1000, 2000, 3000, 4500, 6500, 9000, 12_000, 16_000, 20_000, 25_000],
    },
    halfRateS: 10,
    firehose: { devices: 4, durationS: 10 },
    fleet: { devices: 2000, durationS: 20, connectRatePerS: 500 },
    reads: { durationS: 10, connections: 50 },
    mixed: { durationS: 10, connections: 20 },
  },
  full: {
    name: 'full',
    relay: { devices: 4, durationS: 15 },
    rawCopyRows: 1_000_000,
    ramp: {
      devices: 100,
      stepS: 15,
      offeredMsgsPerS: [
        500, 1000, 2000, 3000, 4000, 6000, 8000, 10_000, 12_000, 15_000, 20_000, 25_000, 30_000,
      ],
    },
    halfRateS: 20,
    firehose: { devices: 4, durationS: 20 },
    fleet: { devices: 10_000, durationS: 30, connectRatePerS: 500 },
    reads: { durationS: 20, connections: 100 },
    mixed: { durationS: 20, connections: 50 },
  },
  tiny: {
    name: 'tiny',
    relay: { devices: 1, durationS: 2 },
    rawCopyRows: 5000,
    ramp: { devices: 3, stepS: 3, offeredMsgsPerS: [100, 200] },
    halfRateS: 2,
    firehose: { devices: 1, durationS: 2 },
    fleet: { devices: 5, durationS: 2, connectRatePerS: 100 },
    reads: { durationS: 1, connections: 2 },
    mixed: { durationS: 2, connections: 2 },
  },
}
