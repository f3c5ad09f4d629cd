-- 0009_twin_records: the lean twins table. A twin is persisted as its binary
-- record (twin/record.h, layout in twin/README.md), written and read in C;
-- PostgreSQL no longer parses or builds JSON for it.
--
--   device_id    the key
--   version      events applied: grows with every applied reading; the ETag
--                of GET /v1/devices/{id}, and the upsert's guard (a twin
--                never moves back to a lower version)
--   last_seen    device time of the latest applied reading (for operators;
--                not indexed: it changes with every reading)
--   updated_at   when the projector (or tp-replay) last wrote the row
--   written_xid  the transaction that last wrote the row: tp-query's search
--                index reads the rows written since its previous snapshot
--                (pg_visible_in_snapshot) instead of the whole table
--   state        the twin record
--
-- No index but the primary key, and fillfactor 70: an update of a twin
-- changes no indexed column, so it is HOT when its page has room.
--
-- Upgrade from jsonb twins (0001-0008): the old tables are kept under
-- *_0008 names and the projection starts empty, with no projector offsets,
-- so nothing is folded on top of a partial state. Rebuild it from the
-- journal with tp-replay before starting tp-projector (migrations/README.md,
-- "Upgrading to 0009"); a projector started first rebuilds it too, from the
-- journal's beginning, more slowly. Drop the *_0008 tables once the rebuilt
-- projection is checked.

ALTER TABLE twins RENAME TO twins_0008;
ALTER INDEX twins_pkey RENAME TO twins_0008_pkey;
DROP INDEX twins_last_seen, twins_model, twins_region, twins_firmware, twins_speed_kmh,
    twins_fuel_level_pct, twins_battery_voltage_v, twins_engine_temp_c;

ALTER TABLE metric_minutes RENAME TO metric_minutes_0008;
ALTER INDEX metric_minutes_pkey RENAME TO metric_minutes_0008_pkey;
ALTER INDEX metric_minutes_minute_brin RENAME TO metric_minutes_0008_minute_brin;

ALTER TABLE projector_offsets RENAME TO projector_offsets_0008;
ALTER INDEX projector_offsets_pkey RENAME TO projector_offsets_0008_pkey;

CREATE TABLE twins (
    device_id   text        PRIMARY KEY,
    version     bigint      NOT NULL CHECK (version > 0),
    last_seen   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    written_xid xid8        NOT NULL DEFAULT pg_current_xact_id(),
    state       bytea       NOT NULL
) WITH (fillfactor = 70);
-- records are a few hundred bytes of varints: not worth compressing
ALTER TABLE twins ALTER COLUMN state SET STORAGE EXTERNAL;

CREATE TABLE metric_minutes (
    device_id text             NOT NULL,
    metric    text             NOT NULL,
    minute    timestamptz      NOT NULL,  -- start of the minute, device time, UTC
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    count     bigint           NOT NULL CHECK (count > 0),
    PRIMARY KEY (device_id, metric, minute)
);
CREATE INDEX metric_minutes_minute_brin ON metric_minutes USING brin (minute);

CREATE TABLE projector_offsets (
    consumer_group text   NOT NULL,
    topic          text   NOT NULL,
    partition      int    NOT NULL CHECK (partition >= 0),
    next_offset    bigint NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- A database that never held a twin (a fresh one) keeps no *_0008 tables.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM twins_0008) AND NOT EXISTS (SELECT 1 FROM metric_minutes_0008)
       AND NOT EXISTS (SELECT 1 FROM projector_offsets_0008) THEN
        DROP TABLE twins_0008, metric_minutes_0008, projector_offsets_0008;
    END IF;
END
$$;
