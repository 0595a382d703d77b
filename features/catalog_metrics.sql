-- Retention cohorts and the series scorecard (METRICS.md); the within-episode retention
-- curve is in retention_curve.sql.

-- Retention cohorts: users by the UTC date of their first event, active again n days later
-- (on day n, and on or after day n). Days not yet observable are absent.
CREATE OR REPLACE TABLE analytics.retention_cohorts AS
WITH active AS (
    SELECT user_id, event_date FROM derived.user_days
), users AS (
    SELECT user_id, min(event_date) AS cohort_date, max(event_date) AS last_date
    FROM active GROUP BY 1
), sizes AS (
    SELECT cohort_date, count(*) AS cohort_users FROM users GROUP BY 1
), grid AS (
    SELECT s.cohort_date, s.cohort_users,
           unnest(range(0, (SELECT max(event_date) FROM derived.user_days) - s.cohort_date + 1))
               AS day
    FROM sizes s
), on_day AS (
    SELECT u.cohort_date, a.event_date - u.cohort_date AS day, count(*) AS retained_users
    FROM active a JOIN users u USING (user_id) GROUP BY ALL
), on_or_after AS (
    SELECT g.cohort_date, g.day, count(u.user_id) AS retained_on_or_after
    FROM grid g LEFT JOIN users u
      ON u.cohort_date = g.cohort_date AND u.last_date >= g.cohort_date + g.day::INTEGER
    GROUP BY ALL
)
SELECT g.cohort_date, g.day::INTEGER AS day, g.cohort_users,
       coalesce(d.retained_users, 0) AS retained_users,
       coalesce(d.retained_users, 0) / g.cohort_users AS retention_rate,
       o.retained_on_or_after,
       o.retained_on_or_after / g.cohort_users AS retention_rate_on_or_after
FROM grid g
LEFT JOIN on_day d ON d.cohort_date = g.cohort_date AND d.day = g.day
JOIN on_or_after o ON o.cohort_date = g.cohort_date AND o.day = g.day
ORDER BY g.cohort_date, g.day;

-- The series scorecard: one row per series version. Funnel ratios are taken among the
-- viewers of episode 1 (so that viewers who entered mid-series cannot push them above 1).
CREATE OR REPLACE TABLE analytics.series_scorecard AS
WITH reached AS (
    -- per user x series: which funnel steps they viewed (one pass over the views)
    SELECT v.user_id, v.series_id,
           bool_or(v.episode_number = 1) AS ep1,
           bool_or(v.episode_number = s.n_episodes) AS last,
           bool_or(v.episode_number = s.free_episodes) AS free,
           bool_or(v.episode_number = s.free_episodes + 1) AS pay
    FROM analytics.episode_views v JOIN analytics.series s USING (series_id)
    GROUP BY ALL
), from_start AS (
    SELECT series_id,
           count(*) FILTER (WHERE ep1) AS viewers_ep1,
           count(*) FILTER (WHERE ep1 AND last) AS reached_last,
           count(*) FILTER (WHERE ep1 AND free) AS reached_free,
           count(*) FILTER (WHERE free AND pay) AS converted,
           count(*) FILTER (WHERE free) AS viewers_free,
           count(*) AS viewers
    FROM reached GROUP BY series_id
), views AS (
    SELECT v.series_id, f.viewers, count(*) AS episode_views,
           sum(v.max_position_s) / 3600 AS watch_hours
    FROM analytics.episode_views v JOIN from_start f USING (series_id)
    GROUP BY v.series_id, f.viewers
), revenue AS (
    SELECT series_id, sum(amount_usd) AS revenue_usd
    FROM raw.events WHERE event_type = 'purchase' AND series_id IS NOT NULL GROUP BY 1
), allocated AS (
    SELECT series_id, sum(allocated_revenue_usd) AS allocated_revenue_usd,
           sum(coins_usd) AS allocated_coins_usd, sum(ad_usd) AS allocated_ad_usd,
           sum(subscription_usd) AS allocated_subscription_usd
    FROM analytics.series_revenue_daily GROUP BY 1
), span AS (
    SELECT min(date) AS first_date, max(date) AS last_date FROM analytics.daily_engagement
), at_age AS (
    -- like for like: each version over its first comparison_age_days since release, for the
    -- versions observed from their release for at least that long
    SELECT s.series_id,
           count(DISTINCT v.user_id) AS viewers_at_age,
           coalesce(sum(v.max_position_s), 0) / 3600 AS watch_hours_at_age
    -- CROSS JOIN, not a comma: DuckDB 1.5 reads `s, span LEFT JOIN v ON ... s ...` as a
    -- correlated (lateral) join it cannot plan
    FROM analytics.series s CROSS JOIN span
    LEFT JOIN analytics.episode_views v
      ON v.series_id = s.series_id
     AND v.start_date < s.release_date + $comparison_age_days::INTEGER
    WHERE s.release_date >= span.first_date
      AND s.release_date + $comparison_age_days::INTEGER <= span.last_date
    GROUP BY 1
), revenue_spread AS (
    SELECT series_id, sum(usd * usd) AS usd_squared FROM derived.user_series_revenue GROUP BY 1
), version_viewers AS (
    SELECT DISTINCT v.user_id, v.series_id, s.story_id
    FROM analytics.episode_views v JOIN analytics.series s USING (series_id)
), incremental AS (
    -- viewers of a dub who never watched its original (in the data): the audience it added
    SELECT d.series_id, count(*) AS incremental_viewers
    FROM version_viewers d
    JOIN analytics.series s ON s.series_id = d.series_id AND s.is_dubbed
    ANTI JOIN version_viewers o
      ON o.user_id = d.user_id AND o.series_id = s.original_series_id
    GROUP BY 1
), revenue_at_age AS (
    SELECT r.series_id, sum(r.allocated_revenue_usd) AS allocated_revenue_at_age_usd
    FROM analytics.series_revenue_daily r JOIN analytics.series s USING (series_id)
    WHERE r.date < s.release_date + $comparison_age_days::INTEGER
    GROUP BY 1
)
SELECT s.series_id, s.title, s.language, s.production_type, s.genres, s.story_id,
       s.original_series_id, s.is_dubbed, s.release_date, s.n_episodes, s.free_episodes,
       coalesce(v.viewers, 0) AS viewers,
       f.continuation_rate AS hook_rate,
       CASE WHEN fs.viewers_ep1 > 0 THEN fs.reached_last / fs.viewers_ep1 END AS completion_rate,
       CASE WHEN fs.viewers_ep1 > 0 AND s.free_episodes >= 1
            THEN fs.reached_free / fs.viewers_ep1 END AS paywall_reach_rate,
       CASE WHEN fs.viewers_free > 0 AND s.free_episodes < s.n_episodes
            THEN fs.converted / fs.viewers_free END AS paywall_conversion_rate,
       CASE WHEN v.viewers > 0 THEN v.episode_views / v.viewers END AS episodes_per_viewer,
       coalesce(v.watch_hours, 0) AS watch_hours,
       coalesce(r.revenue_usd, 0) AS revenue_usd,
       coalesce(a.allocated_revenue_usd, 0) AS allocated_revenue_usd,
       coalesce(a.allocated_coins_usd, 0) AS allocated_coins_usd,
       coalesce(a.allocated_ad_usd, 0) AS allocated_ad_usd,
       coalesce(a.allocated_subscription_usd, 0) AS allocated_subscription_usd,
       CASE WHEN v.viewers > 0 THEN coalesce(a.allocated_revenue_usd, 0) / v.viewers END
           AS allocated_revenue_per_viewer,
       -- standard error of that mean over viewers (those who paid nothing count as 0)
       CASE WHEN v.viewers > 1 THEN sqrt(greatest(coalesce(rs.usd_squared, 0) / v.viewers
            - (coalesce(a.allocated_revenue_usd, 0) / v.viewers) ** 2, 0) / (v.viewers - 1))
       END AS allocated_revenue_per_viewer_se,
       -- the counts behind the rates, for intervals and shrinkage
       coalesce(fs.viewers_ep1, 0) AS episode1_viewers,
       round(coalesce(f.continuation_rate * f.viewers, 0))::BIGINT AS hooked_viewers,
       coalesce(fs.reached_last, 0) AS finishers,
       coalesce(fs.viewers_free, 0) AS last_free_viewers,
       coalesce(fs.converted, 0) AS paywall_converters,
       CASE WHEN s.is_dubbed THEN coalesce(i.incremental_viewers, 0) END AS incremental_viewers,
       s.production_cost_usd,
       CASE WHEN v.watch_hours > 0 THEN s.production_cost_usd / v.watch_hours END
           AS cost_per_watch_hour,
       g.series_id IS NOT NULL AS observed_at_comparison_age,
       $comparison_age_days::INTEGER AS comparison_age_days,
       g.viewers_at_age,
       g.watch_hours_at_age,
       CASE WHEN g.series_id IS NOT NULL THEN coalesce(ra.allocated_revenue_at_age_usd, 0) END
           AS allocated_revenue_at_age_usd,
       CASE WHEN g.watch_hours_at_age > 0 THEN s.production_cost_usd / g.watch_hours_at_age END
           AS cost_per_watch_hour_at_age,
       CASE WHEN v.watch_hours > 0 THEN coalesce(r.revenue_usd, 0) / v.watch_hours END
           AS revenue_per_watch_hour,
       f.series_still_active_share AS still_active_share,
       coalesce(f.dropoff_measurable, false) AS dropoff_measurable
FROM analytics.series s
LEFT JOIN views v USING (series_id)
LEFT JOIN from_start fs USING (series_id)
LEFT JOIN revenue r USING (series_id)
LEFT JOIN allocated a USING (series_id)
LEFT JOIN at_age g USING (series_id)
LEFT JOIN revenue_at_age ra USING (series_id)
LEFT JOIN revenue_spread rs USING (series_id)
LEFT JOIN incremental i USING (series_id)
LEFT JOIN analytics.series_episode_funnel f
       ON f.series_id = s.series_id AND f.episode_number = 1
ORDER BY s.series_id;
