import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import Fastify from 'fastify'
import type { Logger } from '../../common/logger.js'
import { isoUs } from '../decode/index.js'
import type { BridgeMetrics } from '../metrics.js'
import type { LastValue, LastValues } from '../store/last-values.js'

export interface ApiDeps {
  lastValues: LastValues
  metrics: BridgeMetrics
  log: Logger
}

const deviceParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const

/**
 * The HTTP API. Latest values come from Redis as exact JSON text and are
 * spliced into the body unparsed, so a 20-digit integer keeps every digit.
 */
export function buildApi(deps: ApiDeps): FastifyInstance {
  // Request lines at info would drown the log at thousands of reads per
  // second; errors still come through at warn and above.
  const loggerInstance = deps.log.child(
    { component: 'api' },
    { level: 'warn' },
  ) as FastifyBaseLogger
  // A device id may be 256 characters of up to 4 UTF-8 bytes, percent-encoded.
  const app = Fastify({ loggerInstance, routerOptions: { maxParamLength: 3072 } })

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.metrics.registry.contentType)
    return deps.metrics.registry.metrics()
  })

  app.get<{ Params: { id: string } }>(
    '/v1/devices/:id/latest',
    { schema: { params: deviceParams } },
    async (req, reply) => {
      const latest = await deps.lastValues.read(req.params.id)

      if (!latest) {
        reply.code(404)
        return {
          error: 'device_not_found',
          message: `no readings for device ${JSON.stringify(req.params.id)}`,
        }
      }

      reply.type('application/json; charset=utf-8')
      return latestBody(req.params.id, latest)
    },
  )

  return app
}

function latestBody(device: string, latest: Map<string, LastValue>): string {
  const metrics = [...latest]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(
      ([name, v]) =>
        `${JSON.stringify(name)}:{"type":"${v.kind}","ts":"${isoUs(v.tsUs)}","value":${v.json}}`,
    )

  return `{"device":${JSON.stringify(device)},"metrics":{${metrics.join(',')}}}`
}
