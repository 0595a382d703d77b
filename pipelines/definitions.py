"""The one Dagster entry point: ``dagster dev -m pipelines.definitions``."""

import dagster as dg

from core.config import metric_params, paths
from pipelines.assets_activity import (
    viewer_activity,
    viewer_activity_job,
    viewer_activity_schedule,
)
from pipelines.assets_days import days_celery_job, days_job, engagement_day
from pipelines.assets_events import event_grain, sessions_cover_every_event
from pipelines.assets_feedback import (
    attribution_is_consistent,
    recommendation_experiment,
    recommendation_performance,
    served_log,
)
from pipelines.assets_ingest import (
    accounting_balances,
    catalog,
    event_ids_unique,
    ingested_events,
    timestamps_in_range,
)
from pipelines.assets_launches import (
    launch_curves,
    launch_curves_are_consistent,
    launch_forecasts,
    launch_forecasts_are_well_formed,
)
from pipelines.assets_maintenance import (
    maintenance_job,
    maintenance_schedule,
    warehouse_maintenance,
)
from pipelines.assets_metrics import (
    catalog_metrics,
    daily_engagement,
    engagement_rates_in_unit_interval,
    episode_exit_moments,
    exit_moments_are_consistent,
    funnel_is_consistent,
    revenue_allocation_balances,
    scorecard_and_cohort_rates_in_unit_interval,
    series_episode_funnel,
    series_revenue_daily,
)
from pipelines.assets_models import model_evaluation, served_model, served_model_beats_baselines
from pipelines.assets_publish import warehouse_snapshot
from pipelines.resources import CliffhangerStore, MetricSettings, Progress
from pipelines.sensors import landing_files

# every asset, in the order a full run materializes them
ALL_ASSETS = [catalog, ingested_events, event_grain, daily_engagement, series_episode_funnel,
              episode_exit_moments, series_revenue_daily, catalog_metrics, launch_curves, launch_forecasts,
              model_evaluation, served_model, warehouse_snapshot]  # fmt: skip
ALL_ASSETS.append(viewer_activity)  # the API's viewer activity (pipelines/assets_activity.py)
# the feedback loop (docs/feedback-loop.md): served log, online metrics, A/B analysis
ALL_ASSETS[-1:-1] = [served_log, recommendation_performance, recommendation_experiment]
ALL_CHECKS = [
    event_ids_unique,
    accounting_balances,
    timestamps_in_range,
    sessions_cover_every_event,
    engagement_rates_in_unit_interval,
    funnel_is_consistent,
    exit_moments_are_consistent,
    revenue_allocation_balances,
    scorecard_and_cohort_rates_in_unit_interval,
    launch_curves_are_consistent,
    launch_forecasts_are_well_formed,
    served_model_beats_baselines,
    attribution_is_consistent,
]

everything = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("maintenance", "days"),
    description="Landing folder to published warehouse: what `cliffhanger run` executes.",
)
# what `cliffhanger ingest` executes: the files named in its run config, then every derived
# table and the snapshot, under the same blocking checks (the model is left to `everything`)
DERIVED = dg.AssetSelection.groups("ingest", "core", "metrics", "launches", "feedback")
ingest_and_publish = dg.define_asset_job(
    "ingest_and_publish",
    selection=DERIVED | dg.AssetSelection.groups("publish"),
    description="Named files to the derived tables and a new snapshot: `cliffhanger ingest`.",
)
ingest_only = dg.define_asset_job(
    "ingest_only",
    selection=DERIVED,
    description="Named files to the derived tables, no snapshot: `cliffhanger ingest "
    "--no-publish`.",
)


def resources(store: CliffhangerStore | None = None) -> dict[str, object]:
    """The resources of a process, from its environment: read here, once, at the edge.

    ``store`` replaces the locations (tests point it at a temporary folder).
    """
    return {
        "store": store or CliffhangerStore.from_paths(paths()),
        "settings": MetricSettings.from_params(metric_params()),
        "progress": Progress(),
    }


defs = dg.Definitions(
    # maintenance has its own nightly job, the daily partitions theirs (`days`); `everything`
    # (ALL_ASSETS) leaves both out
    assets=[*ALL_ASSETS, warehouse_maintenance, engagement_day],
    asset_checks=ALL_CHECKS,
    jobs=[
        everything,
        ingest_and_publish,
        ingest_only,
        viewer_activity_job,
        maintenance_job,
        days_job,
        days_celery_job,
    ],  # fmt: skip
    sensors=[landing_files],
    schedules=[viewer_activity_schedule, maintenance_schedule],
    resources=resources(),
    # the working database has one writer: steps of a run execute one after another
    executor=dg.in_process_executor,
)
