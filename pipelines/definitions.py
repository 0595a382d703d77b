"""The one Dagster entry point: ``dagster dev -m pipelines.definitions``."""

from __future__ import annotations

import dagster as dg

from pipelines.assets_catalog import catalog
from pipelines.assets_publish import warehouse_snapshot
from pipelines.resources import CliffhangerStore

# every asset, in the order a full run materializes them
ALL_ASSETS = [catalog, warehouse_snapshot]

everything = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all(),
    description="Landing folder to published warehouse: what `cliffhanger run` executes.",
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[everything],
    resources={"store": CliffhangerStore()},
    # the working database has one writer: steps of a run execute one after another
    executor=dg.in_process_executor,
)
