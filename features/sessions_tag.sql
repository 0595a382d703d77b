-- Sessions and episode views of the events in `retag` (all events, or an increment's scope),
-- appended to analytics.sessions and analytics.episode_views (METRICS.md "Sessions and views").
-- Bound: $gap_minutes, $complete_fraction, $binge_min_episodes.
--
-- One ordered pass per user: a gap of more than $gap_minutes starts a session; an
-- episode_start or a new session starts a "view group". A view is a group's episode_start
-- with the group's progress/complete/exit events of the same episode; events of a group
-- without a start (before the first start of a session) belong to no view. Starts sort
-- before other events at the same instant.
CREATE OR REPLACE TEMP TABLE tagged AS
WITH flagged AS (
    SELECT user_id, ts, event_id, event_type, series_id, episode_number, position_s,
           coalesce(ts - lag(ts) OVER w > to_minutes($gap_minutes::BIGINT), true) AS new_session
    FROM retag
    WINDOW w AS (PARTITION BY user_id ORDER BY ts, event_type <> 'episode_start', event_id)
)
SELECT user_id, ts, event_type, series_id, episode_number, position_s,
       sum(new_session::INTEGER) OVER w AS session_no,
       sum((new_session OR event_type = 'episode_start')::INTEGER) OVER w AS group_no
FROM flagged
WINDOW w AS (PARTITION BY user_id ORDER BY ts, event_type <> 'episode_start', event_id);

CREATE OR REPLACE TEMP TABLE new_sessions AS
SELECT user_id, session_no,
       -- the key is the user and the session's first instant: the same events, the same key
       user_id || '@' || strftime(min(ts) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ')
           AS session_key,
       min(ts) AS started_at, max(ts) AS ended_at, count(*) AS n_events
FROM tagged GROUP BY user_id, session_no;

CREATE OR REPLACE TEMP TABLE new_views AS
WITH starts AS (
    SELECT user_id, session_no, group_no, series_id, episode_number, ts AS started_at,
           row_number() OVER (PARTITION BY user_id, session_no ORDER BY group_no) AS view_no
    FROM tagged WHERE event_type = 'episode_start'
), followers AS (
    SELECT user_id, group_no, series_id, episode_number,
           max(position_s) AS max_position_s,
           bool_or(event_type = 'episode_complete') AS saw_complete
    FROM tagged
    WHERE event_type IN ('episode_progress', 'episode_complete', 'episode_exit')
    GROUP BY ALL
), joined AS (
    SELECT st.user_id, st.session_no, ns.session_key, st.view_no, st.series_id,
           st.episode_number, st.started_at,
           coalesce(f.max_position_s, 0) AS max_position_s,
           coalesce(f.saw_complete, false) AS saw_complete,
           e.duration_s
    FROM starts st
    JOIN new_sessions ns USING (user_id, session_no)
    LEFT JOIN followers f
           ON f.user_id = st.user_id AND f.group_no = st.group_no
          AND f.series_id = st.series_id AND f.episode_number = st.episode_number
    LEFT JOIN analytics.episodes e
           ON e.series_id = st.series_id AND e.episode_number = st.episode_number
)
SELECT user_id, session_no,
       session_key || '#' || view_no AS view_id, session_key, series_id, episode_number,
       started_at, started_at::DATE AS start_date, max_position_s, duration_s,
       least(1.0, max_position_s / duration_s) AS watched_fraction,
       saw_complete OR least(1.0, max_position_s / duration_s) >= $complete_fraction
           AS completed
FROM joined;

INSERT INTO analytics.episode_views
SELECT view_id, user_id, session_key, series_id, episode_number, started_at, start_date,
       max_position_s, duration_s, watched_fraction, coalesce(completed, false)
FROM new_views;

INSERT INTO derived.touched_episodes
SELECT DISTINCT series_id, episode_number FROM new_views;

INSERT INTO analytics.sessions
WITH per_session AS (
    SELECT user_id, session_no, count(*) AS episodes_started,
           count(DISTINCT series_id) AS distinct_series, sum(max_position_s) AS watch_s
    FROM new_views GROUP BY ALL
)
SELECT s.session_key, s.user_id, s.started_at, s.ended_at, s.started_at::DATE,
       epoch(s.ended_at - s.started_at), s.n_events,
       coalesce(p.episodes_started, 0), coalesce(p.distinct_series, 0),
       coalesce(p.watch_s, 0), coalesce(p.episodes_started, 0) >= $binge_min_episodes
FROM new_sessions s LEFT JOIN per_session p USING (user_id, session_no);
