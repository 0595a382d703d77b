-- The launch forecast and its backtest while no observed launch has reached the horizon (a
-- warehouse younger than launch_horizon_days): nothing can be learned, so every young version
-- gets method 'none' and label 'watch', and the backtest is empty. The same tables, with the
-- same columns, as features/launch_forecast.py writes (a test compares them), without loading
-- the numerical code. Bound at run time: horizon, interval.
CREATE OR REPLACE TABLE analytics.launch_forecast AS
SELECT d.series_id, d.date AS as_of_date, d.release_date, d.age_days::INTEGER AS age_days,
       $horizon::INTEGER AS horizon_days, m.metric,
       CASE m.metric WHEN 'viewers' THEN d.cumulative_viewers::DOUBLE
                     WHEN 'watch_hours' THEN d.cumulative_watch_hours
                     ELSE d.cumulative_revenue_usd END AS observed_to_date,
       NULL::DOUBLE AS forecast, NULL::DOUBLE AS interval_low, NULL::DOUBLE AS interval_high,
       $interval::DOUBLE AS interval_level, NULL::DOUBLE AS baseline_forecast,
       'none' AS method, false AS is_calibrated, 0::INTEGER AS n_history,
       NULL::DOUBLE AS catalogue_low_quantile, NULL::DOUBLE AS catalogue_high_quantile,
       'watch' AS label,
       CASE WHEN d.is_observed_launch
            THEN 'no past launches with a complete horizon to learn from'
            ELSE 'released before the data start: its first days are not in the data'
       END AS label_reason,
       'watch' AS series_label, d.language, d.production_type, d.is_observed_launch
FROM analytics.series_launch_daily d
CROSS JOIN (VALUES ('revenue_usd'), ('viewers'), ('watch_hours')) m(metric)
WHERE d.is_complete_day AND d.age_days < $horizon
  AND d.date = (SELECT max(event_date) - 1 FROM raw.events)
ORDER BY d.series_id, m.metric;

CREATE OR REPLACE TABLE analytics.launch_forecast_backtest (
    metric VARCHAR, age_days INTEGER, horizon_days INTEGER, interval_level DOUBLE,
    n_series BIGINT, coverage DOUBLE, median_abs_log_error DOUBLE,
    baseline_median_abs_log_error DOUBLE, coverage_low_tercile DOUBLE,
    coverage_mid_tercile DOUBLE, coverage_high_tercile DOUBLE, baseline_coverage DOUBLE,
    baseline_coverage_high_tercile DOUBLE, median_interval_ratio DOUBLE, share_model DOUBLE,
    median_n_history DOUBLE
);

CREATE OR REPLACE TABLE analytics.launch_forecast_backtest_rows (
    metric VARCHAR, age_days INTEGER, horizon_days INTEGER, series_id VARCHAR,
    forecast_date DATE, latest_history_horizon_date DATE, n_history INTEGER, method VARCHAR,
    realized DOUBLE, forecast DOUBLE, interval_low DOUBLE, interval_high DOUBLE,
    covered BOOLEAN, abs_log_error DOUBLE, baseline_forecast DOUBLE,
    baseline_abs_log_error DOUBLE, baseline_covered BOOLEAN, label VARCHAR,
    realized_tercile INTEGER
);
