import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo, Server } from 'node:net'
import type { Registry } from 'prom-client'
import type { Logger } from '../common/logger.js'

/**
 * GET /metrics for a broker running without the bridge's HTTP API beside
 * it; everything else is 404.
 */
export async function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
  log: Logger,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') return void res.writeHead(404).end()

    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err) => {
        log.warn({ err }, 'metrics collection failed')
        res.writeHead(500).end()
      },
    )
  })

  server.listen(port, host)
  await once(server, 'listening')
  const bound = (server.address() as AddressInfo).port
  log.info({ port: bound }, 'broker metrics listening')

  return {
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
