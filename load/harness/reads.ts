import autocannon from 'autocannon'

export interface ReadResult {
  connections: number
  durationS: number
  requestsPerS: number
  latencyMs: { p50: number; p99: number; max: number }
  non2xx: number
  errors: number
}

/**
 * HTTP GETs at full speed over `connections` keep-alive connections for
 * `durationS`, cycling through `paths` (autocannon).
 */
export async function readLoad(
  baseUrl: string,
  paths: readonly string[],
  durationS: number,
  connections: number,
  token?: string,
): Promise<ReadResult> {
  let i = 0
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  const result = await autocannon({
    url: baseUrl,
    connections,
    duration: durationS,
    headers,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: paths[i++ % paths.length] ?? '/' }),
      },
    ],
  })

  return {
    connections,
    durationS,
    requestsPerS: Math.round(result.requests.average),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
  }
}
