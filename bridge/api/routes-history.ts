import type { FastifyInstance, FastifyReply } from 'fastify'
import type pg from 'pg'
import { TelemetryError } from '../../common/errors.js'
import { isoUs } from '../decode/index.js'
import type { Aggregate, HistoryQuery, Point } from './history-sql.js'
import { AGGREGATES, bucketHistory, deviceKnown, rawHistory } from './history-sql.js'
import { deviceParams, errorBody, errors, isoTime, metricParams, typedValue } from './schemas.js'

const DAY_MS = 86_400_000
const DEFAULT_LIMIT = 1000
const UNITS = { s: 'seconds', m: 'minutes', h: 'hours', d: 'days' } as const

interface Query {
  metric: string
  from?: string
  to?: string
  bucket?: string
  agg?: Aggregate
  limit?: number
}

function querySchema(maxRows: number) {
  return {
    type: 'object',
    required: ['metric'],
    properties: {
      metric: metricParams.properties.metric,
      from: { ...isoTime, description: 'inclusive; default `to` minus 24 h' },
      to: { ...isoTime, description: 'exclusive; default now' },
      bucket: {
        type: 'string',
        pattern: '^[1-9][0-9]{0,5}[smhd]$',
        description: 'bucket width, e.g. 30s, 5m, 1h, 1d; needs agg',
      },
      agg: { type: 'string', enum: AGGREGATES, description: 'per-bucket aggregate; needs bucket' },
      limit: {
        type: 'integer',
        minimum: 1,
        maximum: maxRows,
        description: `points per response, default ${Math.min(DEFAULT_LIMIT, maxRows)}`,
      },
    },
  } as const
}

const historyBody = {
  type: 'object',
  required: ['device', 'metric', 'from', 'to', 'bucket', 'agg', 'points', 'next'],
  properties: {
    device: { type: 'string' },
    metric: { type: 'string' },
    from: isoTime,
    to: isoTime,
    bucket: { type: ['string', 'null'] },
    agg: { type: ['string', 'null'], enum: [...AGGREGATES, null] },
    points: {
      type: 'array',
      description: 'oldest first; with agg, ts is the start of the bucket',
      items: typedValue,
    },
    next: {
      ...isoTime,
      type: ['string', 'null'],
      description: 'when more points exist: pass it as `from` for the next page',
    },
  },
} as const

/**
 * A device's readings of one metric from Postgres: raw, or per time bucket
 * (min, max, avg, sum over numeric readings; count of all; last value of
 * any type). Bodies are exact JSON text, like latest values.
 */
export function historyRoutes(app: FastifyInstance, pool: pg.Pool, maxRows: number): void {
  app.get<{ Params: { id: string }; Querystring: Query }>(
    '/devices/:id/history',
    {
      schema: {
        summary: "a device's readings of one metric over time, raw or aggregated",
        params: deviceParams,
        querystring: querySchema(maxRows),
        response: {
          200: historyBody,
          404: { description: 'no readings at all for this device', ...errorBody },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const q = req.query
      const toUs = q.to ? instantUs(q.to) : Date.now() * 1000
      const fromUs = q.from ? instantUs(q.from) : toUs - DAY_MS * 1000
      const [from, to] = [isoUs(fromUs), isoUs(toUs)]

      if (fromUs >= toUs) return badRequest(reply, 'querystring/from must be before to')
      if (q.agg && !q.bucket) return badRequest(reply, 'querystring/bucket is required with agg')
      if (q.bucket && !q.agg) return badRequest(reply, 'querystring/agg is required with bucket')

      const limit = q.limit ?? Math.min(DEFAULT_LIMIT, maxRows)
      // One row more than asked tells whether there is a next page.
      const hq: HistoryQuery = {
        device: req.params.id,
        metric: q.metric,
        from,
        to,
        limit: limit + 1,
      }
      const points = await query(pool, hq, q.bucket, q.agg)

      if (points.length === 0 && !(await deviceKnown(pool, hq.device).catch(unavailable))) {
        reply.code(404)
        return {
          error: 'device_not_found',
          message: `no readings for device ${JSON.stringify(hq.device)}`,
        }
      }

      const next = points.length > limit ? points[limit] : undefined
      reply.type('application/json; charset=utf-8')
      return body(hq, q, points.slice(0, limit), next)
    },
  )
}

async function query(pool: pg.Pool, hq: HistoryQuery, bucket?: string, agg?: Aggregate) {
  const run = bucket && agg ? bucketHistory(pool, hq, interval(bucket), agg) : rawHistory(pool, hq)
  return run.catch(unavailable)
}

function unavailable(err: unknown): never {
  throw new TelemetryError('STORE_UNAVAILABLE', 'Postgres did not answer the history query', {
    cause: err,
  })
}

/**
 * Microseconds of an ISO 8601 instant with any offset; Date.parse alone
 * would drop digits 4–6 of the fraction, and `next` has them.
 */
function instantUs(iso: string): number {
  const fraction = /[.,](\d+)/.exec(iso)?.[1] ?? ''
  return Date.parse(iso) * 1000 + Number(fraction.slice(3, 6).padEnd(3, '0'))
}

function interval(bucket: string): string {
  const unit = bucket.at(-1) as keyof typeof UNITS
  return `${bucket.slice(0, -1)} ${UNITS[unit]}`
}

function badRequest(reply: FastifyReply, message: string) {
  reply.code(400)
  return { error: 'bad_request', message }
}

function body(hq: HistoryQuery, q: Query, points: Point[], next: Point | undefined): string {
  const items = points.map((p) => `{"ts":"${isoUs(p.tsUs)}","type":"${p.kind}","value":${p.json}}`)
  const head = {
    device: hq.device,
    metric: hq.metric,
    from: hq.from,
    to: hq.to,
    bucket: q.bucket ?? null,
    agg: q.agg ?? null,
  }

  const tail = next ? `"${isoUs(next.tsUs)}"` : 'null'
  return `${JSON.stringify(head).slice(0, -1)},"points":[${items.join(',')}],"next":${tail}}`
}
