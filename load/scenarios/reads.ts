import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, httpOk, spawnScript, waitReady } from '../harness/procs.js'
import type { ReadResult } from '../harness/reads.js'
import { readLoad } from '../harness/reads.js'
import type { StepContext } from '../harness/step.js'

export interface ReadsResult {
  api: ReadResult
  bare: ReadResult
  /** api / bare requests per second. */
  ratio: number
}

export function latestPaths(devices: readonly string[]): string[] {
  return devices.map((d) => `/v1/devices/${encodeURIComponent(d)}/latest`)
}

/**
 * Latest-value reads at full speed against the API, then the same load
 * against bare node:http serving one real response body, in a child
 * process of its own like the API.
 */
export async function readsScenario(
  ctx: StepContext,
  devices: readonly string[],
  o: { durationS: number; connections: number },
): Promise<ReadsResult> {
  const paths = latestPaths(devices)
  const api = await readLoad(ctx.stack.httpUrl, paths, o.durationS, o.connections, ctx.token)

  const sample = await fetch(`${ctx.stack.httpUrl}${paths[0]}`, {
    headers: ctx.token ? { authorization: `Bearer ${ctx.token}` } : {},
  })
  const bodyFile = join(tmpdir(), `bare-http-${process.pid}.json`)
  writeFileSync(bodyFile, Buffer.from(await sample.arrayBuffer()))

  const port = await freePort()
  const server = spawnScript('bare-http', 'load/baselines/bare-http.ts', [String(port), bodyFile])

  try {
    await waitReady(server, () => httpOk(`http://127.0.0.1:${port}/`))
    const bare = await readLoad(`http://127.0.0.1:${port}`, paths, o.durationS, o.connections)
    return { api, bare, ratio: round2(api.requestsPerS / Math.max(1, bare.requestsPerS)) }
  } finally {
    await server.stop()
  }
}

export function round2(v: number): number {
  return Math.round(v * 100) / 100
}
