"""Binge and launch metrics: plain SQL (and numpy for the launch forecast) over a DuckDB
connection, no Dagster, Streamlit or HTTP."""

from __future__ import annotations

import duckdb

from core.config import MetricParams
from core.db import transaction

EVENT_GRAIN_TABLES = ("events", "sessions", "episode_views")


def build_all(
    con: duckdb.DuckDBPyConnection,
    params: MetricParams,
    full: bool = False,
    launches: bool = True,
) -> dict[str, object]:
    """Bring every derived analytics table up to date, in dependency order, in one transaction.

    Sessions and episode views are maintained incrementally (see
    :mod:`features.sessions`); the aggregate tables are recomputed from them and from compact
    per-user summaries. The Dagster assets run the same steps one asset at a time;
    ``cliffhanger ingest`` and the benchmarks call this. Returns each table's row count and
    the build mode under ``"mode"``. ``launches=False`` leaves the launch tables out (the
    benchmarks measure what they add).
    """
    from features.catalog_metrics import build_catalog_metrics
    from features.engagement import build_engagement
    from features.exit_moments import build_exit_moments
    from features.funnel import build_funnel
    from features.launches import build_launches
    from features.revenue import build_revenue
    from features.sessions import build_sessions, document_event_grain

    with transaction(con):
        build = build_sessions(con, params, full=full)
        counts: dict[str, object] = document_event_grain(con, comment=build.mode == "full")
        counts |= build_engagement(con, params)
        counts["series_episode_funnel"] = build_funnel(con, params)
        counts["episode_exit_moments"] = build_exit_moments(con, params)
        counts["series_revenue_daily"] = build_revenue(con, params)
        counts |= build_catalog_metrics(con, params, incremental=build.mode != "full")
        if launches:
            counts |= build_launches(con, params)
    counts["mode"] = build.mode
    return counts
