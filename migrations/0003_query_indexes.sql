-- 0003_query_indexes: indexes behind every filter and sort of tp-query's
-- GET /v1/devices (query/list.h). Each ends in device_id, the tie-breaker of
-- every sort order, so a filtered page sorted by device_id is one range scan
-- (WHERE attr = $1 AND device_id > $cursor ORDER BY device_id LIMIT n).
--
-- Cost: every index is written on every twin update that is not HOT, and
-- last_seen changes with every applied reading, so twin updates are never
-- HOT once it is indexed: each flush of the projector writes these entries
-- too. Hence few indexes: attributes by equality, last_seen (sorts, the
-- online/offline status, last_seen_before/after), and the latest value of
-- four built-in metrics. A range filter on any other metric is evaluated on
-- the rows another index yields (list.c keeps the indexed expressions in
-- list_indexed_metrics; add an index here and a name there to serve one).
--
-- Plain CREATE INDEX (migrations run in a transaction): on a large existing
-- twins table it blocks the projector's writes while it builds.

CREATE INDEX twins_last_seen ON twins (last_seen, device_id);
CREATE INDEX twins_model     ON twins ((attributes->>'model'), device_id);
CREATE INDEX twins_region    ON twins ((attributes->>'region'), device_id);
CREATE INDEX twins_firmware  ON twins ((attributes->>'firmware'), device_id);

CREATE INDEX twins_speed_kmh         ON twins (((metrics->'speed_kmh'->>'value')::float8));
CREATE INDEX twins_fuel_level_pct    ON twins (((metrics->'fuel_level_pct'->>'value')::float8));
CREATE INDEX twins_battery_voltage_v ON twins (((metrics->'battery_voltage_v'->>'value')::float8));
CREATE INDEX twins_engine_temp_c     ON twins (((metrics->'engine_temp_c'->>'value')::float8));
