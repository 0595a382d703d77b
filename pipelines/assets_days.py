"""Daily partitions: per-day derived work that runs one day per run, days in parallel.

``engagement_day`` recomputes one UTC date's row of ``analytics.daily_engagement`` (the row
the full build makes) after late events for that date arrived, or for a backfill. Dagster
launches one run per partition: on one machine the multiprocess executor and a queued run
coordinator run several at once, across machines Dagster's celery executor (a Redis broker)
or Kubernetes executor do (docs/architecture.md, "Daily partitions"). In lake mode the runs
write side by side and retry the commit races DuckLake reports (its conflict checks are per
table, not per partition); on the embedded file they take turns on the working lock.
"""

import datetime as dt

import dagster as dg
from dagster_celery import celery_executor

from core.lake import write_with_retry
from features.engagement import build_engagement_day
from pipelines.resources import CliffhangerStore

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC", end_offset=1)


@dg.asset(
    group_name="days",
    partitions_def=DAYS,
    deps=["daily_engagement"],
    kinds={"duckdb"},
)
def engagement_day(
    context: dg.AssetExecutionContext, store: CliffhangerStore
) -> dg.MaterializeResult:
    """One UTC date of daily engagement, replaced in one transaction (a killed run leaves the
    old row; its re-run writes the same row)."""
    day = dt.date.fromisoformat(context.partition_key)
    attempts = 0

    def replace(con) -> int:
        nonlocal attempts
        attempts += 1
        return build_engagement_day(con, day)

    with store.connect(exclusive=False) as con:
        rows = write_with_retry(con, replace)
    if attempts > 1:
        context.log.info(f"{day}: committed after {attempts - 1} lost commit race(s)")
    return dg.MaterializeResult(metadata={"date": str(day), "rows": rows, "attempts": attempts})


days_job = dg.define_asset_job(
    "days",
    selection=dg.AssetSelection.groups("days"),
    partitions_def=DAYS,
    description="Recompute one day (a partition) of the per-day tables; backfills run days in "
    "parallel.",
)


# the same partitions, their steps run by Celery workers on other machines (a Redis broker);
# run config: execution.config.broker / backend (docs/architecture.md, "Daily partitions")
days_celery_job = dg.define_asset_job(
    "days_celery",
    selection=dg.AssetSelection.groups("days"),
    partitions_def=DAYS,
    executor_def=celery_executor,
    description="The `days` job with its steps on Celery workers (Redis broker).",
)
