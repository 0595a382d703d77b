-- analytics.events: every stored event with its derived session (METRICS.md "Session").
-- A session is cut wherever two consecutive events of a user are more than $gap_minutes
-- apart; its key is the user id and the session's first timestamp, so the same events always
-- give the same key.
CREATE OR REPLACE TABLE analytics.events AS
WITH ordered AS (
    SELECT *,
           CASE WHEN lag(ts) OVER w IS NULL
                  OR ts - lag(ts) OVER w > to_minutes($gap_minutes::BIGINT)
                THEN 1 ELSE 0 END AS starts_session
    FROM raw.events
    WINDOW w AS (PARTITION BY user_id ORDER BY ts, event_id)
), numbered AS (
    SELECT *,
           sum(starts_session) OVER (PARTITION BY user_id ORDER BY ts, event_id
                                     ROWS UNBOUNDED PRECEDING) AS session_no
    FROM ordered
)
SELECT event_id, event_type, ts, event_date, user_id,
       user_id || '@' || strftime(min(ts) OVER (PARTITION BY user_id, session_no)
                                  AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS session_key,
       session_id, series_id, episode_number, position_s, unlock_method, amount_usd,
       platform, app_version, country, language, source_shape
FROM numbered
ORDER BY ts, event_id;
