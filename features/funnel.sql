-- analytics.series_episode_funnel (METRICS.md "Series funnel and drop-off"): per series and
-- episode, viewers, completion and continuation, and a Kaplan-Meier survival curve over the
-- episode index with censoring and left truncation, its 95 % confidence interval
-- (Greenwood variance on the log(-log) scale, as lifelines computes it), the drops split by
-- cause (METRICS.md "Drop-off by cause": at the paywall or to the story) with the Aalen-Johansen
-- cumulative incidence of each. is_dropoff_point is left false here: features/funnel.py sets it
-- from a one-sided binomial test of the story hazard with a Benjamini-Hochberg correction.
-- Bound at run time: inactive_days, z (the normal quantile, 1.96 for 95 %).
CREATE OR REPLACE TABLE analytics.series_episode_funnel AS
WITH data_end AS (
    SELECT max(ts) AS data_end FROM raw.events
), user_episodes AS (
    -- the views aggregated once per user x episode: every count below is a plain count
    SELECT user_id, series_id, episode_number,
           min(started_at) AS first_at, max(started_at) AS last_at,
           bool_or(completed) AS completed
    FROM analytics.episode_views GROUP BY ALL
), per_episode AS (
    SELECT series_id, episode_number,
           count(*) AS viewers,
           count(*) FILTER (WHERE completed) AS completers,
           min(first_at) AS first_view_at
    FROM user_episodes GROUP BY ALL
), session_episodes AS (
    SELECT user_id, series_id, session_key, episode_number,
           min(started_at) AS first_at, max(started_at) AS last_at
    FROM analytics.episode_views GROUP BY ALL
), continued_in_session AS (
    -- users who viewed e and then e + 1 in the same session: measurable from the first day,
    -- unlike drops, which wait for the inactivity window
    SELECT a.series_id, a.episode_number, count(DISTINCT a.user_id) AS continuers
    FROM session_episodes a
    JOIN session_episodes b
      ON b.user_id = a.user_id AND b.series_id = a.series_id AND b.session_key = a.session_key
     AND b.episode_number = a.episode_number + 1 AND b.last_at > a.first_at
    GROUP BY ALL
), continued AS (
    -- users who viewed e and later viewed e + 1
    SELECT a.series_id, a.episode_number, count(*) AS continuers
    FROM user_episodes a
    JOIN user_episodes b
      ON b.user_id = a.user_id AND b.series_id = a.series_id
     AND b.episode_number = a.episode_number + 1 AND b.last_at > a.first_at
    GROUP BY ALL
), journeys AS (
    -- one row per user x series: entry (episode of the first view), reach (highest viewed)
    SELECT user_id, series_id,
           arg_min(episode_number, (first_at, episode_number)) AS entry,
           max(episode_number) AS reach
    FROM user_episodes GROUP BY ALL
), last_seen AS (
    SELECT user_id, series_id, last_at FROM derived.user_series_last
), lock_screens AS (
    -- per user x series x episode: saw its lock screen, unlocked it (for the cause of a drop)
    SELECT user_id, series_id, episode_number,
           bool_or(event_type = 'paywall_view') AS saw_lock,
           bool_or(event_type = 'episode_unlock') AS unlocked
    FROM raw.events
    WHERE event_type IN ('paywall_view', 'episode_unlock') AND series_id IS NOT NULL
      AND episode_number IS NOT NULL
    GROUP BY ALL
), outcomes AS (
    SELECT j.*, s.n_episodes,
           j.reach < s.n_episodes
           AND l.last_at <= (SELECT data_end FROM data_end) - to_days($inactive_days::INTEGER)
               AS dropped,
           -- at the paywall: the lock screen of the next episode was shown and never unlocked
           coalesce(k.saw_lock AND NOT k.unlocked, false) AS stopped_at_lock
    FROM journeys j
    JOIN analytics.series s USING (series_id)
    JOIN last_seen l USING (user_id, series_id)
    LEFT JOIN lock_screens k
      ON k.user_id = j.user_id AND k.series_id = j.series_id
     AND k.episode_number = j.reach + 1
), measurability AS (
    -- per series: the share of viewers still inside the inactivity window short of the last
    -- episode, who can be neither dropped nor finished yet
    SELECT series_id,
           avg((NOT dropped AND reach < n_episodes)::INTEGER) AS still_active_share
    FROM outcomes GROUP BY 1
), entries AS (
    SELECT series_id, entry AS episode_number, count(*) AS n FROM outcomes GROUP BY ALL
), exits AS (
    SELECT series_id, reach AS episode_number, count(*) AS n,
           count(*) FILTER (WHERE dropped) AS dropped,
           count(*) FILTER (WHERE dropped AND stopped_at_lock) AS dropped_at_paywall
    FROM outcomes GROUP BY ALL
), grid AS (
    SELECT e.series_id, e.episode_number, s.n_episodes, s.free_episodes,
           coalesce(en.n, 0) AS entered, coalesce(ex.n, 0) AS exited,
           coalesce(ex.dropped, 0) AS dropped,
           coalesce(ex.dropped_at_paywall, 0) AS dropped_at_paywall,
           coalesce(ex.dropped, 0) - coalesce(ex.dropped_at_paywall, 0) AS dropped_story
    FROM analytics.episodes e
    JOIN analytics.series s USING (series_id)
    LEFT JOIN entries en USING (series_id, episode_number)
    LEFT JOIN exits ex USING (series_id, episode_number)
), risk AS (
    -- at_risk(e): entered at or before e, and reach >= e
    SELECT *,
           sum(entered) OVER w - coalesce(sum(exited) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING
                                                            AND 1 PRECEDING), 0) AS at_risk
    FROM grid
    WINDOW w AS (PARTITION BY series_id ORDER BY episode_number)
), km AS (
    SELECT *,
           CASE WHEN at_risk > 0 THEN dropped / at_risk END AS hazard,
           CASE WHEN at_risk > 0 THEN dropped_story / at_risk END AS story_hazard,
           CASE WHEN at_risk > 0 THEN dropped_at_paywall / at_risk END AS paywall_hazard,
           -- Kaplan-Meier: S(e) = prod (1 - d/n); Greenwood: sum d / (n (n - d))
           exp(sum(CASE WHEN at_risk > 0 AND dropped < at_risk THEN ln(1 - dropped / at_risk)
                        WHEN at_risk > 0 THEN '-inf'::DOUBLE ELSE 0 END)
               OVER (PARTITION BY series_id ORDER BY episode_number)) AS survival,
           sum(CASE WHEN at_risk > 0 AND dropped < at_risk
                    THEN dropped / (at_risk * (at_risk - dropped))
                    WHEN at_risk > 0 THEN 'inf'::DOUBLE ELSE 0 END)
               OVER (PARTITION BY series_id ORDER BY episode_number) AS greenwood
    FROM risk
), aj AS (
    -- Aalen-Johansen: CIF_k(e) = sum over j <= e of S(j - 1) d_k(j) / n(j), S(0) = 1, over
    -- the same (left-truncated) risk sets as Kaplan-Meier; CIF_paywall + CIF_story = 1 - S
    SELECT *,
           sum(CASE WHEN at_risk > 0 THEN s_before * dropped_at_paywall / at_risk ELSE 0 END)
               OVER w AS cumulative_incidence_paywall,
           sum(CASE WHEN at_risk > 0 THEN s_before * dropped_story / at_risk ELSE 0 END)
               OVER w AS cumulative_incidence_story
    FROM (SELECT *, coalesce(lag(survival) OVER w, 1.0) AS s_before FROM km
          WINDOW w AS (PARTITION BY series_id ORDER BY episode_number))
    WINDOW w AS (PARTITION BY series_id ORDER BY episode_number)
), ci AS (
    SELECT *,
           CASE WHEN survival > 0 AND survival < 1 THEN
               exp(-exp(ln(-ln(survival)) - $z * sqrt(greenwood) / ln(survival))) END AS ci_low,
           CASE WHEN survival > 0 AND survival < 1 THEN
               exp(-exp(ln(-ln(survival)) + $z * sqrt(greenwood) / ln(survival))) END AS ci_high,
           -- Wilson score interval of the hazard, for the drop-off rule (exactly 0 without a
           -- drop: the formula leaves ~1e-17 of rounding there)
           CASE WHEN at_risk > 0 AND dropped = 0 THEN 0.0
                WHEN at_risk > 0 THEN
               (hazard + $z * $z / (2 * at_risk)
                - $z * sqrt(hazard * (1 - hazard) / at_risk + $z * $z / (4 * at_risk * at_risk)))
               / (1 + $z * $z / at_risk) END AS hazard_ci_low
    FROM aj
), typical AS (
    -- the series' pooled hazards: all drops (story drops) over all user-episodes at risk
    SELECT series_id, sum(dropped) / nullif(sum(at_risk), 0) AS typical_hazard,
           sum(dropped_story) / nullif(sum(at_risk), 0) AS typical_story_hazard
    FROM ci GROUP BY 1
)
SELECT
    c.series_id, c.episode_number,
    coalesce(p.viewers, 0) AS viewers,
    CASE WHEN p.viewers > 0 THEN p.completers / p.viewers END AS completion_rate,
    CASE WHEN c.episode_number < c.n_episodes AND p.viewers > 0
         THEN coalesce(cn.continuers, 0) / p.viewers END AS continuation_rate,
    CASE WHEN c.episode_number < c.n_episodes AND p.viewers > 0
         THEN coalesce(cs.continuers, 0) / p.viewers END AS session_continuation_rate,
    c.at_risk, c.dropped, c.dropped_at_paywall, c.dropped_story,
    c.exited - c.dropped AS censored, c.hazard, c.story_hazard, c.paywall_hazard,
    c.survival,
    -- a survival of exactly 1 (no drop yet) or 0 has no spread on the log(-log) scale
    CASE WHEN c.survival = 1 THEN 1.0 WHEN c.survival = 0 THEN 0.0 ELSE c.ci_low END
        AS survival_ci_low,
    CASE WHEN c.survival = 1 THEN 1.0 WHEN c.survival = 0 THEN 0.0 ELSE c.ci_high END
        AS survival_ci_high,
    -- a KM survival of 0 can leave 1 - S a float step away from the sum of the two
    least(c.cumulative_incidence_paywall, 1.0) AS cumulative_incidence_paywall,
    least(c.cumulative_incidence_story, 1.0) AS cumulative_incidence_story,
    c.hazard_ci_low,
    t.typical_hazard AS series_typical_hazard,
    t.typical_story_hazard AS series_typical_story_hazard,
    c.episode_number = c.free_episodes + 1 AS is_paywall_episode,
    1.0::DOUBLE AS story_hazard_q_value,
    false AS is_dropoff_point,
    m.still_active_share AS series_still_active_share,
    coalesce(m.still_active_share <= 0.5, false) AS dropoff_measurable
FROM ci c
LEFT JOIN per_episode p USING (series_id, episode_number)
LEFT JOIN continued cn USING (series_id, episode_number)
LEFT JOIN continued_in_session cs USING (series_id, episode_number)
LEFT JOIN typical t USING (series_id)
LEFT JOIN measurability m USING (series_id)
ORDER BY c.series_id, c.episode_number;
