-- Records (relation `fields`, the columns of stage_fields) -> typed canonical values and,
-- for a bad record, the one machine-readable reason of CONTRACT §2c (checked in a fixed
-- order; the first failure wins). $now is the ingestion time (for ts_out_of_range).
WITH mapped AS (
    SELECT f.*,
        CASE
            WHEN f.shape = 'canonical' THEN
                CASE WHEN f.event_name IN ('app_open', 'episode_start', 'episode_progress',
                    'episode_complete', 'episode_exit', 'paywall_view', 'episode_unlock',
                    'purchase', 'like', 'share', 'follow', 'recommendation_impression',
                    'recommendation_click') THEN f.event_name END
            WHEN f.event_name = 'Product List Viewed' THEN 'recommendation_impression'
            WHEN f.event_name = 'Product Clicked' THEN 'recommendation_click'
            WHEN f.event_name = 'Video Content Started' THEN 'episode_start'
            WHEN f.event_name = 'Video Content Playing' THEN 'episode_progress'
            WHEN f.event_name = 'Video Content Completed' THEN 'episode_complete'
            WHEN f.event_name IN ('Video Playback Exited', 'Video Playback Interrupted')
                THEN 'episode_exit'
            -- other Video Spec events are kept as their own types
            WHEN f.event_name IN ('Video Playback Started', 'Video Playback Paused',
                'Video Playback Resumed', 'Video Playback Buffer Started',
                'Video Playback Buffer Completed', 'Video Playback Seek Started',
                'Video Playback Seek Completed', 'Video Playback Completed', 'Video Ad Started',
                'Video Ad Playing', 'Video Ad Completed', 'Video Quality Updated')
                THEN lower(replace(f.event_name, ' ', '_'))
        END AS event_type,
        CASE
            -- epoch milliseconds (bounded so that absurd numbers are a bad value, not an error)
            WHEN f.ts_kind IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'INTEGER')
                AND TRY_CAST(f.ts_raw AS DOUBLE) BETWEEN -1e15 AND 1e15
                THEN to_timestamp(TRY_CAST(f.ts_raw AS DOUBLE) / 1000.0)
            WHEN f.ts_kind = 'TIMESTAMPTZ' THEN TRY_CAST(f.ts_raw AS TIMESTAMPTZ)
            WHEN f.ts_kind = 'TIMESTAMP' THEN TRY_CAST(f.ts_raw || '+00' AS TIMESTAMPTZ)
            -- ISO-8601 with a time and an offset: ...Z, ...+09:00, ...+0900, ...+09
            WHEN contains(f.ts_raw, ':')
                 AND (f.ts_raw[-1:] IN ('Z', 'z')
                      OR (f.ts_raw[-6:-6] IN ('+', '-') AND f.ts_raw[-3:-3] = ':')
                      OR f.ts_raw[-5:-5] IN ('+', '-') OR f.ts_raw[-3:-3] IN ('+', '-'))
                THEN TRY_CAST(f.ts_raw AS TIMESTAMPTZ)
            -- epoch milliseconds sent as text or as a JSON number
            WHEN TRY_CAST(f.ts_raw AS BIGINT) BETWEEN -1000000000000000 AND 1000000000000000
                THEN to_timestamp(TRY_CAST(f.ts_raw AS BIGINT) / 1000.0)
        END AS ts,
        TRY_CAST(f.episode_number_raw AS INTEGER) AS episode_number_in,
        TRY_CAST(f.position_raw AS DOUBLE) AS position_s,
        TRY_CAST(f.amount_raw AS DOUBLE) AS amount_usd,
        TRY_CAST(f.list_position_raw AS DOUBLE) AS list_position_in,
        f.event_name IN ('episode_start', 'episode_progress', 'episode_complete', 'episode_exit',
            'paywall_view', 'episode_unlock', 'Video Content Started', 'Video Content Playing',
            'Video Content Completed', 'Video Playback Exited', 'Video Playback Interrupted')
            AS needs_episode,
        f.event_name IN ('episode_progress', 'episode_complete', 'episode_exit',
            'Video Content Playing', 'Video Content Completed', 'Video Playback Exited',
            'Video Playback Interrupted') AS needs_position
    FROM fields f
), resolved AS (
    SELECT m.*,
        ep.series_id AS ep_series_id,
        ep.episode_number AS ep_number,
        s.n_episodes AS series_n_episodes
    FROM mapped m
    LEFT JOIN raw.episodes ep ON ep.episode_id = m.episode_id
    LEFT JOIN raw.series s ON s.series_id = m.series_id
)
SELECT
    file_idx,
    record_number,
    raw,
    shape,
    event_id,
    event_type,
    ts,
    user_id,
    session_id,
    CASE WHEN nullif(episode_id, '') IS NOT NULL THEN ep_series_id ELSE series_id END AS series_id,
    CASE WHEN nullif(episode_id, '') IS NOT NULL THEN ep_number ELSE episode_number_in END
        AS episode_number,
    position_s,
    unlock_method,
    amount_usd,
    platform,
    app_version,
    country,
    language,
    item,
    request_id,
    model_version,
    variant,
    surface,
    list_position_in::INTEGER AS list_position,
    CASE
        WHEN problem IS NOT NULL THEN problem
        WHEN nullif(event_id, '') IS NULL THEN 'missing_field:event_id'
        WHEN nullif(event_name, '') IS NULL THEN 'missing_field:event_type'
        WHEN nullif(ts_raw, '') IS NULL THEN 'missing_field:ts'
        WHEN nullif(user_id, '') IS NULL THEN 'missing_field:user_id'
        WHEN event_type IS NULL THEN 'unknown_event_type'
        WHEN ts IS NULL THEN 'bad_value:ts'
        WHEN ts < TIMESTAMPTZ '2015-01-01 00:00:00+00' OR ts > $now + INTERVAL 1 DAY
            THEN 'ts_out_of_range'
        -- recommendation feedback: what the API served, echoed back (checked before the
        -- catalog, so that an unknown series is the only reason left for a replay to fix)
        WHEN event_type LIKE 'recommendation_%' AND nullif(request_id, '') IS NULL
            THEN 'missing_field:request_id'
        WHEN event_type LIKE 'recommendation_%' AND nullif(model_version, '') IS NULL
            THEN 'missing_field:model_version'
        WHEN event_type LIKE 'recommendation_%' AND nullif(variant, '') IS NULL
            THEN 'missing_field:variant'
        WHEN event_type LIKE 'recommendation_%' AND nullif(surface, '') IS NULL
            THEN 'missing_field:surface'
        WHEN event_type LIKE 'recommendation_%' AND nullif(series_id, '') IS NULL
            THEN 'missing_field:series_id'
        WHEN event_type LIKE 'recommendation_%' AND nullif(list_position_raw, '') IS NULL
            THEN 'missing_field:position'
        WHEN event_type LIKE 'recommendation_%' AND (list_position_in IS NULL
            OR list_position_in < 1 OR list_position_in <> floor(list_position_in)
            OR list_position_in > 10000) THEN 'bad_value:position'
        WHEN nullif(episode_id, '') IS NOT NULL AND ep_series_id IS NULL THEN 'unknown_episode'
        WHEN nullif(episode_id, '') IS NULL AND nullif(series_id, '') IS NOT NULL
            AND series_n_episodes IS NULL THEN 'unknown_series'
        WHEN nullif(episode_id, '') IS NULL AND nullif(series_id, '') IS NOT NULL
            AND nullif(episode_number_raw, '') IS NOT NULL
            AND (episode_number_in IS NULL OR episode_number_in < 1)
            THEN 'bad_value:episode_number'
        WHEN nullif(episode_id, '') IS NULL AND nullif(series_id, '') IS NOT NULL
            AND episode_number_in > series_n_episodes THEN 'unknown_episode'
        WHEN needs_episode AND nullif(episode_id, '') IS NULL AND nullif(series_id, '') IS NOT NULL
            AND nullif(episode_number_raw, '') IS NULL THEN 'missing_field:episode_number'
        WHEN needs_episode AND nullif(episode_id, '') IS NULL AND nullif(series_id, '') IS NULL
            THEN 'missing_field:series_id'
        WHEN needs_position AND nullif(position_raw, '') IS NULL THEN 'missing_field:position_s'
        WHEN needs_position AND (position_s IS NULL OR position_s < 0 OR isnan(position_s)
            OR isinf(position_s)) THEN 'bad_value:position_s'
        WHEN event_type = 'episode_unlock' AND nullif(unlock_method, '') IS NULL
            THEN 'missing_field:unlock_method'
        WHEN event_type = 'episode_unlock' AND unlock_method NOT IN ('coins', 'ad', 'subscription')
            THEN 'bad_value:unlock_method'
        WHEN event_type = 'purchase' AND nullif(amount_raw, '') IS NULL
            THEN 'missing_field:amount_usd'
        WHEN event_type = 'purchase' AND (amount_usd IS NULL OR amount_usd < 0
            OR isnan(amount_usd) OR isinf(amount_usd)) THEN 'bad_value:amount_usd'
    END AS reason
FROM resolved
