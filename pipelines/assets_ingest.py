"""Ingest layer: the catalog and the landing folder's event files."""

import datetime as dt
from pathlib import Path

import dagster as dg

from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import event_files, ingest_files
from ingest.public import publish_ingestion_tables
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


@dg.asset(group_name="ingest", deps=[catalog], kinds={"duckdb"})
def ingested_events(
    context: dg.AssetExecutionContext, store: CliffhangerStore
) -> dg.MaterializeResult:
    """Events of new landing files, validated and deduplicated, each file committed atomically."""
    folder = store.paths().landing / "events"
    files = event_files([folder]) if folder.is_dir() else []
    with store.connect() as con:
        results = ingest_files(con, files, now=dt.datetime.now(dt.UTC))
        for result in results:
            name = Path(result.file_path).name
            if result.status == "ingested":
                context.log.info(
                    f"{name}: {result.records_in} in, {result.loaded} loaded, "
                    f"{result.quarantined} quarantined, {result.duplicates} duplicates"
                )
            elif result.status == "refused":
                context.log.warning(result.message)
        stored = con.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        tables = publish_ingestion_tables(con)
    new = [r for r in results if r.status == "ingested"]
    return dg.MaterializeResult(
        metadata={
            "files_seen": len(files),
            "files_ingested": len(new),
            "files_refused": sum(r.status == "refused" for r in results),
            "records_in": sum(r.records_in for r in new),
            "loaded": sum(r.loaded for r in new),
            "quarantined": sum(r.quarantined for r in new),
            "duplicates": sum(r.duplicates for r in new),
            "stored_events": stored,
            "quarantine_rows": tables["quarantine"],
        }
    )


@dg.asset_check(asset=ingested_events, blocking=True)
def event_ids_unique(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Every stored event_id appears once (dedup holds)."""
    with store.connect() as con:
        dupes = con.execute(
            "SELECT count(*) - count(DISTINCT event_id) FROM raw.events"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicate_event_ids": dupes})


@dg.asset_check(asset=ingested_events, blocking=True)
def accounting_balances(store: CliffhangerStore) -> dg.AssetCheckResult:
    """records_in = loaded + quarantined + duplicates for every file, and matches the tables."""
    with store.connect() as con:
        unbalanced = con.execute(
            "SELECT count(*) FROM raw.ingestion_files "
            "WHERE records_in <> loaded + quarantined + duplicates"
        ).fetchone()[0]
        mismatched = con.execute(
            """
            SELECT count(*) FROM raw.ingestion_files f
            WHERE f.quarantined <> (SELECT count(*) FROM raw.quarantine q
                                    WHERE q.file_sha256 = f.content_sha256
                                      AND q.status = 'quarantined')
            """
        ).fetchone()[0]
        loaded_total, stored = con.execute(
            "SELECT (SELECT coalesce(sum(loaded), 0) FROM raw.ingestion_files), "
            "(SELECT count(*) FROM raw.events)"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=unbalanced == 0 and mismatched == 0 and loaded_total == stored,
        metadata={
            "unbalanced_files": unbalanced,
            "files_not_matching_quarantine": mismatched,
            "loaded_total": loaded_total,
            "stored_events": stored,
        },
    )


@dg.asset_check(asset=ingested_events, blocking=True)
def timestamps_in_range(store: CliffhangerStore) -> dg.AssetCheckResult:
    """No stored event is before 2015 or more than a day in the future."""
    with store.connect() as con:
        bad = con.execute(
            "SELECT count(*) FROM raw.events WHERE ts < TIMESTAMPTZ '2015-01-01 00:00:00+00' "
            "OR ts > now() + INTERVAL 1 DAY"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"out_of_range": bad})
