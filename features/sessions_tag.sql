-- Sessions and episode views of the events in `retag` (all events, or an increment's scope),
-- appended to analytics.sessions and analytics.episode_views (METRICS.md "Sessions and views").
-- Bound: $gap_minutes, $complete_fraction, $binge_min_episodes.
--
-- One ordered pass per user (by time, an episode_start before other events of the same
-- instant, then a hash of event_id): a gap of more than $gap_minutes starts a session; each
-- episode_start opens a "view group". Events before a user's first start belong to no view.
CREATE OR REPLACE TEMP TABLE grouped AS
WITH ordered AS (
    -- the one ordered pass: previous event time, position in the user's timeline, and the
    -- view group (the number of episode_starts so far)
    SELECT user_id, ts, event_type, series_id, episode_number, position_s,
           lag(ts) OVER w AS prev_ts,
           row_number() OVER w AS rn,
           sum((event_type = 'episode_start')::INTEGER) OVER (w ROWS UNBOUNDED PRECEDING) AS vc
    FROM retag
    WINDOW w AS (PARTITION BY user_id ORDER BY ts, event_type <> 'episode_start', hash(event_id))
), flagged AS (
    SELECT *,
           prev_ts IS NULL OR ts - prev_ts > to_minutes($gap_minutes::BIGINT) AS is_break,
           event_type IN ('episode_progress', 'episode_complete', 'episode_exit') AS follows
    FROM ordered
)
-- one aggregation per (user, view group, series, episode): the group's episode_start falls in
-- the row of its own episode, with the followers of that episode; session breaks are kept
SELECT user_id, vc, series_id, episode_number,
       min(ts) FILTER (WHERE event_type = 'episode_start') AS started_at,
       max(position_s) FILTER (WHERE follows) AS max_position_s,
       bool_or(event_type = 'episode_complete') AS saw_complete,
       max(ts) FILTER (WHERE follows) AS last_follow_at,
       min(ts) FILTER (WHERE is_break AND event_type <> 'episode_start') AS first_break_at,
       list({'ts': ts, 'prev_ts': prev_ts, 'rn': rn}) FILTER (WHERE is_break) AS breaks,
       max(ts) AS last_at, max(rn) AS last_rn
FROM flagged
GROUP BY user_id, vc, series_id, episode_number;

-- Sessions from the breaks: each runs from its break to the event before the next break
CREATE OR REPLACE TEMP TABLE new_sessions AS
WITH breaks AS (
    SELECT user_id, unnest(breaks, recursive := true)
    FROM grouped WHERE breaks IS NOT NULL
), users AS (
    SELECT user_id, max(last_at) AS last_at, max(last_rn) AS last_rn
    FROM grouped GROUP BY user_id
), bounded AS (
    SELECT b.user_id, b.ts AS started_at,
           coalesce(lead(b.prev_ts) OVER w, u.last_at) AS ended_at,
           coalesce(lead(b.rn) OVER w, u.last_rn + 1) - b.rn AS n_events,
           row_number() OVER w AS session_no
    FROM breaks b JOIN users u USING (user_id)
    WINDOW w AS (PARTITION BY b.user_id ORDER BY b.ts)
)
SELECT user_id, session_no,
       -- the key is the user and the session's first instant: the same events, the same key
       user_id || '@' || strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ')
           AS session_key,
       started_at, ended_at, n_events
FROM bounded;

-- A view is a group's episode_start with the group's progress/complete/exit events of the
-- same episode, up to the end of its session. Where a session break falls inside a group
-- after a follower (rare: a pause of more than the gap without a new start), the followers
-- are re-read up to the break.
CREATE OR REPLACE TEMP TABLE view_candidates AS
WITH group_breaks AS (
    SELECT user_id, vc, min(first_break_at) AS first_break_at
    FROM grouped WHERE first_break_at IS NOT NULL GROUP BY ALL
)
SELECT d.user_id, d.vc, d.series_id, d.episode_number, d.started_at, d.max_position_s,
       d.saw_complete, g.first_break_at,
       g.first_break_at IS NOT NULL AND d.last_follow_at >= g.first_break_at AS cut_by_break
FROM grouped d
LEFT JOIN group_breaks g USING (user_id, vc)
WHERE d.started_at IS NOT NULL;

CREATE OR REPLACE TEMP TABLE recut AS
SELECT c.user_id, c.vc, max(r.position_s) AS max_position_s,
       bool_or(r.event_type = 'episode_complete') AS saw_complete
FROM (SELECT * FROM view_candidates WHERE cut_by_break) c
JOIN retag r
  ON r.user_id = c.user_id AND r.series_id = c.series_id
 AND r.episode_number = c.episode_number
 AND r.ts >= c.started_at AND r.ts < c.first_break_at
 AND r.event_type IN ('episode_progress', 'episode_complete', 'episode_exit')
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE new_views AS
WITH fixed AS (
    SELECT c.user_id, c.vc, c.series_id, c.episode_number, c.started_at,
           CASE WHEN c.cut_by_break THEN x.max_position_s ELSE c.max_position_s END
               AS max_position_s,
           CASE WHEN c.cut_by_break THEN x.saw_complete ELSE c.saw_complete END
               AS saw_complete
    FROM view_candidates c LEFT JOIN recut x USING (user_id, vc)
), placed AS (
    SELECT f.*, s.session_no, s.session_key,
           row_number() OVER (PARTITION BY f.user_id, s.session_no ORDER BY f.vc) AS view_no
    FROM fixed f
    ASOF JOIN new_sessions s ON f.user_id = s.user_id AND f.started_at >= s.started_at
), joined AS (
    SELECT p.user_id, p.session_no, p.session_key, p.view_no, p.series_id, p.episode_number,
           p.started_at, coalesce(p.max_position_s, 0) AS max_position_s,
           coalesce(p.saw_complete, false) AS saw_complete, e.duration_s
    FROM placed p
    LEFT JOIN analytics.episodes e
           ON e.series_id = p.series_id AND e.episode_number = p.episode_number
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

-- the dates the new rows land on (core/shared_tables.py rewrites them at the next publish)
INSERT INTO derived.shared_dirty SELECT DISTINCT 'episode_views', start_date FROM new_views;
INSERT INTO derived.shared_dirty SELECT DISTINCT 'sessions', started_at::DATE FROM new_sessions;
