-- The pipeline's private record of ingested events (working database only).
CREATE SCHEMA IF NOT EXISTS raw;

-- the events' columns and the inline buffer of raw.events (core/event_store.py: the view
-- raw.events = these rows + the date-partitioned Parquet files listed in raw.event_files)
CREATE TABLE IF NOT EXISTS raw.event_rows (
    event_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    event_date DATE NOT NULL,           -- UTC date of ts: the partition key of derived tables
    user_id VARCHAR NOT NULL,
    session_id VARCHAR,                 -- the client's own session id, kept as an attribute
    series_id VARCHAR,
    episode_number INTEGER,
    position_s DOUBLE,
    unlock_method VARCHAR,
    amount_usd DOUBLE,
    platform VARCHAR,
    app_version VARCHAR,
    country VARCHAR,
    language VARCHAR,
    source_shape VARCHAR NOT NULL,      -- canonical | segment
    file_sha256 VARCHAR NOT NULL,
    record_number BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    -- recommendation_impression / recommendation_click only (CONTRACT §2a)
    request_id VARCHAR,
    model_version VARCHAR,
    variant VARCHAR,
    surface VARCHAR,
    list_position INTEGER               -- 1-based position within its row (surface)
);

-- warehouses made before the recommendation-feedback columns gain them (at the end, in order)
ALTER TABLE raw.event_rows ADD COLUMN IF NOT EXISTS request_id VARCHAR;
ALTER TABLE raw.event_rows ADD COLUMN IF NOT EXISTS model_version VARCHAR;
ALTER TABLE raw.event_rows ADD COLUMN IF NOT EXISTS variant VARCHAR;
ALTER TABLE raw.event_rows ADD COLUMN IF NOT EXISTS surface VARCHAR;
ALTER TABLE raw.event_rows ADD COLUMN IF NOT EXISTS list_position INTEGER;

CREATE TABLE IF NOT EXISTS raw.quarantine (
    file_path VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    record_number BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    raw_record VARCHAR,
    quarantined_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,            -- quarantined | replayed_loaded | replayed_duplicate
    replayed_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS raw.ingestion_files (
    file_path VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    records_in BIGINT NOT NULL,
    loaded BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    seconds DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.refused_files (
    file_path VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    refused_at TIMESTAMPTZ NOT NULL
);
