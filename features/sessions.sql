-- analytics.events: every stored event with its derived session (METRICS.md "Session").
-- A session is cut wherever two consecutive events of a user are more than $gap_minutes
-- apart; its key is the user id and the session's first timestamp, so the same events always
-- give the same key.
CREATE OR REPLACE TABLE analytics.events AS
WITH ordered AS (
    SELECT event_id, user_id, ts,
           CASE WHEN lag(ts) OVER w IS NULL
                  OR ts - lag(ts) OVER w > to_minutes($gap_minutes::BIGINT)
                THEN ts END AS session_start
    FROM raw.events
    WINDOW w AS (PARTITION BY user_id ORDER BY ts, event_id)
), keyed AS (
    -- each event takes the start of the latest session that began at or before it
    SELECT event_id,
           max(session_start) OVER (PARTITION BY user_id ORDER BY ts, event_id
                                    ROWS UNBOUNDED PRECEDING) AS session_start
    FROM ordered
), starts AS (
    SELECT DISTINCT user_id, session_start FROM ordered WHERE session_start IS NOT NULL
), named AS (
    -- one key per session: the timestamp is formatted once per session, not per event
    SELECT user_id, session_start,
           user_id || '@' || strftime(session_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ')
               AS session_key
    FROM starts
)
SELECT r.event_id, r.event_type, r.ts, r.event_date, r.user_id, n.session_key,
       r.session_id, r.series_id, r.episode_number, r.position_s, r.unlock_method, r.amount_usd,
       r.platform, r.app_version, r.country, r.language, r.source_shape
FROM raw.events r
JOIN keyed k USING (event_id)
JOIN named n ON n.user_id = r.user_id AND n.session_start = k.session_start;
