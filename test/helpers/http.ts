/** One GET with its status, headers, raw body and how long it took. */
export interface Got {
  status: number
  headers: Headers
  text: string
  // biome-ignore lint/suspicious/noExplicitAny: test bodies are inspected field by field
  json: any
  ms: number
}

export async function get(url: string, token?: string): Promise<Got> {
  const started = performance.now()
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) })
  const text = await res.text()
  const ms = performance.now() - started
  let json: unknown

  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }

  return { status: res.status, headers: res.headers, text, json, ms }
}

/** The path of a device (and metric) with every reserved character escaped. */
export function devicePath(id: string, ...rest: string[]): string {
  return ['/v1/devices', ...[id, ...rest].map(encodeURIComponent)].join('/')
}
