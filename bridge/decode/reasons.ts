/**
 * Why a message or reading was refused. Each code is a counter label, a
 * dead-letter `reason` and a row of docs/data-contract.md.
 */
export const REJECT_REASONS = {
  topic_unmatched: 'the topic matches no configured pattern',
  device_id_invalid: 'the device id is empty, too long or has forbidden characters',
  payload_empty: 'zero-length payload (for example a cleared retained message)',
  payload_too_large: 'the payload is larger than MAX_PAYLOAD_BYTES',
  invalid_utf8: 'the payload is not valid UTF-8',
  invalid_json: 'the payload is not JSON (or, on a per-metric topic, not a value)',
  non_finite_number: 'NaN or Infinity written where JSON allows only finite numbers',
  not_an_object: 'a whole-device topic carried something other than an object or array of objects',
  empty_reading: 'a reading with no metrics',
  too_many_readings: 'an array payload longer than MAX_READINGS_PER_MESSAGE',
  too_many_metrics: 'a reading with more than MAX_METRICS_PER_READING metrics',
  too_deep: 'an object nested deeper than MAX_NESTING_DEPTH, or a JSON value deeper than 64',
  metric_name_invalid: 'a metric name that is empty, too long or has control characters',
  null_value: 'a metric whose value is null',
  number_out_of_range: 'a number beyond what Postgres numeric can hold',
  value_too_long: 'a string or JSON value longer than MAX_STRING_BYTES',
  invalid_unicode: 'a string with an unpaired surrogate, which UTF-8 cannot carry',
  json_nul: 'a JSON value containing U+0000, which jsonb cannot hold',
  ts_invalid: 'a timestamp that is neither epoch digits nor ISO 8601',
  ts_too_old: 'a timestamp older than TS_MIN',
  ts_in_future: 'a timestamp further ahead than TS_MAX_FUTURE_MS',
  db_rejected: 'Postgres refused the row (the dead letter holds the SQLSTATE)',
  decoder_failed: 'the decoder threw (a bug): the message is kept whole as a dead letter',
} as const

export type RejectReason = keyof typeof REJECT_REASONS

/** A refusal of one reading or metric inside an otherwise usable message. */
export interface ReadingReject {
  reason: RejectReason
  detail: string
  metric?: string
}
