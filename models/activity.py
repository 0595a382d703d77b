"""The viewers' activity the API reads beside the model bundle (docs/api.md, "Activity").

One row per user × series version the user watched in the last ``days`` days of the data
(default 30): where they are in it and whether the next episode is locked for them. The API
uses it for three things between two trainings:

- ``continue-watching`` (and the home page's first row): the series in progress;
- fresh viewers (users the bundle does not know) who started a series or two get a
  personalised list, folded in from their started stories through the item-item scorer;
- every list leaves out the stories of this table as started, also those started after the
  model's training data ended.

It is refreshed by a frequent job (``pipelines.assets_activity``) and published as one Parquet
file replaced atomically (written beside it, then renamed over it), so the API reads it without
locks and picks a new one up on its watcher thread.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

ACTIVITY_DAYS = 30
SCHEMA = {
    "user_id": pl.String,
    "series_id": pl.String,
    "started_at": pl.String,  # first view, ISO-8601 UTC (``2026-12-02T13:04:05Z``)
    "last_watched_at": pl.String,  # last view, same format
    "next_episode_number": pl.Int32,  # the episode to play: resume, or the one after
    "next_episode_locked": pl.Boolean,  # behind the paywall and not unlocked by this user
    "finished": pl.Boolean,  # the last episode watched to the end
}

SQL = """
WITH data_end AS (
    SELECT max(started_at) AS t FROM analytics.episode_views
), recent AS (   -- pairs with a view in the window
    SELECT DISTINCT v.user_id, v.series_id
    FROM analytics.episode_views v, data_end d
    WHERE v.started_at >= d.t - to_days($days::INTEGER)
), views AS (    -- every view of those pairs
    SELECT v.user_id, v.series_id, v.episode_number, v.started_at, v.completed
    FROM analytics.episode_views v JOIN recent r USING (user_id, series_id)
), per AS (
    SELECT user_id, series_id, min(started_at) AS started_at,
           max(started_at) AS last_watched_at, max(episode_number) AS last_episode
    FROM views GROUP BY ALL
), last_done AS (
    SELECT p.user_id, p.series_id, bool_or(v.completed) AS last_completed
    FROM per p JOIN views v
      ON v.user_id = p.user_id AND v.series_id = p.series_id
     AND v.episode_number = p.last_episode
    GROUP BY ALL
), placed AS (
    SELECT p.user_id, p.series_id, p.started_at, p.last_watched_at,
           (p.last_episode + CASE WHEN l.last_completed THEN 1 ELSE 0 END)::INTEGER
               AS next_episode_number,
           coalesce(l.last_completed AND p.last_episode >= s.n_episodes, FALSE) AS finished,
           s.free_episodes
    FROM per p JOIN last_done l USING (user_id, series_id)
    JOIN analytics.series s USING (series_id)
), unlocks AS (
    SELECT DISTINCT user_id, series_id, episode_number
    FROM analytics.events WHERE event_type = 'episode_unlock' AND episode_number IS NOT NULL
)
SELECT p.user_id, p.series_id,
       strftime(p.started_at, '%Y-%m-%dT%H:%M:%SZ') AS started_at,
       strftime(p.last_watched_at, '%Y-%m-%dT%H:%M:%SZ') AS last_watched_at,
       p.next_episode_number,
       (NOT p.finished AND p.next_episode_number > coalesce(p.free_episodes, 0)
        AND u.user_id IS NULL) AS next_episode_locked,
       p.finished
FROM placed p
LEFT JOIN unlocks u
  ON u.user_id = p.user_id AND u.series_id = p.series_id
 AND u.episode_number = p.next_episode_number
ORDER BY p.user_id, p.last_watched_at DESC, p.series_id
"""


def activity_table(con: duckdb.DuckDBPyConnection, days: int = ACTIVITY_DAYS) -> pl.DataFrame:
    """The activity rows from the warehouse's ``analytics`` tables (columns of ``SCHEMA``)."""
    frame = pl.from_arrow(con.sql(SQL, params={"days": int(days)}).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]


def write_activity(path: Path, frame: pl.DataFrame, as_of: dt.datetime | None = None) -> Path:
    """Publish ``frame`` at ``path`` atomically (a file beside it renamed over it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    missing = [c for c in SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"activity lacks column(s) {', '.join(missing)}")
    table = frame.select(list(SCHEMA)).cast(SCHEMA).to_arrow()  # type: ignore[arg-type]
    stamp = (as_of or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"as_of": stamp.encode()}
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_activity(path: Path) -> tuple[pl.DataFrame, str | None]:
    """The published activity and its ``as_of`` (``ValueError`` for a bad file).

    Read with polars (pyarrow's first ``read_table`` in a process costs seconds of imports).
    """
    name = Path(path).name
    try:
        frame = pl.read_parquet(path)
        meta = pl.read_parquet_metadata(path)
    except Exception as exc:  # polars raises several types for a damaged file
        raise ValueError(f"{name} is unreadable: {type(exc).__name__}: {exc}") from None
    missing = [c for c in SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}")
    for col, dtype in SCHEMA.items():
        if frame.schema[col] != dtype:
            raise ValueError(f"{name}: {col} must be {dtype}, got {frame.schema[col]}")
    if frame["user_id"].null_count() or frame["series_id"].null_count():
        raise ValueError(f"{name} has null user or series ids")
    return frame, meta.get("as_of")
