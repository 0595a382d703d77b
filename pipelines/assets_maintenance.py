"""Maintenance layer: upkeep of the events' Parquet files (core/maintenance.py).

``warehouse_maintenance`` flushes the inline buffer, merges the small files of a date and
deletes retired files that no kept snapshot reads and that were retired longer ago than the
retention period readers may still hold. Its own job runs nightly (``maintenance_nightly``)
or by hand (``cliffhanger maintain``); ``everything`` leaves it out.
"""

import datetime as dt

import dagster as dg

from core.maintenance import RETENTION, SMALL_FILE_BYTES, maintain
from core.warehouse import kept_versions
from pipelines.resources import CliffhangerStore


class MaintenanceConfig(dg.Config):
    """How long a retired file outlives the last snapshot that read it, and what is small."""

    retention_hours: float = RETENTION.total_seconds() / 3600
    small_file_mb: float = SMALL_FILE_BYTES / 2**20


@dg.asset(group_name="maintenance", kinds={"duckdb", "parquet"})
def warehouse_maintenance(
    context: dg.AssetExecutionContext, store: CliffhangerStore, config: MaintenanceConfig
) -> dg.MaterializeResult:
    """Flush inlined events, merge small event files, expire files nobody can read."""
    if config.retention_hours < 0 or config.small_file_mb <= 0:
        raise dg.Failure("retention_hours must be ≥ 0 and small_file_mb > 0")
    with store.connect() as con:
        result = maintain(
            con,
            kept_versions(store.paths()),
            retention=dt.timedelta(hours=config.retention_hours),
            small_bytes=int(config.small_file_mb * 2**20),
        )
    context.log.info(
        f"merged {result.merged_files} files of {result.merged_dates} dates into "
        f"{result.written_files}; expired {result.expired_files} files "
        f"({result.expired_bytes / 2**20:.1f} MB); {result.retired_files} retired files wait"
    )
    return dg.MaterializeResult(
        metadata={
            "flushed_rows": result.flushed_rows,
            "merged_dates": result.merged_dates,
            "merged_files": result.merged_files,
            "written_files": result.written_files,
            "expired_files": result.expired_files,
            "expired_bytes": result.expired_bytes,
            "listed_files": result.listed_files,
            "retired_files": result.retired_files,
            "expired_snapshots": result.expired_snapshots,  # lake mode
        }
    )


maintenance_job = dg.define_asset_job(
    "maintenance",
    selection=dg.AssetSelection.groups("maintenance"),
    description="Flush, compact and expire the events' files: `cliffhanger maintain`.",
)
maintenance_schedule = dg.ScheduleDefinition(
    name="maintenance_nightly", job=maintenance_job, cron_schedule="30 3 * * *"
)
