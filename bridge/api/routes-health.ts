import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import type { BridgeMetrics } from '../metrics.js'

/** A dependency the API needs to be of use; each check answers quickly. */
export type ReadinessChecks = Record<string, () => Promise<boolean>>

const CHECK_TIMEOUT_MS = 1000

const readyBody = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: {
      type: 'object',
      additionalProperties: { type: 'string', enum: ['up', 'down'] },
    },
  },
} as const

export function healthRoutes(
  app: FastifyInstance,
  checks: ReadinessChecks,
  metrics: BridgeMetrics,
  metricsAuth: onRequestHookHandler | undefined,
): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'the process is alive',
        response: {
          200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } },
        },
      },
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Postgres, Redis and the MQTT subscription are connected',
        response: { 200: readyBody, 503: readyBody },
      },
    },
    async (_req, reply) => {
      const names = Object.keys(checks)
      const up = await Promise.all(names.map((n) => settle(checks[n]!)))
      const ready = up.every(Boolean)

      reply.code(ready ? 200 : 503)
      return {
        status: ready ? 'ready' : 'not_ready',
        checks: Object.fromEntries(names.map((n, i) => [n, up[i] ? 'up' : 'down'])),
      }
    },
  )

  app.get(
    '/metrics',
    {
      ...(metricsAuth && { onRequest: metricsAuth }),
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        ...(metricsAuth && { security: [{ bearerAuth: [] }] }),
        produces: ['text/plain'],
        response: { 200: { type: 'string' } },
      },
    },
    async (_req, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    },
  )
}

/** A check that throws or takes longer than CHECK_TIMEOUT_MS counts as down. */
async function settle(check: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS)
  })

  try {
    return await Promise.race([check().catch(() => false), late])
  } finally {
    clearTimeout(timer)
  }
}
