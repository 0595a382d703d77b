"""The one Dagster entry point: ``dagster dev -m pipelines.definitions``."""

import dagster as dg

from pipelines.assets_events import event_grain, sessions_cover_every_event
from pipelines.assets_ingest import (
    accounting_balances,
    catalog,
    event_ids_unique,
    ingested_events,
    timestamps_in_range,
)
from pipelines.assets_metrics import (
    catalog_metrics,
    daily_engagement,
    engagement_rates_in_unit_interval,
    funnel_is_consistent,
    scorecard_and_cohort_rates_in_unit_interval,
    series_episode_funnel,
)
from pipelines.assets_models import model_evaluation, served_model, served_model_beats_baselines
from pipelines.assets_publish import warehouse_snapshot
from pipelines.resources import CliffhangerStore
from pipelines.sensors import landing_files

# every asset, in the order a full run materializes them
ALL_ASSETS = [catalog, ingested_events, event_grain, daily_engagement, series_episode_funnel,
              catalog_metrics, model_evaluation, served_model, warehouse_snapshot]  # fmt: skip
ALL_CHECKS = [
    event_ids_unique,
    accounting_balances,
    timestamps_in_range,
    sessions_cover_every_event,
    engagement_rates_in_unit_interval,
    funnel_is_consistent,
    scorecard_and_cohort_rates_in_unit_interval,
    served_model_beats_baselines,
]

everything = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all(),
    description="Landing folder to published warehouse: what `cliffhanger run` executes.",
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[everything],
    sensors=[landing_files],
    resources={"store": CliffhangerStore()},
    # the working database has one writer: steps of a run execute one after another
    executor=dg.in_process_executor,
)
