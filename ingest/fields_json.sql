-- JSON lines (relation `lines`: file_idx, record_number, raw, oversize) -> one row per record with
-- every field as text (the columns of stage_fields), whether the record is canonical (CONTRACT §2a) or Segment
-- (§2b). Each line is parsed once, by json_transform; a line that is not a JSON object
-- transforms to NULL (malformed). Segment's "Product List Viewed" becomes one row per listed
-- product (`item` 1..n, event id messageId:position); every other record is one row (`item`
-- 0). A list without products is one row (item 1) with the problem missing_field:products.
WITH parsed AS (
    SELECT file_idx, record_number, raw, oversize,
           CASE WHEN NOT oversize THEN try(json_transform(raw, '{
               "type": "VARCHAR", "event": "VARCHAR", "messageId": "VARCHAR",
               "userId": "VARCHAR", "anonymousId": "VARCHAR", "timestamp": "VARCHAR",
               "properties": {"asset_id": "VARCHAR", "content_asset_id": "VARCHAR",
                              "content_asset_ids": ["VARCHAR"], "position": "VARCHAR",
                              "session_id": "VARCHAR", "product_id": "VARCHAR",
                              "products": [{"product_id": "VARCHAR", "position": "VARCHAR"}],
                              "request_id": "VARCHAR", "model_version": "VARCHAR",
                              "variant": "VARCHAR", "surface": "VARCHAR", "list_id": "VARCHAR"},
               "context": {"app": {"version": "VARCHAR"}, "os": {"name": "VARCHAR"},
                           "locale": "VARCHAR"},
               "event_id": "VARCHAR", "event_type": "VARCHAR", "ts": "VARCHAR",
               "user_id": "VARCHAR", "session_id": "VARCHAR", "series_id": "VARCHAR",
               "episode_number": "VARCHAR", "episode_id": "VARCHAR", "position_s": "VARCHAR",
               "unlock_method": "VARCHAR", "amount_usd": "VARCHAR", "platform": "VARCHAR",
               "app_version": "VARCHAR", "country": "VARCHAR", "language": "VARCHAR",
               "request_id": "VARCHAR", "model_version": "VARCHAR", "variant": "VARCHAR",
               "surface": "VARCHAR", "position": "VARCHAR"
           }')) END AS x
    FROM lines
), typed AS (
    SELECT *, x.type = 'track' AS is_segment,
           coalesce(x.type = 'track' AND x.event = 'Product List Viewed', false) AS is_list,
           coalesce(x.type = 'track' AND x.event IN ('Product List Viewed', 'Product Clicked'),
                    false) AS is_product
    FROM parsed
), shaped AS (
    -- one row per listed product of a list record, one row for every other record
    SELECT *, CASE WHEN is_list THEN x.properties.products[item] END AS product
    FROM (
        SELECT *, unnest(CASE WHEN NOT is_list THEN [0]
                              WHEN coalesce(len(x.properties.products), 0) = 0 THEN [1]
                              ELSE range(1, len(x.properties.products) + 1) END) AS item
        FROM typed
    )
)
SELECT
    file_idx,
    record_number,
    raw,
    CASE
        WHEN oversize THEN 'record_too_large'
        WHEN x IS NULL OR NOT starts_with(ltrim(raw), '{') THEN 'malformed'
        WHEN x.type IS NOT NULL AND x.type <> 'track' THEN 'unsupported_shape'
        WHEN is_list AND product IS NULL THEN 'missing_field:products'
    END AS problem,
    item,
    CASE WHEN is_segment THEN 'segment' ELSE 'canonical' END AS shape,
    CASE WHEN is_list THEN x.messageId || ':' || coalesce(product.position, item::VARCHAR)
         WHEN is_segment THEN x.messageId ELSE x.event_id END AS event_id,
    CASE WHEN is_segment THEN x.event ELSE x.event_type END AS event_name,
    -- a JSON number (epoch ms) arrives as its digits, a string as its text
    CASE WHEN is_segment THEN x.timestamp ELSE x.ts END AS ts_raw,
    NULL::VARCHAR AS ts_kind,
    CASE WHEN is_segment THEN coalesce(nullif(x.userId, ''), x.anonymousId) ELSE x.user_id END
        AS user_id,
    CASE WHEN is_segment THEN x.properties.session_id ELSE x.session_id END AS session_id,
    CASE WHEN is_list THEN product.product_id WHEN is_product THEN x.properties.product_id
         WHEN is_segment THEN NULL ELSE x.series_id END AS series_id,
    CASE WHEN is_segment THEN NULL ELSE x.episode_number END AS episode_number_raw,
    CASE WHEN is_segment
         THEN coalesce(x.properties.asset_id, x.properties.content_asset_id,
                       x.properties.content_asset_ids[1])
         ELSE x.episode_id END AS episode_id,
    CASE WHEN is_product THEN NULL WHEN is_segment THEN x.properties.position ELSE x.position_s END
        AS position_raw,
    CASE WHEN is_segment THEN NULL ELSE x.unlock_method END AS unlock_method,
    CASE WHEN is_segment THEN NULL ELSE x.amount_usd END AS amount_raw,
    CASE WHEN is_segment THEN x.context.os.name ELSE x.platform END AS platform,
    CASE WHEN is_segment THEN x.context.app.version ELSE x.app_version END AS app_version,
    CASE WHEN is_segment THEN nullif(split_part(x.context.locale, '-', 2), '')
         ELSE x.country END AS country,
    CASE WHEN is_segment THEN nullif(split_part(x.context.locale, '-', 1), '')
         ELSE x.language END AS language,
    CASE WHEN is_segment THEN x.properties.request_id ELSE x.request_id END AS request_id,
    CASE WHEN is_segment THEN x.properties.model_version ELSE x.model_version END
        AS model_version,
    CASE WHEN is_segment THEN x.properties.variant ELSE x.variant END AS variant,
    CASE WHEN is_segment THEN coalesce(x.properties.surface, x.properties.list_id)
         ELSE x.surface END AS surface,
    CASE WHEN is_list THEN coalesce(product.position, item::VARCHAR)
         WHEN is_segment THEN x.properties.position ELSE x.position END AS list_position_raw
FROM shaped
