-- analytics.series_revenue_daily (METRICS.md "Revenue per series"): revenue attributed to
-- series through unlocks, per series version x UTC date, beside the raw purchases that carry
-- the series_id. Bound: $ad_unlock_usd, $subscription_days.
--  * coin purchases are spread evenly over the buyer's coin unlocks, over the whole data
--    (amount paid / coin unlocks): coins bought in one series pay for unlocks in others;
--  * an ad unlock is worth ad_unlock_usd (an eCPM / 1000), with no purchase behind it;
--  * a subscription's amount is spread evenly over the distinct episodes the subscriber
--    unlocked or started while it lasted: from the purchase to the next subscription purchase
--    of the user or subscription_days later, whichever comes first.
-- A purchase is a subscription when the buyer's next unlock after it is by subscription;
-- otherwise it buys coins. The purchases that find nothing to pay for (coins never spent, a
-- subscription with no episode in its period) stay unallocated: revenue_unallocated.
CREATE OR REPLACE TEMP TABLE revenue_unlocks AS
SELECT user_id, series_id, episode_number, ts, unlock_method
FROM raw.events
WHERE event_type = 'episode_unlock' AND series_id IS NOT NULL AND unlock_method IS NOT NULL;

CREATE OR REPLACE TEMP TABLE revenue_purchases AS
WITH purchases AS (
    SELECT event_id, user_id, ts, amount_usd FROM raw.events
    WHERE event_type = 'purchase' AND amount_usd > 0
)
SELECT p.event_id, p.user_id, p.ts, p.amount_usd,
       coalesce(u.unlock_method = 'subscription', false) AS is_subscription
FROM purchases p
ASOF LEFT JOIN revenue_unlocks u ON p.user_id = u.user_id AND u.ts >= p.ts;

CREATE OR REPLACE TEMP TABLE revenue_items AS
WITH coin_price AS (
    -- a user's coin spend over their coin unlocks (over the data)
    SELECT user_id, sum(amount_usd) / nullif(n.coin_unlocks, 0) AS usd_per_unlock
    FROM revenue_purchases p
    JOIN (SELECT user_id, count(*) AS coin_unlocks FROM revenue_unlocks
          WHERE unlock_method = 'coins' GROUP BY 1) n USING (user_id)
    WHERE NOT p.is_subscription
    GROUP BY user_id, n.coin_unlocks
), subscriptions AS (
    SELECT event_id, user_id, ts AS starts, amount_usd,
           least(ts + to_days($subscription_days::INTEGER),
                 coalesce(lead(ts) OVER (PARTITION BY user_id ORDER BY ts, event_id),
                          'infinity'::TIMESTAMPTZ)) AS ends
    FROM revenue_purchases WHERE is_subscription
), sub_touches AS (
    -- the distinct episodes each subscription paid for: unlocked or started in its period
    SELECT DISTINCT s.event_id, s.user_id, s.amount_usd, t.series_id, t.episode_number,
           min(t.ts) OVER (PARTITION BY s.event_id, t.series_id, t.episode_number) AS first_at
    FROM subscriptions s
    JOIN (SELECT user_id, series_id, episode_number, ts FROM revenue_unlocks
          UNION ALL
          SELECT user_id, series_id, episode_number, started_at FROM analytics.episode_views) t
      ON t.user_id = s.user_id AND t.ts >= s.starts AND t.ts < s.ends
)
SELECT u.user_id, u.series_id, u.ts::DATE AS date, 'coins' AS kind, c.usd_per_unlock AS usd
FROM revenue_unlocks u JOIN coin_price c USING (user_id)
WHERE u.unlock_method = 'coins'
UNION ALL
SELECT user_id, series_id, ts::DATE, 'ad', $ad_unlock_usd::DOUBLE
FROM revenue_unlocks WHERE unlock_method = 'ad'
UNION ALL
SELECT user_id, series_id, first_at::DATE, 'subscription',
       amount_usd / count(*) OVER (PARTITION BY event_id)
FROM sub_touches;

CREATE OR REPLACE TABLE analytics.series_revenue_daily AS
WITH raw_revenue AS (
    SELECT series_id, ts::DATE AS date, sum(amount_usd) AS revenue_usd
    FROM raw.events WHERE event_type = 'purchase' AND series_id IS NOT NULL GROUP BY ALL
), unlocks AS (
    SELECT series_id, ts::DATE AS date,
           count(*) FILTER (WHERE unlock_method = 'coins') AS coin_unlocks,
           count(*) FILTER (WHERE unlock_method = 'ad') AS ad_unlocks,
           count(*) FILTER (WHERE unlock_method = 'subscription') AS subscription_unlocks
    FROM revenue_unlocks GROUP BY ALL
), allocated AS (
    SELECT series_id, date,
           coalesce(sum(usd) FILTER (WHERE kind = 'coins'), 0) AS coins_usd,
           coalesce(sum(usd) FILTER (WHERE kind = 'ad'), 0) AS ad_usd,
           coalesce(sum(usd) FILTER (WHERE kind = 'subscription'), 0) AS subscription_usd
    FROM revenue_items GROUP BY ALL
), keys AS (
    SELECT series_id, date FROM raw_revenue UNION
    SELECT series_id, date FROM unlocks UNION
    SELECT series_id, date FROM allocated
)
SELECT k.series_id, k.date,
       coalesce(r.revenue_usd, 0) AS revenue_usd,
       coalesce(u.coin_unlocks, 0) AS coin_unlocks,
       coalesce(u.ad_unlocks, 0) AS ad_unlocks,
       coalesce(u.subscription_unlocks, 0) AS subscription_unlocks,
       coalesce(a.coins_usd, 0) AS coins_usd,
       coalesce(a.ad_usd, 0) AS ad_usd,
       coalesce(a.subscription_usd, 0) AS subscription_usd,
       coalesce(a.coins_usd, 0) + coalesce(a.ad_usd, 0) + coalesce(a.subscription_usd, 0)
           AS allocated_revenue_usd
FROM keys k
JOIN analytics.series s USING (series_id)
LEFT JOIN raw_revenue r USING (series_id, date)
LEFT JOIN unlocks u USING (series_id, date)
LEFT JOIN allocated a USING (series_id, date)
ORDER BY k.series_id, k.date;

-- per user x series: what each viewer brought (for the spread of revenue per viewer)
CREATE OR REPLACE TABLE derived.user_series_revenue AS
SELECT user_id, series_id, sum(usd) AS usd FROM revenue_items GROUP BY ALL;

CREATE OR REPLACE TABLE derived.revenue_balance AS
SELECT (SELECT coalesce(sum(amount_usd), 0) FROM revenue_purchases) AS purchases_usd,
       (SELECT coalesce(sum(usd), 0) FROM revenue_items WHERE kind <> 'ad') AS allocated_paid_usd,
       (SELECT coalesce(sum(usd), 0) FROM revenue_items WHERE kind = 'ad') AS ad_usd;

DROP TABLE revenue_items;
DROP TABLE revenue_purchases;
DROP TABLE revenue_unlocks;
