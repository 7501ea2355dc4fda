-- Up Migration

-- One row per (device, metric, instant). Exactly one v_* column is set; which
-- one is the value's kind (see bridge/reading.ts). Strings go to v_text, or
-- to v_bytes as UTF-8 when they contain U+0000, which text cannot hold.
CREATE TABLE telemetry (
  device_id text NOT NULL,
  metric text NOT NULL,
  ts timestamptz NOT NULL,
  v_float double precision,
  v_int bigint,
  v_numeric numeric,
  v_bool boolean,
  v_text text,
  v_bytes bytea,
  v_json jsonb,
  CONSTRAINT telemetry_pkey PRIMARY KEY (device_id, metric, ts),
  CONSTRAINT telemetry_one_value CHECK (
    num_nonnulls(v_float, v_int, v_numeric, v_bool, v_text, v_bytes, v_json) = 1
  )
);

-- Messages and readings the bridge refused, with the reason. payload is the
-- raw bytes as received, capped by the bridge.
CREATE TABLE dead_letters (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at timestamptz NOT NULL,
  topic text NOT NULL,
  payload bytea NOT NULL,
  payload_bytes integer NOT NULL,
  reason text NOT NULL,
  detail text NOT NULL,
  device_id text,
  metric text,
  sqlstate text
);

CREATE INDEX dead_letters_received_at ON dead_letters (received_at);

-- Down Migration

DROP TABLE dead_letters;
DROP TABLE telemetry;
