"""Launches layer: launch curves, the typical curve, the early forecast and its backtest."""

import dagster as dg

from features.launches import build_launch_curves, build_launch_forecasts
from pipelines.resources import CliffhangerStore, MetricSettings


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "series_launch_daily",
            group_name="launches",
            deps=["episode_views", "series_scorecard"],
            description="Per series version and age: viewers, views, watch hours, revenue, "
            "hook and paywall conversion to date, and the percentile among earlier launches.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "launch_benchmark",
            group_name="launches",
            deps=["series_launch_daily"],
            description="The typical launch curve: quartiles of past observed launches by age.",
            kinds={"duckdb"},
        ),
    ]  # fmt: skip
)
def launch_curves(store: CliffhangerStore, settings: MetricSettings):
    """Launch curves and the typical curve (METRICS.md "Launches")."""
    with store.connect() as con:
        counts = build_launch_curves(con, settings.params())
        observed, incomplete = con.execute(
            "SELECT count(DISTINCT series_id) FILTER (WHERE is_observed_launch), "
            "count(*) FILTER (WHERE NOT is_complete_day) FROM analytics.series_launch_daily"
        ).fetchall()[0]
    yield dg.MaterializeResult(
        asset_key="series_launch_daily",
        metadata={"rows": counts["series_launch_daily"], "observed_launches": observed,
                  "incomplete_day_rows": incomplete},
    )  # fmt: skip
    yield dg.MaterializeResult(
        asset_key="launch_benchmark", metadata={"rows": counts["launch_benchmark"]}
    )


@dg.asset_check(asset="series_launch_daily", blocking=True)
def launch_curves_are_consistent(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Cumulative figures never decrease; rates and percentiles lie in [0, 1]."""
    with store.connect() as con:
        decreasing, out_of_range = con.execute(
            """
            SELECT
              (SELECT count(*) FROM (
                 SELECT cumulative_viewers - lag(cumulative_viewers) OVER w AS dv,
                        cumulative_revenue_usd - lag(cumulative_revenue_usd) OVER w AS dr,
                        cumulative_watch_hours - lag(cumulative_watch_hours) OVER w AS dw
                 FROM analytics.series_launch_daily
                 WINDOW w AS (PARTITION BY series_id ORDER BY age_days))
               WHERE dv < 0 OR dr < -1e-9 OR dw < -1e-9),
              (SELECT count(*) FROM analytics.series_launch_daily
               WHERE hook_rate_to_date NOT BETWEEN 0 AND 1
                  OR paywall_conversion_to_date NOT BETWEEN 0 AND 1
                  OR viewers_percentile_at_age NOT BETWEEN 0 AND 1
                  OR viewers_percentile_in_language NOT BETWEEN 0 AND 1
                  OR viewers_percentile_in_production_type NOT BETWEEN 0 AND 1)
            """
        ).fetchall()[0]
    return dg.AssetCheckResult(
        passed=decreasing == 0 and out_of_range == 0,
        metadata={"decreasing_steps": decreasing, "values_out_of_range": out_of_range},
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "launch_forecast",
            group_name="launches",
            deps=["series_launch_daily"],
            description="Young series: cumulative viewers, watch hours and revenue at the "
            "horizon, with a conformal interval and a scale / watch / rework label.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "launch_forecast_backtest",
            group_name="launches",
            deps=["series_launch_daily"],
            description="Rolling-origin backtest of the forecast by metric and age: coverage, "
            "log error against the Szabo-Huberman baseline, coverage by realized tercile.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "launch_forecast_backtest_rows",
            group_name="launches",
            deps=["series_launch_daily"],
            description="The backtest's detail: one row per launch, metric and age.",
            kinds={"duckdb"},
        ),
    ]  # fmt: skip
)
def launch_forecasts(store: CliffhangerStore, settings: MetricSettings):
    """The early forecast of young series and its backtest, published with every run."""
    with store.connect() as con:
        counts = build_launch_forecasts(con, settings.params())
        labels = dict(
            con.execute(
                "SELECT series_label, count(DISTINCT series_id) FROM analytics.launch_forecast "
                "GROUP BY 1"
            ).fetchall()
        )
        coverage = con.execute(
            "SELECT avg(covered::INTEGER), median(abs_log_error), median(baseline_abs_log_error) "
            "FROM analytics.launch_forecast_backtest_rows"
        ).fetchall()[0]
    yield dg.MaterializeResult(
        asset_key="launch_forecast",
        metadata={"rows": counts["launch_forecast"],
                  "series_by_label": dg.MetadataValue.json(labels)},
    )  # fmt: skip
    yield dg.MaterializeResult(
        asset_key="launch_forecast_backtest",
        metadata={
            "rows": counts["launch_forecast_backtest"],
            "coverage": float(coverage[0]) if coverage[0] is not None else None,
            "median_abs_log_error": float(coverage[1]) if coverage[1] is not None else None,
            "baseline_median_abs_log_error": (
                float(coverage[2]) if coverage[2] is not None else None
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key="launch_forecast_backtest_rows",
        metadata={"rows": counts["launch_forecast_backtest_rows"]},
    )


@dg.asset_check(asset="launch_forecast", blocking=True)
def launch_forecasts_are_well_formed(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Intervals ordered (floor <= low <= forecast <= high), labels in the allowed set,
    backtest coverages in [0, 1], and no backtest forecast learned from a later launch."""
    with store.connect() as con:
        disordered, bad_labels, bad_coverage, leaks = con.execute(
            """
            SELECT
              (SELECT count(*) FROM analytics.launch_forecast
               WHERE forecast IS NOT NULL
                 AND NOT (observed_to_date <= interval_low + 1e-9
                          AND interval_low <= forecast + 1e-9
                          AND forecast <= interval_high + 1e-9)),
              (SELECT count(*) FROM analytics.launch_forecast
               WHERE label NOT IN ('scale', 'watch', 'rework') OR label IS NULL
                  OR series_label NOT IN ('scale', 'watch', 'rework')),
              (SELECT count(*) FROM analytics.launch_forecast_backtest
               WHERE coverage NOT BETWEEN 0 AND 1
                  OR coverage_low_tercile NOT BETWEEN 0 AND 1
                  OR coverage_mid_tercile NOT BETWEEN 0 AND 1
                  OR coverage_high_tercile NOT BETWEEN 0 AND 1),
              (SELECT count(*) FROM analytics.launch_forecast_backtest_rows
               WHERE latest_history_horizon_date > forecast_date)
            """
        ).fetchall()[0]
    return dg.AssetCheckResult(
        passed=disordered == 0 and bad_labels == 0 and bad_coverage == 0 and leaks == 0,
        metadata={"disordered_intervals": disordered, "bad_labels": bad_labels,
                  "coverage_out_of_range": bad_coverage, "backtest_leaks": leaks},
    )  # fmt: skip
