-- 0002_history: the history projection, per device, per metric, per minute.
-- Written by the projector in the same transaction as the twins and its
-- offsets (so exactly-once like them); read by the query service's series
-- endpoint, which rolls minutes up into 5m/1h/1d buckets.
-- Also: each entry of twins.metrics gains running statistics since the
-- device was first seen: {"value":..,"ts":..,"min":..,"max":..,"sum":..,"count":..}
-- (jsonb: no column change).

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

-- Retention deletes by age across all devices.
CREATE INDEX metric_minutes_minute ON metric_minutes (minute);
