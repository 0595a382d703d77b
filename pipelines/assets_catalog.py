"""Ingest layer: the catalog from the landing folder."""

import dagster as dg

from cliffhanger.ingest.catalog import load_catalog, refresh_public_catalog
from pipelines.resources import CliffhangerStore


@dg.asset(group_name="ingest", kinds={"duckdb"})
def catalog(context: dg.AssetExecutionContext, store: CliffhangerStore) -> dg.MaterializeResult:
    """Series versions and episodes from the landing folder's catalog/, validated."""
    folder = store.paths().landing / "catalog"
    with store.connect() as con:
        loaded = load_catalog(con, folder)
        counts = refresh_public_catalog(con)
    context.log.info(f"catalog: {loaded.series} series, {loaded.episodes} episodes from {folder}")
    return dg.MaterializeResult(
        metadata={
            "series": counts["series"],
            "episodes": counts["episodes"],
            "new_series": loaded.new_series,
            "source": str(folder),
        }
    )
