-- 0012_fleet_aggregates: the global site's aggregates (docs/decisions/regions.md,
-- section 4), written by tp-projector with projector.fold=fleet from every
-- region's mirrored aggregates topic, read by tp-query's GET /v1/fleet/aggregates.
--
-- One row per *partial*: what one region's journal partition owner folded for
-- one category in one window. A partial's record carries its full state with a
-- version that grows by one per change; a row keeps the highest version seen:
--
--   INSERT .. ON CONFLICT (region, category, window_start, journal_partition)
--   DO UPDATE .. WHERE fleet_aggregates.version < EXCLUDED.version
--
-- (a duplicate or an older version arriving late changes nothing; an amendment
-- replaces the row), in the same transaction as projector_offsets.
--
--   region       the record's region (site.region of the site that folded it)
--   category     the record's attributes spelled out, "model=tp-truck,firmware=2.1.7"
--                (in the region's aggregate.category order; '\', ',' and '='
--                inside names or values escaped with '\'), so that the query's
--                category=, exact or a prefix of whole attributes, is a range of
--                the primary key (COLLATE "C": byte order)
--   window_start the window's start, UTC; window_ms its length
--   version      the partial's version; readings the readings folded into it
--   metrics      [{"name":..,"count":..,"min":..,"max":..,"sum":..}, ...] sorted by
--                name (min/max null while count is 0): jsonb, so the query merges
--                partials in SQL (jsonb_to_recordset) in one statement
--   received_at  when this version was committed here
CREATE TABLE fleet_aggregates (
    region            text COLLATE "C" NOT NULL,
    category          text COLLATE "C" NOT NULL,
    window_start      timestamptz NOT NULL,
    window_ms         int    NOT NULL CHECK (window_ms > 0),
    journal_partition int    NOT NULL CHECK (journal_partition >= 0),
    version           bigint NOT NULL CHECK (version > 0),
    readings          bigint NOT NULL CHECK (readings >= 0),
    metrics           jsonb  NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, category, window_start, journal_partition)
);
-- the query without region= (every region): category range, then windows
CREATE INDEX fleet_aggregates_category ON fleet_aggregates (category, window_start);
