-- 0001_init: twins, the projector's offsets.
-- Forward-only: never edit a migration once it has landed; add a new one.

-- One row per device: its digital twin as the projector last persisted it.
CREATE TABLE twins (
    device_id     text        PRIMARY KEY,
    first_seen    timestamptz NOT NULL,  -- device time of the first applied reading
    last_seen     timestamptz NOT NULL,  -- device time of the latest applied reading
    last_sequence bigint      NOT NULL CHECK (last_sequence > 0),
    events        bigint      NOT NULL CHECK (events > 0),  -- readings applied
    -- latest value per metric: {"speed_kmh": {"value": 88.5, "ts": 1700000000000}, ...}
    metrics       jsonb       NOT NULL DEFAULT '{}',
    -- last location: {"lat": .., "lon": .., "altitude_m": .., "ts": ..} or NULL
    location      jsonb,
    -- latest non-empty attributes: {"model": "..", "firmware": "..", "region": ".."}
    attributes    jsonb       NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Where each projector consumer group stands in each journal partition:
-- the next offset to read. Written in the same transaction as the twins.
CREATE TABLE projector_offsets (
    consumer_group text   NOT NULL,
    topic          text   NOT NULL,
    partition      int    NOT NULL CHECK (partition >= 0),
    next_offset    bigint NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
