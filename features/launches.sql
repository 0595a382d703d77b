-- Launch curves (METRICS.md "Launches"): analytics.series_launch_daily, one row per series
-- version x age (days since release, day 0 = the release date), and analytics.launch_benchmark,
-- the typical curve of past observed launches by age. No parameters.
--
-- The bounds of the data: its first UTC date, its end (the latest ts) and the last complete
-- day. The date of the data end is never complete: its events may still be arriving, so it is
-- kept (flagged is_complete_day = false) but never compared, benchmarked or forecast from.
CREATE OR REPLACE TEMP TABLE launch_bounds AS
SELECT min(event_date) AS first_date,
       max(event_date) AS end_date,
       max(event_date) - 1 AS last_complete_date,
       max(ts) AS data_end
FROM raw.events;

CREATE OR REPLACE TEMP TABLE launch_user_firsts AS
-- per user x series version: the UTC date of the first view, and of the first view of the
-- funnel steps behind hook_rate_to_date and paywall_conversion_to_date
SELECT v.series_id, v.user_id,
       min(v.start_date) AS first_date,
       min(v.start_date) FILTER (WHERE v.episode_number = 1) AS ep1_date,
       min(v.start_date) FILTER (WHERE v.episode_number = 2) AS ep2_date,
       min(v.start_date) FILTER (WHERE v.episode_number = s.free_episodes) AS free_date,
       min(v.start_date) FILTER (WHERE v.episode_number = s.free_episodes + 1) AS pay_date
FROM analytics.episode_views v JOIN analytics.series s USING (series_id)
GROUP BY ALL;

CREATE OR REPLACE TABLE analytics.series_launch_daily AS
WITH versions AS (
    SELECT s.series_id, s.release_date, s.language, s.production_type, s.is_dubbed,
           s.n_episodes, s.free_episodes,
           s.release_date >= b.first_date AS is_observed_launch,
           greatest(b.first_date - s.release_date, 0) AS first_age,
           b.end_date - s.release_date AS last_age,
           b.last_complete_date
    FROM analytics.series s, launch_bounds b
    WHERE s.release_date <= b.end_date
), grid AS (
    SELECT v.*, unnest(range(v.first_age, v.last_age + 1)) AS age_days FROM versions v
), by_date AS (
    -- everything counted on the date it happened; joined to the grid on that date
    SELECT series_id, date,
           sum(new_viewers) AS new_viewers, sum(episode_views) AS episode_views,
           sum(watch_hours) AS watch_hours, sum(revenue_usd) AS revenue_usd,
           sum(ep1) AS ep1, sum(ep1_and_2) AS ep1_and_2, sum(free) AS free,
           sum(free_and_pay) AS free_and_pay
    FROM (
        SELECT series_id, first_date AS date, count(*) AS new_viewers, 0 AS episode_views,
               0.0 AS watch_hours, 0.0 AS revenue_usd, 0 AS ep1, 0 AS ep1_and_2, 0 AS free,
               0 AS free_and_pay
        FROM launch_user_firsts GROUP BY ALL
        UNION ALL
        SELECT series_id, start_date, 0, count(*), sum(max_position_s) / 3600, 0, 0, 0, 0, 0
        FROM analytics.episode_views GROUP BY ALL
        UNION ALL
        SELECT series_id, event_date, 0, 0, 0, sum(amount_usd), 0, 0, 0, 0
        FROM raw.events WHERE event_type = 'purchase' AND series_id IS NOT NULL GROUP BY ALL
        -- a funnel step is reached on the date both of its episodes have been viewed
        UNION ALL
        SELECT series_id, ep1_date, 0, 0, 0, 0, count(*), 0, 0, 0
        FROM launch_user_firsts WHERE ep1_date IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT series_id, greatest(ep1_date, ep2_date), 0, 0, 0, 0, 0, count(*), 0, 0
        FROM launch_user_firsts WHERE ep1_date IS NOT NULL AND ep2_date IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT series_id, free_date, 0, 0, 0, 0, 0, 0, count(*), 0
        FROM launch_user_firsts WHERE free_date IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT series_id, greatest(free_date, pay_date), 0, 0, 0, 0, 0, 0, 0, count(*)
        FROM launch_user_firsts WHERE free_date IS NOT NULL AND pay_date IS NOT NULL GROUP BY ALL
    ) GROUP BY ALL
), daily AS (
    SELECT g.series_id, g.age_days::INTEGER AS age_days,
           (g.release_date + g.age_days::INTEGER) AS date, g.release_date, g.language,
           g.production_type, g.is_dubbed, g.n_episodes, g.free_episodes, g.is_observed_launch,
           g.release_date + g.age_days::INTEGER <= g.last_complete_date AS is_complete_day,
           coalesce(d.new_viewers, 0)::BIGINT AS new_viewers,
           coalesce(d.episode_views, 0)::BIGINT AS episode_views,
           coalesce(d.watch_hours, 0)::DOUBLE AS watch_hours,
           coalesce(d.revenue_usd, 0)::DOUBLE AS revenue_usd,
           coalesce(d.ep1, 0) AS ep1, coalesce(d.ep1_and_2, 0) AS ep1_and_2,
           coalesce(d.free, 0) AS free, coalesce(d.free_and_pay, 0) AS free_and_pay
    FROM grid g
    LEFT JOIN by_date d ON d.series_id = g.series_id
                       AND d.date = g.release_date + g.age_days::INTEGER
), running AS (
    SELECT *,
           sum(new_viewers) OVER w AS cumulative_viewers,
           sum(episode_views) OVER w AS cumulative_episode_views,
           sum(watch_hours) OVER w AS cumulative_watch_hours,
           sum(revenue_usd) OVER w AS cumulative_revenue_usd,
           sum(ep1) OVER w AS episode1_viewers_to_date,
           sum(ep1_and_2) OVER w AS hooked_to_date,
           sum(free) OVER w AS last_free_viewers_to_date,
           sum(free_and_pay) OVER w AS converted_to_date
    FROM daily
    WINDOW w AS (PARTITION BY series_id ORDER BY age_days)
), launches AS (
    SELECT * REPLACE (cumulative_viewers::BIGINT AS cumulative_viewers,
                      cumulative_episode_views::BIGINT AS cumulative_episode_views),
           CASE WHEN n_episodes >= 2 AND episode1_viewers_to_date > 0
                THEN hooked_to_date / episode1_viewers_to_date END AS hook_rate_to_date,
           CASE WHEN free_episodes >= 1 AND free_episodes < n_episodes
                     AND last_free_viewers_to_date > 0
                THEN converted_to_date / last_free_viewers_to_date END
               AS paywall_conversion_to_date
    FROM running
), compared AS (
    -- each complete day of an observed launch against the earlier observed launches at the
    -- same age (released before it, hence observed at that age too)
    SELECT s.series_id, s.age_days,
           count(*) AS n_all,
           count(*) FILTER (WHERE t.cumulative_viewers <= s.cumulative_viewers) AS le_all,
           count(*) FILTER (WHERE t.language = s.language) AS n_lang,
           count(*) FILTER (WHERE t.language = s.language
                              AND t.cumulative_viewers <= s.cumulative_viewers) AS le_lang,
           count(*) FILTER (WHERE t.production_type = s.production_type) AS n_prod,
           count(*) FILTER (WHERE t.production_type = s.production_type
                              AND t.cumulative_viewers <= s.cumulative_viewers) AS le_prod
    FROM launches s
    JOIN launches t
      ON t.age_days = s.age_days AND t.release_date < s.release_date
     AND t.is_observed_launch AND t.is_complete_day
    WHERE s.is_observed_launch AND s.is_complete_day
    GROUP BY ALL
)
SELECT l.series_id, l.age_days, l.date, l.release_date, l.language, l.production_type,
       l.is_dubbed, l.is_observed_launch, l.is_complete_day,
       l.new_viewers, l.cumulative_viewers, l.episode_views, l.cumulative_episode_views,
       l.watch_hours, l.cumulative_watch_hours, l.revenue_usd, l.cumulative_revenue_usd,
       l.episode1_viewers_to_date, l.hook_rate_to_date,
       l.last_free_viewers_to_date, l.paywall_conversion_to_date,
       CASE WHEN c.n_all >= 5 THEN c.le_all / c.n_all END AS viewers_percentile_at_age,
       coalesce(c.n_all, 0) AS percentile_launches,
       CASE WHEN c.n_lang >= 5 THEN c.le_lang / c.n_lang END AS viewers_percentile_in_language,
       coalesce(c.n_lang, 0) AS percentile_launches_in_language,
       CASE WHEN c.n_prod >= 5 THEN c.le_prod / c.n_prod END
           AS viewers_percentile_in_production_type,
       coalesce(c.n_prod, 0) AS percentile_launches_in_production_type
FROM launches l
LEFT JOIN compared c USING (series_id, age_days)
ORDER BY l.series_id, l.age_days;

-- The typical launch curve: by age, the quartiles of the complete days of every observed
-- launch, over the whole catalogue and within each language and production type. Quartiles
-- are null where fewer than 5 launches have reached that age.
CREATE OR REPLACE TABLE analytics.launch_benchmark AS
WITH observed AS (
    SELECT * FROM analytics.series_launch_daily WHERE is_observed_launch AND is_complete_day
), grouped AS (
    SELECT age_days,
           CASE WHEN GROUPING(language) = 0 THEN 'language'
                WHEN GROUPING(production_type) = 0 THEN 'production_type'
                ELSE 'all' END AS segment,
           CASE WHEN GROUPING(language) = 0 THEN language
                WHEN GROUPING(production_type) = 0 THEN production_type
                ELSE 'all' END AS segment_value,
           count(*) AS n_launches,
           quantile_cont(cumulative_viewers, 0.25) AS viewers_p25,
           quantile_cont(cumulative_viewers, 0.5) AS viewers_median,
           quantile_cont(cumulative_viewers, 0.75) AS viewers_p75,
           quantile_cont(cumulative_watch_hours, 0.25) AS watch_hours_p25,
           quantile_cont(cumulative_watch_hours, 0.5) AS watch_hours_median,
           quantile_cont(cumulative_watch_hours, 0.75) AS watch_hours_p75,
           quantile_cont(cumulative_revenue_usd, 0.25) AS revenue_usd_p25,
           quantile_cont(cumulative_revenue_usd, 0.5) AS revenue_usd_median,
           quantile_cont(cumulative_revenue_usd, 0.75) AS revenue_usd_p75,
           median(hook_rate_to_date) AS hook_rate_median,
           median(paywall_conversion_to_date) AS paywall_conversion_median
    FROM observed
    GROUP BY GROUPING SETS ((age_days), (age_days, language), (age_days, production_type))
)
SELECT age_days, segment, segment_value, n_launches,
       CASE WHEN n_launches >= 5 THEN
           COLUMNS(lambda c: c NOT IN ('age_days', 'segment', 'segment_value', 'n_launches'))::DOUBLE
       END
FROM grouped
ORDER BY segment <> 'all', segment, segment_value, age_days;
