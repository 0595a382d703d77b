-- An increment: only users with events ingested after the watermark are touched, and for
-- each of them only from the first session that a new event can change. A session that
-- ended more than the gap before the user's earliest new event cannot merge with it, so
-- everything before that point stays as it is. Bound: $watermark, $gap_minutes.
CREATE OR REPLACE TEMP TABLE new_events AS
SELECT user_id, ts, event_date,
       -- a series shown in a recommended list is not activity on it (user_series_last)
       CASE WHEN event_type NOT LIKE 'recommendation_%' THEN series_id END AS series_id
FROM raw.events WHERE ingested_at > $watermark;

CREATE OR REPLACE TEMP TABLE scope AS
WITH touched AS (
    SELECT user_id, min(ts) AS first_new FROM new_events GROUP BY 1
)
SELECT t.user_id,
       -- the earliest session the new events can reach, or the first new event itself
       least(t.first_new, min(s.started_at)) AS cut_ts
FROM touched t
LEFT JOIN analytics.sessions s
       ON s.user_id = t.user_id AND s.ended_at >= t.first_new - to_minutes($gap_minutes::BIGINT)
GROUP BY t.user_id, t.first_new;

-- the episodes whose views change: their within-episode retention curves are recomputed
CREATE OR REPLACE TABLE derived.touched_episodes AS
SELECT DISTINCT v.series_id, v.episode_number
FROM analytics.episode_views v JOIN scope s ON v.user_id = s.user_id AND v.started_at >= s.cut_ts;

-- the dates whose rows change: published snapshots share these tables by date, and the next
-- publish rewrites the changed dates as new parts (core/shared_tables.py)
INSERT INTO derived.shared_dirty
SELECT DISTINCT 'episode_views', v.start_date
FROM analytics.episode_views v JOIN scope s ON v.user_id = s.user_id AND v.started_at >= s.cut_ts;

INSERT INTO derived.shared_dirty
SELECT DISTINCT 'sessions', x.start_date
FROM analytics.sessions x JOIN scope s ON x.user_id = s.user_id AND x.started_at >= s.cut_ts;

DELETE FROM analytics.episode_views v USING scope s
WHERE v.user_id = s.user_id AND v.started_at >= s.cut_ts;

DELETE FROM analytics.sessions x USING scope s
WHERE x.user_id = s.user_id AND x.started_at >= s.cut_ts;

INSERT INTO derived.user_days
SELECT DISTINCT user_id, event_date FROM new_events
EXCEPT
SELECT user_id, event_date FROM derived.user_days;

CREATE OR REPLACE TEMP TABLE series_last_new AS
SELECT n.user_id, n.series_id, greatest(n.last_at, coalesce(o.last_at, n.last_at)) AS last_at
FROM (SELECT user_id, series_id, max(ts) AS last_at
      FROM new_events WHERE series_id IS NOT NULL GROUP BY ALL) n
LEFT JOIN derived.user_series_last o USING (user_id, series_id);

DELETE FROM derived.user_series_last o USING series_last_new n
WHERE o.user_id = n.user_id AND o.series_id = n.series_id;

INSERT INTO derived.user_series_last SELECT user_id, series_id, last_at FROM series_last_new;
