import type { LastValues } from '../../bridge/store/last-values.js'
import type { SeqRow } from './judge.js'

/** Where "latest" is read: the HTTP API (optional bearer token) or Redis directly. */
export type LatestSource =
  | { kind: 'http'; baseUrl: string; token?: string }
  | { kind: 'redis'; lastValues: LastValues }

/** A device's latest `seq` as the source shows it; null when it has none. */
export async function latestSeq(source: LatestSource, device: string): Promise<SeqRow | null> {
  if (source.kind === 'redis') {
    const v = (await source.lastValues.readStored(device)).get('seq')
    return v ? { seq: Number(v.json), tsUs: v.tsUs } : null
  }

  const url = `${source.baseUrl}/v1/devices/${encodeURIComponent(device)}/latest`
  const headers: Record<string, string> = source.token
    ? { authorization: `Bearer ${source.token}` }
    : {}
  const res = await fetch(url, { headers })

  if (res.status === 404) {
    await res.body?.cancel()
    return null
  }
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}, expected 200 or 404`)

  const body = (await res.json()) as { metrics?: Record<string, { ts: string; value: unknown }> }
  const seq = body.metrics?.seq

  return seq ? { seq: Number(seq.value), tsUs: isoToUs(seq.ts) } : null
}

/** `2026-12-03T16:43:46.469123Z` → µs since the epoch, keeping the microseconds. */
export function isoToUs(iso: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\d*Z$/.exec(iso)
  if (!m?.[1]) return Number.NaN

  const frac = (m[2] ?? '').padEnd(6, '0')
  return Date.parse(`${m[1]}Z`) * 1000 + Number(frac)
}
