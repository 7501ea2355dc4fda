import { z } from 'zod'

/**
 * The catalogue of environment variables: one entry each, with its default,
 * unit and meaning. The README's configuration table is checked against this
 * list by test/config.test.ts.
 */
interface Spec<S extends z.ZodType> {
  schema: S
  /** Raw default as it would appear in the environment; undefined = unset. */
  default: string | undefined
  unit: string
  /** What a valid value looks like, for error messages. */
  expect: string
  doc: string
  /** Never echoed in error messages (tokens, passwords). */
  secret?: boolean
}

function spec<S extends z.ZodType>(s: Spec<S>): Spec<S> {
  return s
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')

const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()))
  .pipe(z.array(z.string().min(1)).min(1))

const url = (protocols: RegExp) =>
  z.string().refine((v) => URL.canParse(v) && protocols.test(new URL(v).protocol), {
    message: 'not a URL with an accepted scheme',
  })

const optionalUrl = (protocols: RegExp) => url(protocols).optional()

const isoInstant = z
  .string()
  .refine((v) => /Z$|[+-]\d\d:\d\d$/.test(v) && !Number.isNaN(Date.parse(v)), {
    message: 'not an ISO 8601 instant with a zone',
  })

/** `name:token,name2:token2` → [{ name, token }], names unique. */
const apiTokens = list
  .pipe(
    z.array(
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}:[\x21-\x7e]{16,256}$/)
        .transform((p) => {
          const at = p.indexOf(':')
          return { name: p.slice(0, at), token: p.slice(at + 1) }
        }),
    ),
  )
  .refine((ts) => new Set(ts.map((t) => t.name)).size === ts.length, {
    message: 'token names must be unique',
  })

export const VARIABLES = {
  LOG_LEVEL: spec({
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    unit: 'pino level',
    expect: 'must be one of fatal, error, warn, info, debug, trace, silent',
    doc: 'Log level of every component.',
  }),
  DATABASE_URL: spec({
    schema: optionalUrl(/^postgres(ql)?:$/),
    default: undefined,
    unit: 'URL',
    expect: 'must be a postgres:// URL',
    doc: 'Postgres for history and dead letters. Required by the bridge and API.',
  }),
  PG_SCHEMA: spec({
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/),
    default: 'public',
    unit: 'identifier',
    expect: 'must be a lowercase SQL identifier',
    doc: 'Schema holding the telemetry tables and the migration log.',
  }),
  PG_POOL_SIZE: spec({
    schema: int(2, 100),
    default: '4',
    unit: 'connections',
    expect: 'must be an integer from 2 to 100',
    doc: 'Connections in the bridge and API pool.',
  }),
  REDIS_URL: spec({
    schema: optionalUrl(/^rediss?:$/),
    default: undefined,
    unit: 'URL',
    expect: 'must be a redis:// or rediss:// URL',
    doc: 'Redis for last values. Required by the bridge and API.',
  }),
  REDIS_KEY_PREFIX: spec({
    schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
    default: 'tlm',
    unit: 'string',
    expect: 'must be 1-64 characters of letters, digits, _ . : -',
    doc: 'Prefix of every Redis key the bridge writes.',
  }),
  MQTT_HOST: spec({
    schema: z.string().min(1),
    default: '0.0.0.0',
    unit: 'address',
    expect: 'must be a host or address',
    doc: 'Address the broker listens on.',
  }),
  MQTT_PORT: spec({
    schema: int(0, 65535),
    default: '1883',
    unit: 'port',
    expect: 'must be an integer from 0 to 65535',
    doc: 'TCP port of the broker (0 picks a free one).',
  }),
  BROKER_ALLOW_ANONYMOUS: spec({
    schema: flag,
    default: 'false',
    unit: 'boolean',
    expect: 'must be true or false',
    doc: 'Let clients connect without credentials. For local demos only.',
  }),
  BROKER_ACK_AFTER_COMMIT: spec({
    schema: flag,
    default: 'false',
    unit: 'boolean',
    expect: 'must be true, false, 1 or 0',
    doc: "With `all`: hold each device's QoS 1 PUBACK until its readings are durable (committed or spooled).",
  }),
  BRIDGE_MQTT_URL: spec({
    schema: url(/^(mqtts?|tcp|tls|wss?):$/),
    default: 'mqtt://127.0.0.1:1883',
    unit: 'URL',
    expect: 'must be an mqtt://, mqtts://, ws:// or wss:// URL',
    doc: 'Broker the bridge subscribes to (this one or any MQTT 3.1.1/5 broker).',
  }),
  BRIDGE_CLIENT_ID: spec({
    schema: z.string().min(1).max(64),
    default: 'telemetry-bridge',
    unit: 'string',
    expect: 'must be 1-64 characters',
    doc: 'Stable MQTT client id of the bridge, so its persistent session survives reconnects.',
  }),
  BRIDGE_MQTT_USERNAME: spec({
    schema: z.string().optional(),
    default: undefined,
    unit: 'string',
    expect: 'must be a string',
    doc: 'Username the bridge presents to the broker.',
  }),
  BRIDGE_MQTT_PASSWORD: spec({
    schema: z.string().optional(),
    default: undefined,
    unit: 'string',
    expect: 'must be a string',
    doc: 'Password the bridge presents to the broker. Never logged.',
  }),
  TOPIC_PATTERNS: spec({
    schema: list,
    default: 'devices/{device}/telemetry,devices/{device}/telemetry/{metric}',
    unit: 'comma list',
    expect: 'must be a comma-separated list of topic patterns',
    doc: 'Telemetry topics with `{device}` and optional `{metric}` levels; see docs/data-contract.md.',
  }),
  TIMESTAMP_FIELDS: spec({
    schema: list,
    default: 'ts',
    unit: 'comma list',
    expect: 'must be a comma-separated list of field names',
    doc: 'Payload fields read as the reading timestamp, first match wins.',
  }),
  TS_MIN: spec({
    schema: isoInstant,
    default: '2000-01-01T00:00:00Z',
    unit: 'ISO 8601',
    expect: 'must be an ISO 8601 instant with Z or an offset',
    doc: 'Readings older than this are rejected (`ts_too_old`).',
  }),
  TS_MAX_FUTURE_MS: spec({
    schema: int(0, 31_536_000_000),
    default: '300000',
    unit: 'ms',
    expect: 'must be an integer number of milliseconds',
    doc: 'Readings further ahead of receive time than this are rejected (`ts_in_future`).',
  }),
  MAX_PAYLOAD_BYTES: spec({
    schema: int(16, 268_435_455),
    default: '262144',
    unit: 'bytes',
    expect: 'must be an integer from 16 to 268435455',
    doc: 'Larger payloads are rejected (`payload_too_large`).',
  }),
  MAX_READINGS_PER_MESSAGE: spec({
    schema: int(1, 100_000),
    default: '1000',
    unit: 'readings',
    expect: 'must be an integer from 1 to 100000',
    doc: 'Entries of a JSON array payload (`too_many_readings`).',
  }),
  MAX_METRICS_PER_READING: spec({
    schema: int(1, 100_000),
    default: '256',
    unit: 'metrics',
    expect: 'must be an integer from 1 to 100000',
    doc: 'Metrics in one reading after flattening (`too_many_metrics`).',
  }),
  MAX_METRIC_NAME_LENGTH: spec({
    schema: int(1, 1024),
    default: '128',
    unit: 'characters',
    expect: 'must be an integer from 1 to 1024',
    doc: 'Longest metric name, dotted path included (`metric_name_invalid`).',
  }),
  MAX_DEVICE_ID_LENGTH: spec({
    schema: int(1, 256),
    default: '128',
    unit: 'characters',
    expect: 'must be an integer from 1 to 256',
    doc: 'Longest device id (`device_id_invalid`).',
  }),
  MAX_STRING_BYTES: spec({
    schema: int(1, 1_048_576),
    default: '4096',
    unit: 'bytes (UTF-8)',
    expect: 'must be an integer from 1 to 1048576',
    doc: 'Longest string or JSON value (`value_too_long`).',
  }),
  MAX_NESTING_DEPTH: spec({
    schema: int(1, 32),
    default: '4',
    unit: 'levels',
    expect: 'must be an integer from 1 to 32',
    doc: 'Nested objects flatten to dotted names up to this depth (`too_deep`).',
  }),
  DEAD_LETTER_PAYLOAD_BYTES: spec({
    schema: int(0, 1_048_576),
    default: '4096',
    unit: 'bytes',
    expect: 'must be an integer from 0 to 1048576',
    doc: 'Raw payload bytes kept with each dead letter.',
  }),
  BATCH_MAX_ROWS: spec({
    schema: int(1, 1_000_000),
    default: '5000',
    unit: 'rows',
    expect: 'must be an integer from 1 to 1000000',
    doc: 'A batch is written when it holds this many readings.',
  }),
  BATCH_MAX_AGE_MS: spec({
    schema: int(1, 60_000),
    default: '200',
    unit: 'ms',
    expect: 'must be an integer from 1 to 60000',
    doc: 'A batch is written when its oldest reading has waited this long.',
  }),
  BUFFER_MAX_MESSAGES: spec({
    // Unacknowledged messages share the MQTT packet id space (65,535).
    schema: int(1, 30_000),
    default: '20000',
    unit: 'messages',
    expect: 'must be an integer from 1 to 30000',
    doc: 'Messages held in memory before batches spill to the spool.',
  }),
  BUFFER_MAX_BYTES: spec({
    schema: int(1024, 4_294_967_296),
    default: '67108864',
    unit: 'bytes',
    expect: 'must be an integer from 1024 to 4294967296',
    doc: 'Payload bytes held in memory before batches spill to the spool.',
  }),
  SPOOL_DIR: spec({
    schema: z.string().min(1),
    default: 'spool',
    unit: 'path',
    expect: 'must be a directory path',
    doc: 'Local directory for batches Postgres could not take yet (relative to the working directory).',
  }),
  SPOOL_MAX_BYTES: spec({
    schema: int(0, 1_099_511_627_776),
    default: '1073741824',
    unit: 'bytes',
    expect: 'must be an integer from 0 to 1099511627776',
    doc: 'Spool size at which the bridge stops reading from the broker; 0 disables spilling.',
  }),
  PARTITION_INTERVAL: spec({
    schema: z.enum(['hour', 'day', 'week', 'month']),
    default: 'day',
    unit: 'hour, day, week, month',
    expect: 'must be one of hour, day, week, month',
    doc: 'Span of one telemetry partition, aligned in UTC (weeks start on Monday).',
  }),
  PARTITION_PREMAKE: spec({
    schema: int(1, 400),
    default: '3',
    unit: 'partitions',
    expect: 'must be an integer from 1 to 400',
    doc: 'Partitions kept ready ahead of the current one.',
  }),
  RETENTION_DAYS: spec({
    schema: int(0, 36_500),
    default: '0',
    unit: 'days',
    expect: 'must be an integer from 0 to 36500',
    doc: 'Partitions wholly older than this are dropped; 0 keeps everything.',
  }),
  HTTP_HOST: spec({
    schema: z.string().min(1),
    default: '0.0.0.0',
    unit: 'address',
    expect: 'must be a host or address',
    doc: 'Address the HTTP API listens on.',
  }),
  HTTP_PORT: spec({
    schema: int(0, 65535),
    default: '8080',
    unit: 'port',
    expect: 'must be an integer from 0 to 65535',
    doc: 'Port of the HTTP API (0 picks a free one).',
  }),
  SHUTDOWN_TIMEOUT_MS: spec({
    schema: int(100, 600_000),
    default: '10000',
    unit: 'ms',
    expect: 'must be an integer from 100 to 600000',
    doc: 'On SIGTERM, the time allowed to flush before the process exits anyway.',
  }),
  BROKER_PERSISTENCE: spec({
    schema: z.enum(['memory', 'redis']),
    default: 'memory',
    unit: 'memory, redis',
    expect: 'must be one of memory, redis',
    doc: 'Sessions, subscriptions, queued and retained messages: memory (lost on restart), redis.',
  }),
  BROKER_EMITTER: spec({
    schema: z.enum(['memory', 'redis']),
    default: 'memory',
    unit: 'memory, redis',
    expect: 'must be one of memory, redis',
    doc: 'redis (pub/sub) lets several broker processes act as one; needs redis persistence.',
  }),
  BROKER_REDIS_URL: spec({
    schema: optionalUrl(/^rediss?:$/),
    default: undefined,
    unit: 'URL',
    expect: 'must be a redis:// or rediss:// URL',
    doc: 'Redis for broker persistence and emitter; unset means REDIS_URL.',
  }),
  BROKER_REDIS_KEY_PREFIX: spec({
    schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
    default: 'tlm:broker:',
    unit: 'string',
    expect: 'must be 1-64 characters of letters, digits, _ . : -',
    doc: 'Prefix of every Redis key the broker writes (pub/sub channels get none).',
  }),
  BROKER_OFFLINE_QUEUE_MAX: spec({
    schema: int(1, 10_000_000),
    default: '100000',
    unit: 'messages',
    expect: 'must be an integer from 1 to 10000000',
    doc: 'Messages queued for one disconnected persistent subscriber; newer ones are dropped.',
  }),
  API_AUTH: spec({
    schema: z.enum(['bearer', 'none']),
    default: 'bearer',
    unit: 'mode',
    expect: 'must be bearer or none',
    doc: '`bearer`: `/v1` needs a token from `API_TOKENS`; `none`: open (local use only).',
  }),
  API_TOKENS: spec({
    schema: apiTokens.optional(),
    default: undefined,
    unit: 'name:token list',
    expect: 'must be comma-separated name:token pairs, unique names, tokens of 16+ characters',
    doc: 'Bearer tokens the API accepts, `name:token,…` (tokens of 16+ characters). Never logged.',
    secret: true,
  }),
  METRICS_AUTH: spec({
    schema: z.enum(['bearer', 'none']),
    default: 'none',
    unit: 'mode',
    expect: 'must be bearer or none',
    doc: 'Whether `GET /metrics` needs an API token too.',
  }),
  API_PG_POOL_SIZE: spec({
    schema: int(1, 100),
    default: '4',
    unit: 'connections',
    expect: 'must be an integer from 1 to 100',
    doc: "Connections of the API's own pool (history, reads while Redis is away).",
  }),
  HISTORY_MAX_ROWS: spec({
    schema: int(1, 1_000_000),
    default: '10000',
    unit: 'rows',
    expect: 'must be an integer from 1 to 1000000',
    doc: 'Largest `limit` of a history request (points or buckets per response).',
  }),
  REDIS_COMMAND_TIMEOUT_MS: spec({
    schema: int(10, 60_000),
    default: '1000',
    unit: 'ms',
    expect: 'must be an integer from 10 to 60000',
    doc: 'A last-value write Redis leaves unanswered this long fails (a rebuild repairs it).',
  }),
  API_REDIS_TIMEOUT_MS: spec({
    schema: int(10, 60_000),
    default: '250',
    unit: 'ms',
    expect: 'must be an integer from 10 to 60000',
    doc: 'A latest read Redis leaves unanswered this long goes to Postgres instead.',
  }),
  LAST_VALUES_CHECK_MS: spec({
    schema: int(100, 3_600_000),
    default: '5000',
    unit: 'ms',
    expect: 'must be an integer from 100 to 3600000',
    doc: 'How often the bridge checks that Redis holds complete last values (else rebuilds).',
  }),
  BROKER_LISTENERS: spec({
    schema: list.pipe(z.array(z.enum(['tcp', 'tls', 'ws']))),
    default: 'tcp',
    unit: 'comma list',
    expect: 'must be a comma-separated list of tcp, tls, ws',
    doc: 'Listeners to open: `tcp` (`MQTT_PORT`), `tls` (`BROKER_TLS_PORT`), `ws` (`BROKER_WS_PORT`).',
  }),
  BROKER_TLS_PORT: spec({
    schema: int(0, 65535),
    default: '8883',
    unit: 'port',
    expect: 'must be an integer from 0 to 65535',
    doc: 'Port of the MQTT over TLS listener.',
  }),
  BROKER_TLS_CERT_FILE: spec({
    schema: z.string().min(1).optional(),
    default: undefined,
    unit: 'path',
    expect: 'must be a file path',
    doc: 'PEM certificate (chain) of the TLS listener. Required with `tls`.',
  }),
  BROKER_TLS_KEY_FILE: spec({
    schema: z.string().min(1).optional(),
    default: undefined,
    unit: 'path',
    expect: 'must be a file path',
    doc: 'PEM private key of the TLS listener. Required with `tls`.',
  }),
  BROKER_WS_PORT: spec({
    schema: int(0, 65535),
    default: '8083',
    unit: 'port',
    expect: 'must be an integer from 0 to 65535',
    doc: 'Port of the MQTT over WebSocket listener (any path, subprotocol `mqtt`).',
  }),
  BROKER_COMMAND_TOPIC: spec({
    schema: z.string().min(1),
    default: 'devices/{device}/commands',
    unit: 'topic',
    expect: 'must be a topic with one {device} level',
    doc: "Root of each device's command topics: a device may subscribe here and below, services publish.",
  }),
  BROKER_MAX_PACKET_BYTES: spec({
    schema: int(64, 268_435_455),
    default: '266240',
    unit: 'bytes',
    expect: 'must be an integer from 64 to 268435455',
    doc: 'Largest MQTT packet; refused when its header arrives, before the body is read.',
  }),
  BROKER_MAX_CONNECTIONS: spec({
    schema: int(0, 10_000_000),
    default: '10000',
    unit: 'connections',
    expect: 'must be a non-negative integer',
    doc: 'Open connections on all listeners together (0 = no limit).',
  }),
  BROKER_CONNECTS_PER_MIN: spec({
    schema: int(0, 10_000_000),
    default: '1200',
    unit: 'per minute',
    expect: 'must be a non-negative integer',
    doc: 'New connections one address may open per minute, as a burst (0 = no limit).',
  }),
  BROKER_AUTH_FAILS_PER_MIN: spec({
    schema: int(0, 10_000_000),
    default: '30',
    unit: 'per minute',
    expect: 'must be a non-negative integer',
    doc: 'Failed logins per address per minute before its connections are refused (0 = no limit).',
  }),
  BROKER_MAX_TOPIC_BYTES: spec({
    schema: int(16, 65_535),
    default: '256',
    unit: 'bytes (UTF-8)',
    expect: 'must be an integer from 16 to 65535',
    doc: 'Longest topic or filter a client may use.',
  }),
  BROKER_MAX_TOPIC_LEVELS: spec({
    schema: int(1, 100),
    default: '8',
    unit: 'levels',
    expect: 'must be an integer from 1 to 100',
    doc: 'Most levels in a topic or filter.',
  }),
  BROKER_MAX_KEEPALIVE_S: spec({
    schema: int(1, 65_535),
    default: '600',
    unit: 's',
    expect: 'must be an integer from 1 to 65535',
    doc: 'Longest keepalive a client may ask for; 0 (no keepalive) is refused too.',
  }),
  BROKER_CONNECT_TIMEOUT_MS: spec({
    schema: int(100, 600_000),
    default: '10000',
    unit: 'ms',
    expect: 'must be an integer from 100 to 600000',
    doc: 'Time a new connection has to send CONNECT.',
  }),
  BROKER_METRICS_PORT: spec({
    schema: int(0, 65535).optional(),
    default: undefined,
    unit: 'port',
    expect: 'must be an integer from 0 to 65535',
    doc: 'When set, the broker serves `GET /metrics` (its counters, process metrics) here.',
  }),
} as const

export type VariableName = keyof typeof VARIABLES
