"""Ingest layer: the catalog and the landing folder's event files."""

import dataclasses
import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import Field

from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import event_files, ingest_files, replay_quarantine
from ingest.public import publish_ingestion_tables
from pipelines.resources import CliffhangerStore, Progress


class CatalogConfig(dg.Config):
    """Which catalog folders to load (``cliffhanger ingest`` names them)."""

    folders: list[str] | None = Field(
        default=None,
        description="Catalog folders to load; unset: the landing folder's catalog/, or keep "
        "the catalog already ingested if there is none; []: load nothing.",
    )


class MissingCatalog(RuntimeError):
    """Neither a catalog to load nor one ingested before."""


@dg.asset(group_name="ingest", kinds={"duckdb"})
def catalog(
    context: dg.AssetExecutionContext, store: CliffhangerStore, config: CatalogConfig
) -> dg.MaterializeResult:
    """Series versions and episodes, validated: loaded from catalog folders or kept as ingested."""
    landing = store.paths().landing / "catalog"
    if config.folders is not None:
        folders = [Path(f) for f in config.folders]
    else:
        folders = [landing] if landing.is_dir() else []
    with store.connect() as con:
        loads = [load_catalog(con, folder) for folder in folders]
        for loaded in loads:
            context.log.info(
                f"catalog {loaded.folder}: {loaded.series} series ({loaded.new_series} new), "
                f"{loaded.episodes} episodes"
            )
        counts = refresh_public_catalog(con)
    if config.folders is None and not folders and counts["series"] == 0:
        raise MissingCatalog(
            f"no catalog in the landing folder {landing.parent} and none ingested: run "
            f"`cliffhanger generate --out {landing.parent}`, set CLIFFHANGER_LANDING, or "
            "`cliffhanger ingest CATALOG_FOLDER`"
        )
    return dg.MaterializeResult(
        metadata={
            "series": counts["series"],
            "episodes": counts["episodes"],
            "new_series": sum(loaded.new_series for loaded in loads),
            "loaded": dg.MetadataValue.json(
                [
                    {
                        "folder": str(x.folder),
                        "series": x.series,
                        "episodes": x.episodes,
                        "new_series": x.new_series,
                    }
                    for x in loads
                ]
            ),  # fmt: skip
            "source": ", ".join(str(f) for f in folders) or "already ingested",
        }
    )


class EventsConfig(dg.Config):
    """Which event files to ingest (``cliffhanger ingest`` names them)."""

    paths: list[str] | None = Field(
        default=None,
        description="Event files and folders of event files; unset: the landing folder's events/.",
    )
    replay: bool = Field(
        default=False,
        description="Also re-validate records quarantined for an unknown series or episode.",
    )


@dg.asset(group_name="ingest", deps=[catalog], kinds={"duckdb"})
def ingested_events(
    context: dg.AssetExecutionContext,
    store: CliffhangerStore,
    progress: dg.ResourceParam[Progress],
    config: EventsConfig,
) -> dg.MaterializeResult:
    """Events of new files, validated and deduplicated, each file committed atomically."""
    if config.paths is not None:
        files = event_files(Path(p) for p in config.paths)
    else:
        folder = store.paths().landing / "events"
        files = event_files([folder]) if folder.is_dir() else []
    with store.connect() as con:
        results = ingest_files(con, files, now=dt.datetime.now(dt.UTC), progress=progress.records)
        for result in results:
            name = Path(result.file_path).name
            if result.status == "ingested":
                context.log.info(
                    f"{name}: {result.records_in} in, {result.loaded} loaded, "
                    f"{result.quarantined} quarantined, {result.duplicates} duplicates"
                )
            elif result.status == "refused":
                context.log.warning(f"{name}: {result.message}")
        replay = replay_quarantine(con) if config.replay else None
        stored = con.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        tables = publish_ingestion_tables(con)
    new = [r for r in results if r.status == "ingested"]
    metadata: dict[str, object] = {
        "files_seen": len(files),
        "files_ingested": len(new),
        "files_refused": sum(r.status == "refused" for r in results),
        "records_in": sum(r.records_in for r in new),
        "loaded": sum(r.loaded for r in new),
        "quarantined": sum(r.quarantined for r in new),
        "duplicates": sum(r.duplicates for r in new),
        "stored_events": stored,
        "quarantine_rows": tables["quarantine"],
        # every file's accounting, as the CLI prints it
        "files": dg.MetadataValue.json([dataclasses.asdict(r) for r in results]),
    }
    if replay is not None:
        metadata["replay"] = dg.MetadataValue.json(dataclasses.asdict(replay))
    return dg.MaterializeResult(metadata=metadata)


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
