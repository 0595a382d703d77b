"""Core layer: analytics.events, the stored events with their derived sessions."""

import dagster as dg

from cliffhanger.config import metric_params
from features.sessions import build_events
from pipelines.assets_ingest import ingested_events
from pipelines.resources import CliffhangerStore


@dg.asset(group_name="core", deps=[ingested_events], kinds={"duckdb"})
def events(store: CliffhangerStore) -> dg.MaterializeResult:
    """Every stored event with its session_key (30-minute gap sessions)."""
    with store.connect() as con:
        rows = build_events(con, metric_params().session_gap_minutes)
    return dg.MaterializeResult(metadata={"rows": rows})
