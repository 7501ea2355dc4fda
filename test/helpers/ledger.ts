import mqtt from 'mqtt'
import pg from 'pg'

/** What each device published and what the broker acknowledged, by sequence number. */
export interface Ledger {
  sent: number
  acked: Map<string, Set<number>>
}

export interface FleetOptions {
  url: string
  devices: number
  /** Messages per second per device. */
  rate: number
  durationMs: number
  prefix: string
}

const T0 = Date.parse('2026-12-01T00:00:00Z')

/**
 * Devices publishing QoS 1 `{ts, seq, v}` at a steady rate; a message
 * counts as acknowledged only when its PUBACK arrived. Each (device, seq)
 * has its own timestamp, so a lost message is a missing row and a duplicate
 * a second row for one seq.
 */
export async function publishFleet(opts: FleetOptions): Promise<Ledger> {
  const ledger: Ledger = { sent: 0, acked: new Map() }
  const until = Date.now() + opts.durationMs
  const gapMs = 1000 / opts.rate

  await Promise.all(
    Array.from({ length: opts.devices }, async (_, d) => {
      const device = `${opts.prefix}${d}`
      const acked = new Set<number>()
      ledger.acked.set(device, acked)
      const client = await mqtt.connectAsync(opts.url, {
        clientId: device,
        reconnectPeriod: 200,
      })
      client.on('error', () => undefined)

      const inFlight: Promise<void>[] = []
      for (let seq = 0; Date.now() < until; seq++) {
        const payload = JSON.stringify({ ts: T0 + seq, seq, v: seq * 0.5 })
        ledger.sent++
        inFlight.push(
          client.publishAsync(`devices/${device}/telemetry`, payload, { qos: 1 }).then(
            () => void acked.add(seq),
            () => undefined,
          ),
        )
        await new Promise((r) => setTimeout(r, gapMs * (0.5 + Math.random())))
      }
      await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(r, 5_000))])
      await client.endAsync(true)
    }),
  )
  return ledger
}

export interface Verdict {
  acked: number
  lost: number
  duplicated: number
}

/** Compares the ledger with the `seq` rows in Postgres. */
export async function verify(
  databaseUrl: string,
  schema: string,
  ledger: Ledger,
): Promise<Verdict> {
  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  try {
    const { rows } = await db.query<{ device_id: string; seq: string; n: number }>(
      `SELECT device_id, v_int::text AS seq, count(*)::int AS n FROM ${schema}.telemetry
        WHERE metric = 'seq' AND device_id = ANY($1) GROUP BY 1, 2`,
      [[...ledger.acked.keys()]],
    )
    const stored = new Map<string, Map<number, number>>()
    for (const r of rows) {
      const per = stored.get(r.device_id) ?? new Map<number, number>()
      per.set(Number(r.seq), r.n)
      stored.set(r.device_id, per)
    }

    let acked = 0
    let lost = 0
    let duplicated = 0
    for (const [device, seqs] of ledger.acked) {
      const per = stored.get(device)
      acked += seqs.size
      for (const seq of seqs) if (!per?.has(seq)) lost++
      for (const n of per?.values() ?? []) if (n > 1) duplicated += n - 1
    }
    return { acked, lost, duplicated }
  } finally {
    await db.end()
  }
}

/**
 * verify(), again until nothing acknowledged is missing or `timeoutMs` has
 * passed: what the broker acknowledged last may still be on its way.
 */
export async function settledVerdict(
  databaseUrl: string,
  schema: string,
  ledger: Ledger,
  timeoutMs: number,
): Promise<Verdict> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const verdict = await verify(databaseUrl, schema, ledger)
    if (verdict.lost === 0 || Date.now() > deadline) return verdict
    await new Promise((r) => setTimeout(r, 200))
  }
}
