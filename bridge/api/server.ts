import swagger from '@fastify/swagger'
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from 'fastify'
import Fastify from 'fastify'
import type pg from 'pg'
import { TelemetryError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { BridgeMetrics } from '../metrics.js'
import type { LastValues } from '../store/last-values.js'
import type { ApiToken } from './auth.js'
import { bearerAuth } from './auth.js'
import type { Rebuildable } from './latest-reader.js'
import { LatestReader } from './latest-reader.js'
import { deviceRoutes } from './routes-devices.js'
import type { ReadinessChecks } from './routes-health.js'
import { healthRoutes } from './routes-health.js'
import { historyRoutes } from './routes-history.js'
import { latestRoutes } from './routes-latest.js'

export interface ApiOptions {
  /** `bearer`: /v1 needs one of `tokens`; `none`: open. */
  auth: 'bearer' | 'none'
  tokens: readonly ApiToken[]
  /** Whether /metrics needs a token as well. */
  metricsAuth: 'bearer' | 'none'
  /** Largest `limit` of a history request. */
  historyMaxRows: number
}

export interface ApiDeps {
  lastValues: LastValues
  /** The API's own pool (history, reads while Redis is away), apart from ingest. */
  pool: pg.Pool
  rebuilder?: Rebuildable
  checks: ReadinessChecks
  metrics: BridgeMetrics
  log: Logger
  options: ApiOptions
}

/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_S = '1'

/**
 * The HTTP API: /v1 routes behind bearer tokens, open health routes,
 * /metrics, and /openapi.json generated from the routes' schemas.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  // Request lines at info would drown the log at thousands of reads per
  // second; errors still come through at warn and above.
  const loggerInstance = deps.log.child(
    { component: 'api' },
    { level: 'warn' },
  ) as FastifyBaseLogger
  // A device id may be 256 characters of up to 4 UTF-8 bytes, percent-encoded.
  const app = Fastify({
    loggerInstance,
    routerOptions: { maxParamLength: 3072 },
    // A pino child per request (for its reqId) costs more than a latest
    // read; the few lines the API logs carry the route instead.
    childLoggerFactory: (logger) => logger,
  })
  const { options: o, metrics } = deps
  const auth = bearerAuth(o.tokens, metrics)

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'telemetry-ingest HTTP API', version: '1' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
  })

  app.addHook('onResponse', httpTimer(metrics))

  app.setErrorHandler((err: FastifyError, req, reply) => answerError(err, req.log, reply))
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'route_not_found', message: `no route ${req.method} ${req.url}` })
  })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  healthRoutes(app, deps.checks, metrics, o.metricsAuth === 'bearer' ? auth : undefined)

  const reader = new LatestReader(deps.lastValues, deps.pool, deps.rebuilder, metrics, deps.log)
  await app.register(
    async (v1) => {
      if (o.auth === 'bearer') {
        v1.addHook('onRequest', auth)
        v1.addHook('onRoute', (route) => {
          if (route.schema) route.schema.security = [{ bearerAuth: [] }]
        })
      }

      deviceRoutes(v1, deps.lastValues)
      latestRoutes(v1, reader)
      historyRoutes(v1, deps.pool, o.historyMaxRows)
    },
    { prefix: '/v1' },
  )

  return app
}

/** Observes each response; the labelled child per route is looked up once. */
function httpTimer(metrics: BridgeMetrics) {
  const children = new Map<string, ReturnType<BridgeMetrics['httpSeconds']['labels']>>()

  return (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const route = req.routeOptions.url ?? 'unmatched'
    const key = `${req.method} ${route} ${reply.statusCode}`
    let child = children.get(key)

    if (!child) {
      child = metrics.httpSeconds.labels(req.method, route, String(reply.statusCode))
      children.set(key, child)
    }

    child.observe(reply.elapsedTime / 1000)
    done()
  }
}

function answerError(err: FastifyError, log: FastifyBaseLogger, reply: FastifyReply) {
  if (err.validation) {
    return reply.code(400).send({ error: 'bad_request', message: err.message })
  }

  if (err instanceof TelemetryError && err.code === 'STORE_UNAVAILABLE') {
    log.warn({ err }, 'store unavailable')
    return reply
      .code(503)
      .header('retry-after', RETRY_AFTER_S)
      .send({ error: 'unavailable', message: err.message })
  }

  // Malformed requests fastify itself refuses (bad URL encoding, …).
  const status = err.statusCode ?? 500
  if (status < 500) return reply.code(status).send({ error: 'bad_request', message: err.message })

  log.error({ err }, 'request failed')
  return reply.code(500).send({ error: 'internal', message: 'internal error' })
}
