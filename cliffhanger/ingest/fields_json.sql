-- JSON lines (stage_lines: record_number, raw, oversize) -> stage_fields, one row per record,
-- every field as text, whether the record is canonical (CONTRACT §2a) or Segment (§2b).
INSERT INTO stage_fields
WITH parsed AS (
    SELECT record_number, raw, oversize,
           CASE WHEN NOT oversize AND json_valid(raw) THEN raw::JSON END AS j
    FROM stage_lines
), typed AS (
    SELECT *,
           CASE WHEN j IS NULL THEN NULL ELSE json_type(j) END AS root_type
    FROM parsed
), extracted AS (
    SELECT record_number, raw, oversize, root_type,
           json_extract_string(j, [
               '$.type', '$.event', '$.messageId', '$.userId', '$.anonymousId', '$.timestamp',
               '$.properties.asset_id', '$.properties.content_asset_id',
               '$.properties.content_asset_ids[0]', '$.properties.position',
               '$.properties.session_id', '$.context.app.version', '$.context.os.name',
               '$.context.locale',
               '$.event_id', '$.event_type', '$.ts', '$.user_id', '$.session_id', '$.series_id',
               '$.episode_number', '$.episode_id', '$.position_s', '$.unlock_method',
               '$.amount_usd', '$.platform', '$.app_version', '$.country', '$.language'
           ]) AS x,
           json_type(j, ['$.ts', '$.timestamp']) AS ts_types
    FROM typed
)
SELECT
    record_number,
    raw,
    CASE
        WHEN oversize THEN 'record_too_large'
        WHEN root_type IS NULL OR root_type <> 'OBJECT' THEN 'malformed'
        WHEN x[1] IS NOT NULL AND x[1] <> 'track' THEN 'unsupported_shape'
    END AS problem,
    CASE WHEN x[1] = 'track' THEN 'segment' ELSE 'canonical' END AS shape,
    CASE WHEN x[1] = 'track' THEN x[3] ELSE x[15] END AS event_id,
    CASE WHEN x[1] = 'track' THEN x[2] ELSE x[16] END AS event_name,
    CASE WHEN x[1] = 'track' THEN x[6] ELSE x[17] END AS ts_raw,
    CASE WHEN x[1] = 'track' THEN ts_types[2] ELSE ts_types[1] END AS ts_kind,
    CASE WHEN x[1] = 'track' THEN coalesce(nullif(x[4], ''), x[5]) ELSE x[18] END AS user_id,
    CASE WHEN x[1] = 'track' THEN x[11] ELSE x[19] END AS session_id,
    CASE WHEN x[1] = 'track' THEN NULL ELSE x[20] END AS series_id,
    CASE WHEN x[1] = 'track' THEN NULL ELSE x[21] END AS episode_number_raw,
    CASE WHEN x[1] = 'track' THEN coalesce(x[7], x[8], x[9]) ELSE x[22] END AS episode_id,
    CASE WHEN x[1] = 'track' THEN x[10] ELSE x[23] END AS position_raw,
    CASE WHEN x[1] = 'track' THEN NULL ELSE x[24] END AS unlock_method,
    CASE WHEN x[1] = 'track' THEN NULL ELSE x[25] END AS amount_raw,
    CASE WHEN x[1] = 'track' THEN x[13] ELSE x[26] END AS platform,
    CASE WHEN x[1] = 'track' THEN x[12] ELSE x[27] END AS app_version,
    CASE WHEN x[1] = 'track' THEN nullif(split_part(x[14], '-', 2), '') ELSE x[28] END AS country,
    CASE WHEN x[1] = 'track' THEN nullif(split_part(x[14], '-', 1), '') ELSE x[29] END AS language
FROM extracted;
