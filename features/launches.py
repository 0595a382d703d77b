"""Launches (METRICS.md "Launches"): launch curves, same-age percentiles, the typical curve,
and the early forecast with its backtest (:mod:`features.launch_forecast`).

``analytics.series_launch_daily`` has one row per series version x age (days since its
release date); ``analytics.launch_benchmark`` the quartiles of past observed launches by age.
The last date of the data is never a complete day (its events may still be arriving): its
rows are kept but flagged ``is_complete_day = false``, and nothing compares, benchmarks or
forecasts from them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("launches.sql"))
CURVE_TABLES = ("series_launch_daily", "launch_benchmark")
FORECAST_TABLES = ("launch_forecast", "launch_forecast_backtest", "launch_forecast_backtest_rows")
TABLES = CURVE_TABLES + FORECAST_TABLES


def build_launch_curves(con: duckdb.DuckDBPyConnection, params: MetricParams) -> dict[str, int]:
    """Rebuild ``analytics.series_launch_daily`` and ``analytics.launch_benchmark``.

    Needs ``analytics.episode_views``, ``analytics.series`` and ``raw.events`` (purchases).
    Returns each table's row count.
    """
    del params  # the curves have no parameters; the forecast's are read by build_forecasts
    run(con, _STATEMENTS, {})
    for temp in ("launch_bounds", "launch_user_firsts"):
        con.execute(f"DROP TABLE IF EXISTS temp.main.{temp}")
    return _document(con, CURVE_TABLES)


def build_launch_forecasts(con: duckdb.DuckDBPyConnection, params: MetricParams) -> dict[str, int]:
    """Rebuild ``analytics.launch_forecast`` and the backtest tables from the launch curves."""
    from features.launch_forecast import ForecastSettings, backtest, forecast_young, load_history

    settings = ForecastSettings.from_params(params)
    history = load_history(con, settings.horizon_days)
    forecasts = forecast_young(history, settings)
    rows, summary = backtest(history, settings)
    for name, frame in (
        ("launch_forecast", forecasts),
        ("launch_forecast_backtest", summary),
        ("launch_forecast_backtest_rows", rows),
    ):
        con.register("launch_frame", frame.to_arrow())
        con.execute(
            f"CREATE OR REPLACE TABLE analytics.{name} AS SELECT * FROM launch_frame"  # noqa: S608
        )
        con.unregister("launch_frame")
    return _document(con, FORECAST_TABLES)


def build_launches(con: duckdb.DuckDBPyConnection, params: MetricParams) -> dict[str, int]:
    """Every launch table: the curves, then the forecast and its backtest."""
    return build_launch_curves(con, params) | build_launch_forecasts(con, params)


def _document(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    for table in tables:
        apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchall()[0][0]  # noqa: S608
    return counts
