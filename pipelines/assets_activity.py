"""The viewers' recent activity the API reads beside the bundle (models/activity.py).

Refreshed by every full run and, between two trainings, by the frequent
``viewer_activity_refresh`` job (schedule ``viewer_activity_every_15_minutes``): continue-watching, fresh viewers' lists
and started series kept out of lists depend on it, not on the next training.
"""

import dagster as dg

from models.activity import ACTIVITY_DAYS, activity_table, write_activity
from pipelines.resources import CliffhangerStore


@dg.asset(group_name="activity", deps=["episode_views", "events"], kinds={"duckdb", "parquet"})
def viewer_activity(store: CliffhangerStore) -> dg.MaterializeResult:
    """Per user × series watched in the last 30 days of the data: the next episode, whether it
    is locked for the user, finished or not; published atomically beside the model bundles."""
    with store.connect() as con:
        frame = activity_table(con, ACTIVITY_DAYS)
        as_of = con.execute("SELECT max(started_at) FROM analytics.episode_views").fetchone()
    stamp = as_of[0] if as_of else None
    path = write_activity(store.paths().models_dir / "activity.parquet", frame, as_of=stamp)
    return dg.MaterializeResult(
        metadata={
            "rows": frame.height,
            "users": frame["user_id"].n_unique(),
            "in_progress": int((~frame["finished"]).sum()),
            "data_end": str(stamp),
            "path": str(path),
        }
    )


viewer_activity_job = dg.define_asset_job(
    "viewer_activity_refresh",
    selection=dg.AssetSelection.groups("activity"),
    description="Republish the viewers' activity for the API (frequent, between trainings).",
)
viewer_activity_schedule = dg.ScheduleDefinition(
    name="viewer_activity_every_15_minutes",
    job=viewer_activity_job,
    cron_schedule="*/15 * * * *",
)
