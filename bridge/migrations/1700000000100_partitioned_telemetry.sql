-- Up Migration

-- telemetry becomes partitioned by time. Partitions are made and dropped by
-- bridge/store/partitions.ts (ahead of need, and by retention); the default
-- partition catches any reading no partition covers yet, so such a reading
-- never fails its batch. Maintenance moves those rows into their own
-- partition later, or deletes them once they are older than retention.
ALTER TABLE telemetry RENAME TO telemetry_unpartitioned;
ALTER TABLE telemetry_unpartitioned RENAME CONSTRAINT telemetry_pkey TO telemetry_unpartitioned_pkey;
ALTER TABLE telemetry_unpartitioned RENAME CONSTRAINT telemetry_one_value TO telemetry_unpartitioned_one_value;

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
  -- Serves "one device, one metric, a time range" and, scanned backwards,
  -- "latest of a device's metric". It also makes writes idempotent.
  CONSTRAINT telemetry_pkey PRIMARY KEY (device_id, metric, ts),
  CONSTRAINT telemetry_one_value CHECK (
    num_nonnulls(v_float, v_int, v_numeric, v_bool, v_text, v_bytes, v_json) = 1
  )
) PARTITION BY RANGE (ts);

CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;

INSERT INTO telemetry SELECT * FROM telemetry_unpartitioned;
DROP TABLE telemetry_unpartitioned;

-- Down Migration

ALTER TABLE telemetry RENAME TO telemetry_partitioned;
ALTER TABLE telemetry_partitioned RENAME CONSTRAINT telemetry_pkey TO telemetry_partitioned_pkey;
CREATE TABLE telemetry (LIKE telemetry_partitioned INCLUDING ALL);
INSERT INTO telemetry SELECT * FROM telemetry_partitioned;
DROP TABLE telemetry_partitioned;
