"""Publish layer: the immutable warehouse snapshot analysts and dashboards read."""

import dagster as dg

from core.warehouse import publish
from pipelines.assets_ingest import catalog, ingested_events
from pipelines.resources import CliffhangerStore, MetricSettings


@dg.asset(
    group_name="publish",
    deps=[
        catalog,
        ingested_events,
        "events",
        "episode_views",
        "sessions",
        "daily_engagement",
        "series_episode_funnel",
        "episode_retention_curve",
        "episode_exit_moments",
        "series_revenue_daily",
        "retention_cohorts",
        "series_scorecard",
        "series_launch_daily",
        "launch_benchmark",
        "launch_forecast",
        "launch_forecast_backtest",
        "launch_forecast_backtest_rows",
        "model_evaluation",
        "recommendations",
        "similar_series",
        # the feedback loop (pipelines/assets_feedback.py)
        "served_log",
        "recommendation_impressions",
        "recommendation_performance",
        "recommendation_experiment",
    ],  # fmt: skip
    kinds={"duckdb"},
)
def warehouse_snapshot(
    context: dg.AssetExecutionContext, store: CliffhangerStore, settings: MetricSettings
) -> dg.MaterializeResult:
    """A new versioned snapshot of the analytics schema, atomically made the public warehouse."""
    paths = store.paths()
    with store.connect() as con:
        snap = publish(
            con,
            paths,
            info={"metric_params": settings.params().as_dict(), "run_id": context.run.run_id},
        )
    context.log.info(f"published {snap.path} as {paths.warehouse}")
    return dg.MaterializeResult(
        metadata={
            "snapshot_version": snap.version,
            "path": str(snap.path),
            "tables": dg.MetadataValue.json(snap.tables),
            "rows": sum(snap.tables.values()),
        }
    )
