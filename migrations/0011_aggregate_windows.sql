-- The regional aggregator's partials (aggregate/, docs/decisions/regions.md section 1):
-- per (category, window, journal partition) the readings applied and, per metric, count,
-- min, max and sum, merged by every flush of tp-projector (aggregate.enabled) in the
-- transaction of its twins and offsets. version grows by one per flush that changed the
-- partial; published_version is the highest version Kafka acknowledged in the aggregates
-- topic (the outbox: aggregate/publish.h).
--
-- metrics is UTF-8 text, one line per metric sorted by name in byte order:
-- name TAB count TAB min TAB max TAB sum LF (doubles in a form that reads back exactly),
-- so that the merge below runs inside the upsert.

CREATE TABLE aggregate_windows (
    category text NOT NULL,           -- attribute values joined by '|' ('\' and '|' escaped)
    attributes text NOT NULL,         -- their names, aggregate.category: "model,firmware"
    window_start timestamptz NOT NULL,
    window_ms int NOT NULL,
    journal_partition int NOT NULL,
    version bigint NOT NULL,
    readings bigint NOT NULL,
    metrics bytea NOT NULL,
    published_version bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category, window_start, journal_partition)
);

-- the publisher's sweep: partials not published at their version
CREATE INDEX aggregate_windows_unpublished ON aggregate_windows (window_start)
    WHERE published_version < version;

-- The lines of a metrics value as rows.
CREATE FUNCTION aggregate_metrics_rows(m bytea)
    RETURNS TABLE (name text, count bigint, min float8, max float8, sum float8)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT f[1], f[2]::bigint, f[3]::float8, f[4]::float8, f[5]::float8
    FROM regexp_split_to_table(convert_from(m, 'UTF8'), E'\n') AS l(line)
    CROSS JOIN LATERAL string_to_array(l.line, E'\t') AS f
    WHERE l.line <> ''
$$;

-- Two metrics values merged: count + count, least min, greatest max, sum + sum, per name.
CREATE FUNCTION aggregate_metrics_merge(a bytea, b bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET extra_float_digits = 1 AS $$
    SELECT coalesce(convert_to(string_agg(concat_ws(E'\t', name, count, min, max, sum) || E'\n',
                                          '' ORDER BY name COLLATE "C"), 'UTF8'), '\x'::bytea)
    FROM (SELECT coalesce(x.name, y.name) AS name,
                 coalesce(x.count, 0) + coalesce(y.count, 0) AS count,
                 least(x.min, y.min) AS min, greatest(x.max, y.max) AS max,
                 CASE WHEN x.name IS NULL THEN y.sum WHEN y.name IS NULL THEN x.sum
                      ELSE x.sum + y.sum END AS sum
          FROM aggregate_metrics_rows(coalesce(a, '\x'::bytea)) AS x
          FULL JOIN aggregate_metrics_rows(coalesce(b, '\x'::bytea)) AS y ON x.name = y.name) AS z
$$;
