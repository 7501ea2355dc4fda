-- Up Migration
-- Broker identities (issue #8): devices and service accounts. The secret is
-- kept only as a scrypt hash (broker/secrets.ts); it is never stored or
-- logged in the clear.
CREATE TABLE device_credentials (
  id           text        PRIMARY KEY,
  role         text        NOT NULL DEFAULT 'device' CHECK (role IN ('device', 'service')),
  secret_hash  text        NOT NULL,
  enabled      boolean     NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz
);

-- Down Migration
DROP TABLE device_credentials;
