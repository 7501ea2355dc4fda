/**
 * A typed value as decoded from a device payload. The kind decides the
 * Postgres column, the Redis encoding and the JSON type over HTTP, so a
 * value keeps its type from payload to API.
 */
export type Value =
  /** A number that a float8 holds exactly as written (≤ 15 significant digits). */
  | { kind: 'float'; value: number }
  /** An integer in the int8 range. */
  | { kind: 'int'; value: bigint }
  /** A number a double would round: kept as its decimal text, stored as numeric. */
  | { kind: 'numeric'; value: string }
  | { kind: 'bool'; value: boolean }
  /** Any string, U+0000 included (stored as bytea when text cannot hold it). */
  | { kind: 'string'; value: string }
  /** A JSON array (or object on a per-metric topic), as compact JSON text. */
  | { kind: 'json'; value: string }

export type ValueKind = Value['kind']

/** One row of the telemetry table: a device's metric at an instant. */
export interface Reading {
  device: string
  metric: string
  /** Microseconds since the Unix epoch, UTC. */
  tsUs: number
  value: Value
}
