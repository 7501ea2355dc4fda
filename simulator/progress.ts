import type { SimDevice } from './device.js'

export interface FleetTotals {
  devices: number
  connected: number
  messages: number
  samples: number
  acked: number
  inflight: number
  reconnects: number
  offlineSkipped: number
  throttled: number
  maxBehindMs: number
}

export function fleetTotals(devices: readonly SimDevice[]): FleetTotals {
  const t: FleetTotals = {
    devices: devices.length,
    connected: 0,
    messages: 0,
    samples: 0,
    acked: 0,
    inflight: 0,
    reconnects: 0,
    offlineSkipped: 0,
    throttled: 0,
    maxBehindMs: 0,
  }

  for (const d of devices) {
    if (d.connected) t.connected++
    t.messages += d.ledger.messages
    t.samples += d.ledger.sent
    t.acked += d.ledger.acked
    t.inflight += d.counters.inflight
    t.reconnects += d.counters.reconnects
    t.offlineSkipped += d.counters.offlineSkipped
    t.throttled += d.counters.throttled
    t.maxBehindMs = Math.max(t.maxBehindMs, d.counters.maxBehindMs)
  }

  return t
}

/**
 * A progress line on stderr every `everyMs`: rewritten in place on a
 * terminal, one line per update otherwise (CI logs).
 */
export function startProgress(
  devices: readonly SimDevice[],
  everyMs: number,
  out: NodeJS.WriteStream = process.stderr,
): () => void {
  const started = Date.now()
  let last = { at: started, messages: 0 }

  const timer = setInterval(() => {
    const now = Date.now()
    const t = fleetTotals(devices)
    const rate = ((t.messages - last.messages) * 1000) / Math.max(1, now - last.at)
    const line =
      `sim ${((now - started) / 1000).toFixed(0)}s ` +
      `connected ${t.connected}/${t.devices} ` +
      `sent ${t.messages} (${Math.round(rate)}/s) acked ${t.acked} ` +
      `in-flight ${t.inflight} reconnects ${t.reconnects}`

    last = { at: now, messages: t.messages }
    out.write(out.isTTY ? `\r${line}\x1b[K` : `${line}\n`)
  }, everyMs)

  return () => {
    clearInterval(timer)
    if (out.isTTY) out.write('\n')
  }
}
