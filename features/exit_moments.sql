-- analytics.episode_exit_moments (METRICS.md "Exit moments"): per series x episode x 5-s
-- bucket, the views still watching at the bucket's start, the early exits inside it (views
-- not completed whose max_position_s lies in [b, b + bucket_s)) and their share, beside the
-- series' pooled share at the same position over its episodes. is_exit_moment is set by
-- features/exit_moments.py (one-sided binomial test, Benjamini-Hochberg per series).
-- "The same position" is the same bucket counted from the episode's start, except in the
-- closing stretch (from closing_fraction x duration_s on), where viewers leave once the
-- cliffhanger is reached: there it is the same bucket counted back from the episode's end, so
-- the end of a short episode is compared with the ends of the others, not with their middles.
-- Bound: $bucket_s, $closing_fraction.
CREATE OR REPLACE TABLE analytics.episode_exit_moments AS
WITH views AS (
    SELECT v.series_id, v.episode_number, v.completed,
           least(floor(v.max_position_s / $bucket_s), floor(v.duration_s / $bucket_s))::INTEGER
               AS bucket
    FROM analytics.episode_views v
    WHERE v.duration_s IS NOT NULL
), per_bucket AS (
    SELECT series_id, episode_number, bucket, count(*) AS n,
           count(*) FILTER (WHERE NOT completed) AS exits
    FROM views GROUP BY ALL
), episodes AS (
    SELECT e.series_id, e.episode_number, e.duration_s,
           floor(e.duration_s / $bucket_s)::INTEGER AS last_bucket
    FROM analytics.episodes e
    SEMI JOIN per_bucket p USING (series_id, episode_number)
), grid AS (
    SELECT series_id, episode_number, duration_s, last_bucket,
           unnest(range(0, last_bucket + 1)) AS bucket
    FROM episodes
), cells AS (
    SELECT g.series_id, g.episode_number, g.bucket, g.duration_s,
           g.bucket * $bucket_s AS bucket_start_s,
           -- still watching at b: views whose max position is in this bucket or a later one
           coalesce(sum(p.n) OVER (PARTITION BY g.series_id, g.episode_number
                                   ORDER BY g.bucket DESC ROWS UNBOUNDED PRECEDING), 0)::BIGINT
               AS views,
           coalesce(p.exits, 0)::BIGINT AS early_exits,
           CASE WHEN g.bucket * $bucket_s >= $closing_fraction * g.duration_s
                THEN 'end' ELSE 'start' END AS aligned_on,
           CASE WHEN g.bucket * $bucket_s >= $closing_fraction * g.duration_s
                THEN g.last_bucket - g.bucket ELSE g.bucket END AS aligned_bucket
    FROM grid g LEFT JOIN per_bucket p USING (series_id, episode_number, bucket)
)
SELECT series_id, episode_number, bucket_start_s, duration_s, views, early_exits,
       CASE WHEN views > 0 THEN early_exits / views END AS exit_share,
       aligned_on,
       sum(early_exits) OVER pos / nullif(sum(views) OVER pos, 0) AS series_pooled_exit_share,
       1.0::DOUBLE AS q_value,
       false AS is_exit_moment
FROM cells
WINDOW pos AS (PARTITION BY series_id, aligned_on, aligned_bucket)
ORDER BY series_id, episode_number, bucket_start_s;
