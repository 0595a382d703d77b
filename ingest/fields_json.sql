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
                              "session_id": "VARCHAR"},
               "context": {"app": {"version": "VARCHAR"}, "os": {"name": "VARCHAR"},
                           "locale": "VARCHAR"},
               "event_id": "VARCHAR", "event_type": "VARCHAR", "ts": "VARCHAR",
               "user_id": "VARCHAR", "session_id": "VARCHAR", "series_id": "VARCHAR",
               "episode_number": "VARCHAR", "episode_id": "VARCHAR", "position_s": "VARCHAR",
               "unlock_method": "VARCHAR", "amount_usd": "VARCHAR", "platform": "VARCHAR",
               "app_version": "VARCHAR", "country": "VARCHAR", "language": "VARCHAR"
           }')) END AS x
    FROM lines
), typed AS (
    SELECT *, x.type = 'track' AS is_segment,
           -- the recommendation-feedback fields, parsed only for those events, so that other
           -- events cost what they did before
           CASE WHEN x.event_type IN ('recommendation_impression', 'recommendation_click')
                     OR (x.type = 'track' AND x.event IN ('Product List Viewed', 'Product Clicked'))
                THEN try(json_transform(raw, '{
               "request_id": "VARCHAR", "model_version": "VARCHAR", "variant": "VARCHAR",
               "surface": "VARCHAR", "position": "VARCHAR",
               "properties": {"product_id": "VARCHAR",
                              "products": [{"product_id": "VARCHAR", "position": "VARCHAR"}],
                              "request_id": "VARCHAR", "model_version": "VARCHAR",
                              "variant": "VARCHAR", "surface": "VARCHAR", "list_id": "VARCHAR",
                              "position": "VARCHAR"}
           }')) END AS r,
           coalesce(x.type = 'track' AND x.event = 'Product List Viewed', false) AS is_list,
           coalesce(x.type = 'track' AND x.event IN ('Product List Viewed', 'Product Clicked'),
                    false) AS is_product
    FROM parsed
), shaped AS (
    -- one row per listed product of a list record, one row for every other record
    SELECT *, CASE WHEN is_list THEN r.properties.products[item] END AS product
    FROM (
        SELECT *, unnest(CASE WHEN NOT is_list THEN [0]
                              WHEN coalesce(len(r.properties.products), 0) = 0 THEN [1]
                              ELSE range(1, len(r.properties.products) + 1) END) AS item
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
    CASE WHEN is_list THEN product.product_id WHEN is_product THEN r.properties.product_id
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
    CASE WHEN is_segment THEN r.properties.request_id ELSE r.request_id END AS request_id,
    CASE WHEN is_segment THEN r.properties.model_version ELSE r.model_version END
        AS model_version,
    CASE WHEN is_segment THEN r.properties.variant ELSE r.variant END AS variant,
    CASE WHEN is_segment THEN coalesce(r.properties.surface, r.properties.list_id)
         ELSE r.surface END AS surface,
    CASE WHEN is_list THEN coalesce(product.position, item::VARCHAR)
         WHEN is_segment THEN r.properties.position ELSE r.position END AS list_position_raw
FROM shaped
