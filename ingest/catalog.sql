-- Normalise a staged catalog (stage_series, stage_episodes) into typed tables.
CREATE OR REPLACE TEMP TABLE typed_series AS
SELECT
    trim(series_id::VARCHAR) AS series_id,
    title::VARCHAR AS title,
    genres_list AS genres,
    lower(trim(language::VARCHAR)) AS language,
    nullif(trim(original_series_id::VARCHAR), '') AS original_series_id,
    TRY_CAST(n_episodes AS INTEGER) AS n_episodes,
    TRY_CAST(free_episodes AS INTEGER) AS free_episodes,
    TRY_CAST(release_date AS DATE) AS release_date,
    lower(trim(production_type::VARCHAR)) AS production_type,
    TRY_CAST(production_cost_usd AS DOUBLE) AS production_cost_usd,
    n_episodes::VARCHAR AS raw_n_episodes,
    free_episodes::VARCHAR AS raw_free_episodes,
    release_date::VARCHAR AS raw_release_date,
    production_cost_usd::VARCHAR AS raw_production_cost_usd
FROM stage_series_g;

CREATE OR REPLACE TEMP TABLE typed_episodes AS
SELECT
    trim(episode_id::VARCHAR) AS episode_id,
    trim(series_id::VARCHAR) AS series_id,
    TRY_CAST(episode_number AS INTEGER) AS episode_number,
    TRY_CAST(duration_s AS DOUBLE) AS duration_s,
    episode_number::VARCHAR AS raw_episode_number,
    duration_s::VARCHAR AS raw_duration_s
FROM stage_episodes;
