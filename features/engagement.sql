-- Sessions, episode views and daily engagement (METRICS.md "Sessions and views", "Daily
-- engagement"), all from analytics.events (which carries session_key) and the catalog.
-- The metric parameters complete_fraction and binge_min_episodes are bound at run time.

-- Episode views: an episode_start plus the same user's following progress/complete/exit
-- events of the same episode in the same session, up to the next episode_start.
CREATE OR REPLACE TABLE analytics.episode_views AS
WITH playback AS (
    SELECT *,
           -- a start opens a view; events before the first start of a session belong to none
           sum(CASE WHEN event_type = 'episode_start' THEN 1 ELSE 0 END)
               OVER (PARTITION BY session_key
                     ORDER BY ts, CASE WHEN event_type = 'episode_start' THEN 0 ELSE 1 END,
                              event_id
                     ROWS UNBOUNDED PRECEDING) AS view_no
    FROM analytics.events
    WHERE event_type IN ('episode_start', 'episode_progress', 'episode_complete', 'episode_exit')
), starts AS (
    SELECT session_key, view_no, user_id, series_id, episode_number, ts AS started_at
    FROM playback WHERE event_type = 'episode_start'
), followers AS (
    SELECT p.session_key, p.view_no,
           max(p.position_s) AS max_position_s,
           bool_or(p.event_type = 'episode_complete') AS saw_complete,
           max(p.ts) AS last_event_at
    FROM playback p JOIN starts s USING (session_key, view_no)
    WHERE p.event_type <> 'episode_start'
      AND p.series_id = s.series_id AND p.episode_number = s.episode_number
    GROUP BY ALL
)
SELECT
    s.session_key || '#' || s.view_no AS view_id,
    s.user_id, s.session_key, s.series_id, s.episode_number, s.started_at,
    s.started_at::DATE AS start_date,
    coalesce(f.max_position_s, 0) AS max_position_s,
    e.duration_s,
    least(1.0, coalesce(f.max_position_s, 0) / e.duration_s) AS watched_fraction,
    coalesce(f.saw_complete, false)
        OR least(1.0, coalesce(f.max_position_s, 0) / e.duration_s) >= $complete_fraction
        AS completed
FROM starts s
LEFT JOIN followers f USING (session_key, view_no)
LEFT JOIN analytics.episodes e
       ON e.series_id = s.series_id AND e.episode_number = s.episode_number
ORDER BY s.started_at, view_id;

-- Sessions: one row per derived session.
CREATE OR REPLACE TABLE analytics.sessions AS
WITH bounds AS (
    SELECT session_key, any_value(user_id) AS user_id, min(ts) AS started_at,
           max(ts) AS ended_at
    FROM analytics.events GROUP BY session_key
), views AS (
    SELECT session_key, count(*) AS episodes_started,
           count(DISTINCT series_id) AS distinct_series, sum(max_position_s) AS watch_s
    FROM analytics.episode_views GROUP BY session_key
)
SELECT b.session_key, b.user_id, b.started_at, b.ended_at,
       b.started_at::DATE AS start_date,
       epoch(b.ended_at - b.started_at) AS duration_s,
       coalesce(v.episodes_started, 0) AS episodes_started,
       coalesce(v.distinct_series, 0) AS distinct_series,
       coalesce(v.watch_s, 0) AS watch_s,
       coalesce(v.episodes_started, 0) >= $binge_min_episodes AS is_binge
FROM bounds b LEFT JOIN views v USING (session_key)
ORDER BY b.started_at, b.session_key;

-- Daily engagement: one row per UTC date with any event.
CREATE OR REPLACE TABLE analytics.daily_engagement AS
WITH active AS (
    SELECT event_date AS date, count(DISTINCT user_id) AS dau
    FROM analytics.events GROUP BY 1
), started AS (
    SELECT start_date AS date, count(*) AS sessions,
           avg(episodes_started) AS episodes_per_session_mean,
           median(episodes_started) AS episodes_per_session_median,
           avg(duration_s) / 60 AS session_minutes_mean,
           avg(is_binge::INTEGER) AS binge_session_rate
    FROM analytics.sessions GROUP BY 1
), watched AS (
    SELECT start_date AS date, sum(max_position_s) / 60 AS watch_minutes
    FROM analytics.episode_views GROUP BY 1
)
SELECT a.date, a.dau,
       coalesce(s.sessions, 0) AS sessions,
       s.episodes_per_session_mean, s.episodes_per_session_median, s.session_minutes_mean,
       s.binge_session_rate,
       coalesce(w.watch_minutes, 0) / a.dau AS watch_minutes_per_dau
FROM active a LEFT JOIN started s USING (date) LEFT JOIN watched w USING (date)
ORDER BY a.date;
