-- Share of views still watching at t = 0, bucket_s, 2 bucket_s, ... up to the duration;
-- rewatches are separate views.
-- Only the episodes in temp table curve_scope are computed: every episode on a full build,
-- the episodes whose views an increment changed otherwise. Bound: $bucket_s.
CREATE OR REPLACE TEMP TABLE curve_rows AS
WITH views AS (
    SELECT v.series_id, v.episode_number, v.max_position_s, v.duration_s
    FROM analytics.episode_views v
    SEMI JOIN curve_scope c USING (series_id, episode_number)
    WHERE v.duration_s IS NOT NULL
), per_bucket AS (
    SELECT series_id, episode_number,
           least(floor(max_position_s / $bucket_s), floor(duration_s / $bucket_s))::INTEGER
               AS bucket,
           count(*) AS n
    FROM views GROUP BY ALL
), episodes AS (
    SELECT e.series_id, e.episode_number, e.duration_s, v.n_views
    FROM analytics.episodes e
    JOIN (SELECT series_id, episode_number, count(*) AS n_views FROM views GROUP BY ALL) v
      USING (series_id, episode_number)
), grid AS (
    SELECT series_id, episode_number, n_views,
           unnest(range(0, floor(duration_s / $bucket_s)::INTEGER + 1)) AS bucket
    FROM episodes
)
SELECT g.series_id, g.episode_number, g.bucket * $bucket_s AS bucket_start_s,
       g.n_views AS views,
       -- views whose max position is at least t: those in this bucket or a later one
       coalesce(sum(p.n) OVER (PARTITION BY g.series_id, g.episode_number ORDER BY g.bucket DESC
                               ROWS UNBOUNDED PRECEDING), 0) / g.n_views AS share_still_watching
FROM grid g LEFT JOIN per_bucket p USING (series_id, episode_number, bucket);
