/**
 * JSON schemas shared by the routes. They validate requests, shape the
 * responses fastify serializes, and are the source of the OpenAPI document.
 * Bodies built as exact JSON text (latest values, history) are described
 * here but sent as written, so a 20-digit integer keeps every digit.
 */

export const VALUE_TYPES = ['float', 'int', 'numeric', 'bool', 'string', 'json'] as const

/** Ids and metric names never hold control characters (docs/data-contract.md). */
export const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]+$'

export const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'stable code, e.g. device_not_found' },
    message: { type: 'string' },
  },
} as const

export const deviceParams = {
  type: 'object',
  required: ['id'],
  properties: {
    // A device id may be 256 characters; percent-encode it in the path.
    id: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      pattern: NO_CONTROL,
      description: 'device id, URL-encoded',
    },
  },
} as const

export const metricParams = {
  type: 'object',
  required: ['id', 'metric'],
  properties: {
    ...deviceParams.properties,
    metric: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      pattern: NO_CONTROL,
      description: 'metric, URL-encoded',
    },
  },
} as const

const isoTime = {
  type: 'string',
  format: 'date-time',
  description: 'ISO 8601 UTC with microseconds and Z',
} as const

export const typedValue = {
  type: 'object',
  required: ['type', 'ts', 'value'],
  properties: {
    type: { type: 'string', enum: VALUE_TYPES },
    ts: isoTime,
    value: {
      description:
        'number, string, boolean or JSON array/object as sent; integers beyond 2^53 keep every digit',
    },
  },
} as const

export const latestBody = {
  type: 'object',
  required: ['device', 'metrics'],
  properties: {
    device: { type: 'string' },
    metrics: { type: 'object', additionalProperties: typedValue },
  },
} as const

export const metricLatestBody = {
  type: 'object',
  required: ['device', 'metric', 'type', 'ts', 'value'],
  properties: {
    device: { type: 'string' },
    metric: { type: 'string' },
    ...typedValue.properties,
  },
} as const

export const errors = {
  400: { description: 'a query or path parameter is invalid; the message names it', ...errorBody },
  401: { description: 'missing or invalid bearer token', ...errorBody },
  503: {
    description: 'the store that answers is unavailable; retry after Retry-After s',
    ...errorBody,
  },
} as const

export { isoTime }
