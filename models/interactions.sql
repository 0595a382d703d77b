-- User x story interactions from episode views before $cut (METRICS.md "Recommender
-- evaluation"): language versions of one story are one item. Watch depth, completion,
-- unlocks paid, likes and follows feed the confidence computed in interactions.py.
WITH views AS (
    SELECT v.user_id, s.story_id, v.episode_number, v.completed, v.started_at, s.language
    FROM analytics.episode_views v
    JOIN analytics.series s USING (series_id)
    WHERE v.started_at < $cut
), signals AS (
    SELECT e.user_id, s.story_id,
           count(*) FILTER (WHERE e.event_type = 'episode_unlock') AS unlocks,
           bool_or(e.event_type IN ('like', 'follow')) AS liked
    FROM raw.events e
    JOIN analytics.series s USING (series_id)
    WHERE e.ts < $cut AND e.event_type IN ('episode_unlock', 'like', 'follow')
    GROUP BY ALL
)
SELECT v.user_id, v.story_id,
       count(DISTINCT v.episode_number) AS episodes_viewed,
       count(DISTINCT v.episode_number) FILTER (WHERE v.completed) AS episodes_completed,
       coalesce(any_value(g.unlocks), 0) AS unlocks,
       coalesce(any_value(g.liked), false) AS liked,
       min(v.started_at) AS first_at,
       max(v.started_at) AS last_at,
       mode(v.language) AS language,
       epoch($as_of::TIMESTAMPTZ - max(v.started_at)) / 86400.0 AS age_days,
       epoch($as_of::TIMESTAMPTZ - min(v.started_at)) / 86400.0 AS first_age_days
FROM views v
LEFT JOIN signals g USING (user_id, story_id)
GROUP BY v.user_id, v.story_id
