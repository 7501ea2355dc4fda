import type { FastifyInstance } from 'fastify'
import { TelemetryError } from '../../common/errors.js'
import { isoUs } from '../decode/index.js'
import type { LastValues } from '../store/last-values.js'
import { errors, isoTime } from './schemas.js'

const MAX_PAGE = 1000

const query = {
  type: 'object',
  properties: {
    seen_after: { ...isoTime, description: 'only devices last seen at or after this time' },
    seen_before: { ...isoTime, description: 'only devices last seen at or before this time' },
    offset: { type: 'integer', minimum: 0, maximum: 10_000_000, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
  },
  additionalProperties: false,
} as const

const page = {
  type: 'object',
  required: ['devices', 'total', 'offset', 'limit', 'next_offset'],
  properties: {
    devices: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'last_seen'],
        properties: { id: { type: 'string' }, last_seen: isoTime },
      },
    },
    total: { type: 'integer', description: 'devices in the window' },
    offset: { type: 'integer' },
    limit: { type: 'integer' },
    next_offset: {
      type: ['integer', 'null'],
      description: 'offset of the next page, null on the last',
    },
  },
} as const

interface Query {
  seen_after?: string
  seen_before?: string
  offset: number
  limit: number
}

/**
 * The fleet from Redis's last-seen index, newest first. Offsets are stable
 * only while no device in the window reports; a dashboard paging through a
 * live fleet may see a device twice or miss one.
 */
export function deviceRoutes(app: FastifyInstance, lastValues: LastValues): void {
  app.get<{ Querystring: Query }>(
    '/devices',
    {
      schema: {
        summary: 'devices by last-seen time, newest first, paged',
        querystring: query,
        response: { 200: page, ...errors },
      },
    },
    async (req) => {
      const q = req.query
      const minMs = q.seen_after ? Date.parse(q.seen_after) : Number.NEGATIVE_INFINITY
      const maxMs = q.seen_before ? Date.parse(q.seen_before) : Number.POSITIVE_INFINITY
      const found = await fleet(lastValues, minMs, maxMs, q.offset, q.limit)
      const end = q.offset + found.devices.length

      return {
        devices: found.devices.map((d) => ({ id: d.id, last_seen: isoUs(d.lastSeenMs * 1000) })),
        total: found.total,
        offset: q.offset,
        limit: q.limit,
        next_offset: end < found.total ? end : null,
      }
    },
  )
}

async function fleet(lastValues: LastValues, minMs: number, maxMs: number, o: number, l: number) {
  const unavailable = (why: string, cause?: unknown) =>
    new TelemetryError('STORE_UNAVAILABLE', `the fleet index is ${why}; retry shortly`, { cause })

  if (!lastValues.available) throw unavailable('unavailable (Redis is away)')

  const r = await lastValues
    .fleet(bound(minMs), bound(maxMs), o, l)
    .catch((err: unknown) => Promise.reject(unavailable('unavailable', err)))

  if (r.status !== 'found') throw unavailable('being rebuilt from Postgres')
  return r.value
}

function bound(ms: number): number | string {
  if (ms === Number.NEGATIVE_INFINITY) return '-inf'
  if (ms === Number.POSITIVE_INFINITY) return '+inf'
  return ms
}
