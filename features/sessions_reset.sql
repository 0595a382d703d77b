-- A full rebuild starts from empty event-grain tables: sessions, episode views and the
-- private per-user summaries the aggregate tables are computed from.
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS derived;

CREATE OR REPLACE TABLE analytics.sessions (
    session_key VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ NOT NULL,
    start_date DATE NOT NULL,
    duration_s DOUBLE NOT NULL,
    n_events BIGINT NOT NULL,
    episodes_started BIGINT NOT NULL,
    distinct_series BIGINT NOT NULL,
    watch_s DOUBLE NOT NULL,
    is_binge BOOLEAN NOT NULL
);

CREATE OR REPLACE TABLE analytics.episode_views (
    view_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    session_key VARCHAR NOT NULL,
    series_id VARCHAR,
    episode_number INTEGER,
    started_at TIMESTAMPTZ NOT NULL,
    start_date DATE NOT NULL,
    max_position_s DOUBLE NOT NULL,
    duration_s DOUBLE,
    watched_fraction DOUBLE,
    completed BOOLEAN NOT NULL
);

-- every date of the shared tables changes (core/shared_tables.py)
INSERT INTO derived.shared_dirty VALUES ('sessions', NULL), ('episode_views', NULL);

CREATE OR REPLACE TABLE derived.touched_episodes (series_id VARCHAR, episode_number INTEGER);

-- every stored event with its session: the latest session of the user that started at or
-- before the event (sessions of a user never overlap)
CREATE OR REPLACE VIEW analytics.events AS
SELECT r.event_id, r.event_type, r.ts, r.event_date, r.user_id, s.session_key, r.session_id,
       r.series_id, r.episode_number, r.position_s, r.unlock_method, r.amount_usd,
       r.platform, r.app_version, r.country, r.language, r.source_shape,
       r.request_id, r.model_version, r.variant, r.surface, r.list_position
FROM raw.events r
ASOF JOIN analytics.sessions s ON r.user_id = s.user_id AND r.ts >= s.started_at;

-- (user, UTC date) pairs with any event: DAU and retention cohorts come from here
CREATE OR REPLACE TABLE derived.user_days AS
SELECT DISTINCT user_id, event_date FROM raw.events;

-- each user's latest event of each series: the funnel's "inactive for 7 days" test (being
-- shown a series in a recommended list is not activity on it)
CREATE OR REPLACE TABLE derived.user_series_last AS
SELECT user_id, series_id, max(ts) AS last_at
FROM raw.events
WHERE series_id IS NOT NULL AND event_type NOT LIKE 'recommendation_%'
GROUP BY ALL;

-- the whole history is (re)tagged
DROP TABLE IF EXISTS temp.main.retag;

CREATE OR REPLACE TEMP VIEW retag AS
SELECT user_id, ts, event_id, event_type, series_id, episode_number, position_s
FROM raw.events;
