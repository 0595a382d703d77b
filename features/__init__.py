"""Binge metrics: plain SQL over a DuckDB connection, no Dagster, Streamlit or HTTP."""

from __future__ import annotations

import duckdb

from cliffhanger.config import MetricParams


def build_all(con: duckdb.DuckDBPyConnection, params: MetricParams) -> dict[str, int]:
    """Rebuild every derived analytics table from the stored events, in dependency order.

    The Dagster assets run the same steps one asset at a time; ``cliffhanger ingest`` and the
    benchmarks call this. Returns each table's row count.
    """
    from features.catalog_metrics import build_catalog_metrics
    from features.engagement import build_engagement
    from features.funnel import build_funnel
    from features.sessions import build_events

    counts = {"events": build_events(con, params.session_gap_minutes)}
    counts |= build_engagement(con, params)
    counts["series_episode_funnel"] = build_funnel(con, params)
    counts |= build_catalog_metrics(con, params)
    return counts
