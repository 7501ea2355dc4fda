/**
 * Every reason the broker refuses a connection, a packet or a subscription.
 * Each is a label of broker_refusals_total; README's Security section lists them.
 */
export const REFUSAL_REASONS = {
  anonymous: 'no credentials and anonymous access is off',
  credentials_missing: 'a username without a password, or an empty one',
  credentials_malformed: 'username not a valid id, or password too long or not UTF-8',
  client_id_invalid: 'client id empty, too long or with forbidden characters',
  client_id_mismatch: 'client id differs from the authenticated username',
  unknown_account: 'no such device or service account',
  secret_wrong: 'the secret does not match',
  account_disabled: 'the account is disabled',
  registry_unavailable: 'the registry could not be read (CONNACK 3)',
  auth_busy: 'too many secret checks waiting (CONNACK 3)',
  keepalive_invalid: 'keepalive 0 or above BROKER_MAX_KEEPALIVE_S',
  max_connections: 'BROKER_MAX_CONNECTIONS reached',
  connect_rate: 'the address exceeded BROKER_CONNECTS_PER_MIN',
  auth_failure_rate: 'the address exceeded BROKER_AUTH_FAILS_PER_MIN',
  packet_too_large: 'a packet header declared more than BROKER_MAX_PACKET_BYTES',
  first_packet_not_connect: 'the first packet was not CONNECT [MQTT-3.1.0-1]',
  malformed_packet: 'the packet could not be parsed',
  topic_invalid: 'topic with U+0000 or invalid UTF-8',
  topic_too_long: 'topic longer than BROKER_MAX_TOPIC_BYTES',
  topic_too_deep: 'topic with more levels than BROKER_MAX_TOPIC_LEVELS',
  publish_denied: 'publish outside the account own topics',
  subscribe_denied: 'filter that could match topics the account may not read',
  connection_error: 'closed on a parser or socket error: malformed frame, reset, keepalive timeout',
} as const

export type RefusalReason = keyof typeof REFUSAL_REASONS
