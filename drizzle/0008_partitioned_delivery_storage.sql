-- Delivery storage partitioned by time (docs/adr/0012-partitioned-delivery-storage.md).
-- webhook_events by range of id, webhook_deliveries by range of id (deliveryIdOf: the event's UUIDv7
-- time, then a hash of the event and the subscription), webhook_attempts by range of delivery_id: the
-- three partitions of a day hold one day's events, their deliveries and their attempts, and retention
-- drops them together. The tables as they were become each one "legacy" partition, FROM (MINVALUE) TO
-- the cutover, with their rows in place (no copy); rows whose id is not below the cutover (ids that are
-- no UUIDv7 of the past) move to the default partition. Re-runnable: it does nothing once partitioned.
--
-- The lowest UUIDv7 of a time: partition bounds (as uuidv7Floor in src/webhooks/deliveries/stats.ts).
CREATE OR REPLACE FUNCTION webhook_uuid_floor(ts timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '70008000000000000000')::uuid $$;
--> statement-breakpoint
-- The time of a UUIDv7 (its first 48 bits, ms since the epoch).
CREATE OR REPLACE FUNCTION webhook_uuid_time(id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT to_timestamp(('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0) $$;
--> statement-breakpoint
-- A UUIDv7 of a time, random in its other bits (rows made in SQL: the bench's fill, tests).
CREATE OR REPLACE FUNCTION webhook_uuidv7(ts timestamptz) RETURNS uuid
LANGUAGE sql VOLATILE STRICT PARALLEL SAFE AS $$
  SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7' || substr(h, 1, 3)
    || to_hex(8 | (('x' || substr(h, 4, 1))::bit(4)::int & 3)) || substr(h, 5, 15))::uuid
  FROM (SELECT md5(random()::text) AS h) r $$;
--> statement-breakpoint
-- A delivery's id, as deliveryIdOf makes it (src/webhooks/deliveries/delivery-id.ts): the event's
-- UUIDv7 time (48 bits), version 7, then 74 bits of SHA-256 of '<event id>:<subscription id>'.
CREATE OR REPLACE FUNCTION webhook_delivery_id(event_id uuid, subscription_id uuid) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (substr(replace(event_id::text, '-', ''), 1, 12) || '7' || substr(h, 1, 3)
    || to_hex(8 | (('x' || substr(h, 4, 1))::bit(4)::int & 3)) || substr(h, 5, 15))::uuid
  FROM (SELECT encode(sha256(convert_to(event_id::text || ':' || subscription_id::text, 'UTF8')), 'hex') AS h) x $$;
--> statement-breakpoint
-- A partitioned table's range partitions with their bounds (lo NULL: MINVALUE), oldest first; the
-- default partition is not listed.
CREATE OR REPLACE FUNCTION webhook_partitions(parent regclass)
RETURNS TABLE (partition regclass, lo uuid, hi uuid)
LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass,
    substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([0-9a-f-]+)''\)')::uuid,
    substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([0-9a-f-]+)''\)')::uuid
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
  ORDER BY 3 $$;
--> statement-breakpoint
-- Creates the partitions of the three tables from the end of the newest one until `upto`, one UTC day
-- each (the first may start mid-day, at the cutover), so that each range has its three partitions.
-- Each table is created alone and then attached: ATTACH takes SHARE UPDATE EXCLUSIVE on the parent
-- (inserts go on), where CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE. Returns the
-- ranges created. Serialised by an advisory lock held until the caller's transaction ends.
CREATE OR REPLACE FUNCTION webhook_partitions_ensure(upto timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz;
  hi timestamptz;
  name text;
  t text;
  key text;
BEGIN
  PERFORM pg_advisory_xact_lock(7245008);
  SELECT webhook_uuid_time(p.hi) INTO lo FROM webhook_partitions('webhook_deliveries') p ORDER BY p.hi DESC LIMIT 1;
  lo := coalesce(lo, date_trunc('day', now(), 'UTC'));
  WHILE lo < upto LOOP
    hi := date_trunc('day', lo + interval '1 day', 'UTC');
    name := to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
    FOREACH t IN ARRAY ARRAY['webhook_events', 'webhook_deliveries', 'webhook_attempts'] LOOP
      key := CASE t WHEN 'webhook_attempts' THEN 'delivery_id' ELSE 'id' END;
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING STORAGE)', t || '_p' || name, t);
      -- Rows of this range that landed in the default partition (ids from a clock ahead) move in
      -- first: ATTACH would refuse a range the default partition holds rows of.
      PERFORM set_config('hookline.moving_rows', 'on', true);
      EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
        t || '_default', key, webhook_uuid_floor(lo), key, webhook_uuid_floor(hi), t || '_p' || name);
      PERFORM set_config('hookline.moving_rows', 'off', true);
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        t, t || '_p' || name, webhook_uuid_floor(lo), webhook_uuid_floor(hi));
    END LOOP;
    RETURN NEXT format('[%s, %s)', lo, hi);
    lo := hi;
  END LOOP;
END $$;
--> statement-breakpoint
-- An attempt goes with its delivery (a foreign key between partitioned tables would make every drop of
-- a partition check the whole other table, so the three are kept in step by this and by retention).
CREATE OR REPLACE FUNCTION webhook_delivery_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- (not while webhook_partitions_ensure moves a delivery from the default partition to its own)
  IF current_setting('hookline.moving_rows', true) = 'on' THEN RETURN NULL; END IF;
  DELETE FROM webhook_attempts WHERE delivery_id = OLD.id;
  RETURN NULL;
END $$;
--> statement-breakpoint
DO $$
DECLARE
  cutover uuid;
  c record;
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'public.webhook_deliveries'::regclass) = 'p' THEN
    RETURN;
  END IF;
  -- One order for the three locks; nothing writes them while this runs.
  LOCK TABLE webhook_events, webhook_deliveries, webhook_attempts IN ACCESS EXCLUSIVE MODE;
  -- The cutover: the one a pre-step validated without blocking (docs/adr/0012), or now.
  SELECT substring(pg_get_constraintdef(oid) FROM '''([0-9a-f-]{36})''')::uuid INTO cutover
  FROM pg_constraint WHERE conname = 'webhook_deliveries_before_cutover' AND convalidated;
  cutover := coalesce(cutover, webhook_uuid_floor(now()));

  -- 1. The old tables become the legacy partitions: renamed, with their indexes.
  ALTER TABLE webhook_events RENAME TO webhook_events_legacy;
  ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_legacy;
  ALTER TABLE webhook_attempts RENAME TO webhook_attempts_legacy;
  FOR c IN SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid IN ('webhook_events_legacy'::regclass, 'webhook_deliveries_legacy'::regclass,
      'webhook_attempts_legacy'::regclass)
      AND i.relname NOT LIKE '%\_legacy%'
  LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', c.relname, c.relname || '_legacy');
  END LOOP;
  ALTER TABLE webhook_attempts_legacy DROP CONSTRAINT IF EXISTS webhook_attempts_delivery_id_webhook_deliveries_id_fk;
  ALTER TABLE webhook_deliveries_legacy DROP CONSTRAINT IF EXISTS webhook_deliveries_event_id_webhook_events_id_fk;
  ALTER TABLE webhook_deliveries_legacy RENAME CONSTRAINT webhook_deliveries_subscription_id_webhook_subscriptions_id_fk
    TO webhook_deliveries_legacy_subscription_id_fk;

  -- 2. The partitioned tables (columns in the old tables' order: ATTACH needs the same set).
  CREATE TABLE webhook_events (
    id uuid NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL, payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_events_pkey PRIMARY KEY (id)
  ) PARTITION BY RANGE (id);
  -- The deliveries search by the event's user (on the legacy partition it is built when attached).
  CREATE INDEX webhook_events_user ON webhook_events ((payload->>'user_id'));
  CREATE TABLE webhook_deliveries (
    id uuid NOT NULL, event_id uuid NOT NULL, subscription_id uuid NOT NULL, event_type text NOT NULL,
    status text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz, last_status_code integer, last_error text,
    event_occurred_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(), delivered_at timestamptz,
    generation integer NOT NULL DEFAULT 0,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_deliveries_subscription_id_webhook_subscriptions_id_fk FOREIGN KEY (subscription_id)
      REFERENCES webhook_subscriptions (id) ON DELETE CASCADE
  ) PARTITION BY RANGE (id);
  CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, subscription_id);
  CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
  CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, id);
  CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (subscription_id, updated_at) WHERE status = 'dead';
  CREATE INDEX webhook_deliveries_active ON webhook_deliveries (id) WHERE status IN ('pending', 'retrying');
  CREATE TABLE webhook_attempts (
    id uuid NOT NULL, delivery_id uuid NOT NULL, number integer NOT NULL, started_at timestamptz NOT NULL,
    duration_ms integer NOT NULL, status_code integer, error_kind text, error_message text, response_excerpt text,
    CONSTRAINT webhook_attempts_delivery_id_id_pk PRIMARY KEY (delivery_id, id)
  ) PARTITION BY RANGE (delivery_id);
  CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, number);
  CREATE TRIGGER webhook_delivery_deleted AFTER DELETE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION webhook_delivery_deleted();
  -- Rows of no range (an id that is no UUIDv7 of a partitioned time) land here rather than fail.
  CREATE TABLE webhook_events_default PARTITION OF webhook_events DEFAULT;
  CREATE TABLE webhook_deliveries_default PARTITION OF webhook_deliveries DEFAULT;
  CREATE TABLE webhook_attempts_default PARTITION OF webhook_attempts DEFAULT;

  -- 3. Rows at or past the cutover (ids that are no UUIDv7 of the past) move to the default partitions.
  WITH moved AS (DELETE FROM webhook_events_legacy WHERE id >= cutover RETURNING *)
    INSERT INTO webhook_events_default SELECT * FROM moved;
  WITH moved AS (DELETE FROM webhook_deliveries_legacy WHERE id >= cutover RETURNING *)
    INSERT INTO webhook_deliveries_default SELECT * FROM moved;
  WITH moved AS (DELETE FROM webhook_attempts_legacy WHERE delivery_id >= cutover RETURNING *)
    INSERT INTO webhook_attempts_default SELECT * FROM moved;

  -- 4. Make the legacy tables fit, reusing what the pre-step built CONCURRENTLY when it did. The old
  -- unique index on (event_id, subscription_id) stays on the legacy partition: an event fanned out
  -- before the cutover and read again after it finds its delivery there.
  IF to_regclass('webhook_deliveries_event_legacy') IS NULL THEN
    CREATE INDEX webhook_deliveries_event_legacy ON webhook_deliveries_legacy (event_id, subscription_id);
  END IF;
  IF to_regclass('webhook_deliveries_active_legacy') IS NULL THEN
    CREATE INDEX webhook_deliveries_active_legacy ON webhook_deliveries_legacy (id) WHERE status IN ('pending', 'retrying');
  END IF;
  IF to_regclass('webhook_attempts_delivery_id_legacy') IS NULL THEN
    CREATE UNIQUE INDEX webhook_attempts_delivery_id_legacy ON webhook_attempts_legacy (delivery_id, id);
  END IF;
  ALTER TABLE webhook_attempts_legacy DROP CONSTRAINT webhook_attempts_pkey_legacy;
  ALTER TABLE webhook_attempts_legacy ADD CONSTRAINT webhook_attempts_legacy_pkey
    PRIMARY KEY USING INDEX webhook_attempts_delivery_id_legacy;
  -- CHECKs that prove the bounds, so that ATTACH does not scan again (kept when the pre-step validated them).
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'webhook_events_before_cutover' AND convalidated) THEN
    ALTER TABLE webhook_events_legacy DROP CONSTRAINT IF EXISTS webhook_events_before_cutover;
    EXECUTE format('ALTER TABLE webhook_events_legacy ADD CONSTRAINT webhook_events_before_cutover CHECK (id < %L)', cutover);
  END IF;
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'webhook_deliveries_before_cutover' AND convalidated) THEN
    ALTER TABLE webhook_deliveries_legacy DROP CONSTRAINT IF EXISTS webhook_deliveries_before_cutover;
    EXECUTE format('ALTER TABLE webhook_deliveries_legacy ADD CONSTRAINT webhook_deliveries_before_cutover CHECK (id < %L)', cutover);
  END IF;
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'webhook_attempts_before_cutover' AND convalidated) THEN
    ALTER TABLE webhook_attempts_legacy DROP CONSTRAINT IF EXISTS webhook_attempts_before_cutover;
    EXECUTE format('ALTER TABLE webhook_attempts_legacy ADD CONSTRAINT webhook_attempts_before_cutover CHECK (delivery_id < %L)', cutover);
  END IF;

  -- 5. Attach: the CHECKs imply the bounds; the indexes and the subscription's key are matched, not rebuilt.
  EXECUTE format('ALTER TABLE webhook_events ATTACH PARTITION webhook_events_legacy FOR VALUES FROM (MINVALUE) TO (%L)', cutover);
  EXECUTE format('ALTER TABLE webhook_deliveries ATTACH PARTITION webhook_deliveries_legacy FOR VALUES FROM (MINVALUE) TO (%L)', cutover);
  EXECUTE format('ALTER TABLE webhook_attempts ATTACH PARTITION webhook_attempts_legacy FOR VALUES FROM (MINVALUE) TO (%L)', cutover);
END $$;
--> statement-breakpoint
-- The partitions of the coming week (the platform keeps creating them ahead: src/webhooks/deliveries/partitions.ts).
SELECT webhook_partitions_ensure(now() + interval '7 days');
