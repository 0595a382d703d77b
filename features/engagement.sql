-- Daily engagement (METRICS.md "Daily engagement"): one row per UTC date with any event,
-- from the compact per-user-day table, the sessions and the episode views. The rows of every
-- date ($day NULL: the full build) or of one date (a daily partition, features/engagement.py).
WITH active AS (
    SELECT event_date AS date, count(*) AS dau FROM derived.user_days
    WHERE $day::DATE IS NULL OR event_date = $day::DATE GROUP BY 1
), started AS (
    SELECT start_date AS date, count(*) AS sessions,
           avg(episodes_started) AS episodes_per_session_mean,
           median(episodes_started) AS episodes_per_session_median,
           avg(duration_s) / 60 AS session_minutes_mean,
           avg(is_binge::INTEGER) AS binge_session_rate
    FROM analytics.sessions WHERE $day::DATE IS NULL OR start_date = $day::DATE GROUP BY 1
), watched AS (
    SELECT start_date AS date, sum(max_position_s) / 60 AS watch_minutes
    FROM analytics.episode_views WHERE $day::DATE IS NULL OR start_date = $day::DATE GROUP BY 1
)
SELECT a.date, a.dau,
       coalesce(s.sessions, 0) AS sessions,
       s.episodes_per_session_mean, s.episodes_per_session_median, s.session_minutes_mean,
       s.binge_session_rate,
       coalesce(w.watch_minutes, 0) / a.dau AS watch_minutes_per_dau
FROM active a LEFT JOIN started s USING (date) LEFT JOIN watched w USING (date)
ORDER BY a.date
