-- Recommendation performance (METRICS.md "Recommendation performance"): the app's impressions
-- and clicks joined to what the API served (raw.served_items), the starts they led to, and the
-- daily table by model version x variant x surface x position. $attribution_hours is the window.
--
-- 1. Every impression, matched to the served log or flagged with the reason it does not match.
--    Checked in order: the request id, then the model version, the variant, the series.
CREATE OR REPLACE TEMP TABLE rec_served_requests AS
SELECT request_id,
       list(DISTINCT model_version) AS model_versions,
       list(DISTINCT model_version || chr(1) || variant) AS versions_variants,
       any_value(experiment) FILTER (WHERE experiment IS NOT NULL) AS experiment
FROM raw.served_items GROUP BY 1;

CREATE OR REPLACE TEMP TABLE rec_served_series AS
SELECT DISTINCT request_id, model_version, variant, series_id,
       min(position) OVER (PARTITION BY request_id, model_version, variant, series_id)
           AS served_position
FROM raw.served_items WHERE series_id IS NOT NULL;

CREATE OR REPLACE TEMP TABLE rec_impressions_all AS
SELECT e.event_id, e.ts, e.event_date, e.user_id, e.request_id, e.model_version, e.variant,
       e.surface, e.list_position AS position, e.series_id,
       coalesce(s.story_id, e.series_id) AS story_id, r.experiment,
       ss.served_position,
       CASE
           WHEN r.request_id IS NULL THEN 'unknown_request_id'
           WHEN NOT list_contains(r.model_versions, e.model_version) THEN 'model_version_mismatch'
           WHEN NOT list_contains(r.versions_variants, e.model_version || chr(1) || e.variant)
               THEN 'variant_mismatch'
           WHEN ss.request_id IS NULL THEN 'series_not_served'
       END AS unmatched_reason
FROM raw.events e
LEFT JOIN analytics.series s USING (series_id)
LEFT JOIN rec_served_requests r USING (request_id)
LEFT JOIN rec_served_series ss
       ON ss.request_id = e.request_id AND ss.model_version = e.model_version
      AND ss.variant = e.variant AND ss.series_id = e.series_id
WHERE e.event_type = 'recommendation_impression';

-- 2. Counted impressions: matched ones, one per user x request x story (the first shown).
CREATE OR REPLACE TEMP TABLE rec_counted AS
SELECT *, row_number() OVER (ORDER BY ts, event_id) AS imp_idx  -- deterministic ties
FROM rec_impressions_all
WHERE unmatched_reason IS NULL
QUALIFY row_number() OVER (PARTITION BY user_id, request_id, story_id
                           ORDER BY ts, position, event_id) = 1;

-- 3. Clicks: a recommendation_click of the same request and story (taps counted once).
CREATE OR REPLACE TEMP TABLE rec_clicks AS
SELECT DISTINCT e.user_id, e.request_id, coalesce(s.story_id, e.series_id) AS story_id
FROM raw.events e LEFT JOIN analytics.series s USING (series_id)
WHERE e.event_type = 'recommendation_click';

-- 4. Starts of a story: each episode view, by story (any language version).
CREATE OR REPLACE TEMP TABLE rec_story_views AS
SELECT v.user_id, s.story_id, v.started_at, v.max_position_s, v.series_id, v.episode_number
FROM analytics.episode_views v JOIN analytics.series s USING (series_id)
SEMI JOIN rec_counted c ON c.user_id = v.user_id AND c.story_id = s.story_id;

-- each counted impression's candidate: the user's first start of the story at or after it;
-- of the impressions sharing one candidate start, the latest (then the last shown) gets it,
-- if the start falls within the window; a start before an impression is never its candidate
CREATE OR REPLACE TEMP TABLE rec_attributed AS
WITH candidate AS (
    SELECT i.imp_idx, i.user_id, i.story_id, i.ts, v.started_at AS start_at
    FROM rec_counted i
    ASOF LEFT JOIN rec_story_views v
         ON v.user_id = i.user_id AND v.story_id = i.story_id AND v.started_at >= i.ts
), winner AS (
    SELECT * FROM candidate WHERE start_at IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY user_id, story_id, start_at
                               ORDER BY ts DESC, imp_idx DESC) = 1
)
SELECT imp_idx, user_id, story_id, ts, start_at,
       ts + to_hours($attribution_hours::BIGINT) AS window_end
FROM winner
WHERE start_at <= ts + to_hours($attribution_hours::BIGINT);

-- what followed an attributed start inside the impression's window: episode views, watch
-- minutes, unlocks of the story
CREATE OR REPLACE TEMP TABLE rec_followed AS
WITH watched AS (
    SELECT a.imp_idx, count(*) AS episodes, sum(v.max_position_s) / 60 AS watch_minutes
    FROM rec_attributed a JOIN rec_story_views v
      ON v.user_id = a.user_id AND v.story_id = a.story_id
     AND v.started_at >= a.start_at AND v.started_at <= a.window_end
    GROUP BY 1
), unlocked AS (
    SELECT a.imp_idx, count(*) AS unlocks
    FROM rec_attributed a
    JOIN (SELECT u.user_id, s.story_id, u.ts FROM raw.events u
          JOIN analytics.series s USING (series_id)
          WHERE u.event_type = 'episode_unlock') u
      ON u.user_id = a.user_id AND u.story_id = a.story_id
     AND u.ts >= a.start_at AND u.ts <= a.window_end
    GROUP BY 1
)
SELECT a.imp_idx, coalesce(w.episodes, 0) AS episodes,
       coalesce(w.watch_minutes, 0) AS watch_minutes, coalesce(u.unlocks, 0) AS unlocks
FROM rec_attributed a LEFT JOIN watched w USING (imp_idx) LEFT JOIN unlocked u USING (imp_idx);

-- 5. The public per-impression table: every impression, matched or flagged.
CREATE OR REPLACE TABLE analytics.recommendation_impressions AS
SELECT i.event_id, i.ts, i.event_date AS date, i.user_id, i.request_id, i.model_version,
       i.variant, i.experiment, i.surface, i.position, i.series_id, i.story_id,
       i.unmatched_reason IS NULL AS is_matched, i.unmatched_reason, i.served_position,
       c.imp_idx IS NOT NULL AS is_counted,
       c.imp_idx IS NOT NULL AND k.request_id IS NOT NULL AS clicked,
       a.start_at AS attributed_start_at,
       coalesce(f.episodes, 0) AS episodes,
       coalesce(f.watch_minutes, 0) AS watch_minutes,
       coalesce(f.unlocks, 0) AS unlocks
FROM rec_impressions_all i
LEFT JOIN rec_counted c USING (event_id)
LEFT JOIN rec_clicks k
       ON c.imp_idx IS NOT NULL AND k.user_id = i.user_id AND k.request_id = i.request_id
      AND k.story_id = i.story_id
LEFT JOIN rec_attributed a ON a.imp_idx = c.imp_idx
LEFT JOIN rec_followed f ON f.imp_idx = c.imp_idx
ORDER BY i.ts, i.event_id;

-- 6. The daily table; Wilson 95 % intervals for the two rates (impressions as trials).
CREATE OR REPLACE TABLE analytics.recommendation_performance AS
WITH cells AS (
    SELECT date, model_version, variant, surface, position,
           count(*) FILTER (WHERE is_counted) AS impressions,
           count(*) FILTER (WHERE clicked) AS clicks,
           count(attributed_start_at) AS attributed_starts,
           sum(episodes) AS episodes,
           sum(watch_minutes) AS watch_minutes,
           sum(unlocks) AS unlocks,
           count(DISTINCT user_id) FILTER (WHERE is_counted) AS users,
           count(*) FILTER (WHERE NOT is_matched) AS unmatched_impressions,
           count(*) FILTER (WHERE is_matched AND NOT is_counted) AS repeated_impressions
    FROM analytics.recommendation_impressions
    GROUP BY ALL
), rates AS (
    SELECT *, clicks / nullif(impressions, 0) AS ctr,
           attributed_starts / nullif(impressions, 0) AS start_rate,
           1.959963984540054 AS z
    FROM cells
)
SELECT date, model_version, variant, surface, position, impressions, clicks, ctr,
       (ctr + z * z / (2 * impressions)
        - z * sqrt(ctr * (1 - ctr) / impressions + z * z / (4 * impressions * impressions)))
           / (1 + z * z / impressions) AS ctr_ci_low,
       (ctr + z * z / (2 * impressions)
        + z * sqrt(ctr * (1 - ctr) / impressions + z * z / (4 * impressions * impressions)))
           / (1 + z * z / impressions) AS ctr_ci_high,
       attributed_starts, start_rate,
       (start_rate + z * z / (2 * impressions)
        - z * sqrt(start_rate * (1 - start_rate) / impressions
                   + z * z / (4 * impressions * impressions)))
           / (1 + z * z / impressions) AS start_rate_ci_low,
       (start_rate + z * z / (2 * impressions)
        + z * sqrt(start_rate * (1 - start_rate) / impressions
                   + z * z / (4 * impressions * impressions)))
           / (1 + z * z / impressions) AS start_rate_ci_high,
       episodes, watch_minutes, unlocks, users, unmatched_impressions, repeated_impressions
FROM rates
ORDER BY date, model_version, variant, surface, position;
