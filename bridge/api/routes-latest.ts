import type { FastifyInstance } from 'fastify'
import { isoUs } from '../decode/index.js'
import type { LastValue } from '../store/last-values.js'
import type { LatestReader, Source } from './latest-reader.js'
import {
  deviceParams,
  errorBody,
  errors,
  latestBody,
  metricLatestBody,
  metricParams,
} from './schemas.js'

/** Which store answered: `redis`, or `postgres` while Redis is away or rebuilding. */
const SOURCE_HEADER = 'x-telemetry-source'
const JSON_UTF8 = 'application/json; charset=utf-8'

export function latestRoutes(app: FastifyInstance, reader: LatestReader): void {
  app.get<{ Params: { id: string } }>(
    '/devices/:id/latest',
    {
      schema: {
        summary: "a device's newest value of every metric",
        description: 'Newest means newest timestamp, never last arrival.',
        params: deviceParams,
        response: {
          200: latestBody,
          404: { description: 'no readings for this device', ...errorBody },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { value, source } = await reader.device(req.params.id)
      reply.header(SOURCE_HEADER, source)

      if (!value) {
        const what = `no readings for device ${JSON.stringify(req.params.id)}`
        return notFound(reply, 'device_not_found', what)
      }

      reply.type(JSON_UTF8)
      return deviceBody(req.params.id, value)
    },
  )

  app.get<{ Params: { id: string; metric: string } }>(
    '/devices/:id/latest/:metric',
    {
      schema: {
        summary: "a device's newest value of one metric",
        params: metricParams,
        response: {
          200: metricLatestBody,
          404: { description: 'no readings of this metric for this device', ...errorBody },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { id, metric } = req.params
      const { value, source }: { value: LastValue | undefined; source: Source } =
        await reader.metric(id, metric)
      reply.header(SOURCE_HEADER, source)

      if (!value) {
        const what = `no readings of ${JSON.stringify(metric)} for device ${JSON.stringify(id)}`
        return notFound(reply, 'metric_not_found', what)
      }

      reply.type(JSON_UTF8)
      return `{"device":${JSON.stringify(id)},"metric":${JSON.stringify(metric)},${typed(value)}}`
    },
  )
}

function notFound(reply: { code(n: number): unknown }, error: string, message: string) {
  reply.code(404)
  return { error, message }
}

/** `"type":…,"ts":…,"value":…` with the value spliced in as stored. */
function typed(v: LastValue): string {
  return `"type":"${v.kind}","ts":"${isoUs(v.tsUs)}","value":${v.json}`
}

function deviceBody(device: string, latest: Map<string, LastValue>): string {
  const metrics = [...latest]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, v]) => `${JSON.stringify(name)}:{${typed(v)}}`)

  return `{"device":${JSON.stringify(device)},"metrics":{${metrics.join(',')}}}`
}
