-- What the API needs beside the model: each user's main language, and per language the
-- popular (distinct viewers, of the last $window_days days when set) and trending (viewers
-- weighted by the recency of their last view, half-life $half_life_days) series versions: the
-- tuned baselines' definitions (models/recommenders.py), per series version.
-- Bound: $half_life_days, $window_days (NULL: all history).

-- users' main language: the language of most of their views (ties: alphabetical), and every
-- language they watched, most watched first (the order a short list is filled in)
CREATE OR REPLACE TEMP TABLE user_language AS
SELECT user_id, watched_languages[1] AS main_language, watched_languages
FROM (SELECT user_id, list(language ORDER BY n DESC, language) AS watched_languages
      FROM (SELECT v.user_id, s.language, count(*) AS n
            FROM analytics.episode_views v JOIN analytics.series s USING (series_id)
            GROUP BY ALL)
      GROUP BY user_id);

-- the catalogue's most watched language (views; ties: alphabetical): the last fill of a list
CREATE OR REPLACE TEMP TABLE catalogue_language AS
SELECT s.language, count(*) AS views
FROM analytics.episode_views v JOIN analytics.series s USING (series_id)
GROUP BY ALL ORDER BY views DESC, s.language LIMIT 1;

CREATE OR REPLACE TEMP TABLE popular_lists AS
WITH starts AS (
    SELECT v.user_id, v.series_id, max(v.started_at) AS last_at
    FROM analytics.episode_views v GROUP BY ALL
), data_end AS (
    SELECT max(ts) AS data_end FROM raw.events
), scored AS (
    SELECT s.language, st.series_id,
           count(*) FILTER (
               WHERE $window_days::DOUBLE IS NULL
                  OR epoch((SELECT data_end FROM data_end) - st.last_at) / 86400.0
                     <= $window_days::DOUBLE)::DOUBLE AS popular,
           sum(exp(-ln(2) * epoch((SELECT data_end FROM data_end) - st.last_at) / 86400.0
                   / $half_life_days)) AS trending
    FROM starts st JOIN analytics.series s USING (series_id)
    GROUP BY ALL
)
SELECT language, 'popular' AS list,
       row_number() OVER (PARTITION BY language ORDER BY popular DESC, series_id)::INTEGER
           AS rank,
       series_id, popular AS score
FROM scored
UNION ALL
SELECT language, 'trending' AS list,
       row_number() OVER (PARTITION BY language ORDER BY trending DESC, series_id)::INTEGER
           AS rank,
       series_id, trending AS score
FROM scored;
