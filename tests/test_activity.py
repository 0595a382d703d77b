"""The viewer activity the API reads (models/activity.py) from hand-built histories."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from models.activity import SCHEMA, activity_table, read_activity, write_activity

END = dt.datetime(2026, 12, 1, 12, 0)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA analytics")
    con.execute("""CREATE TABLE analytics.series AS SELECT * FROM (VALUES
        ('S1', 10, 3), ('S2', 5, 3), ('S3', 8, 8)) t(series_id, n_episodes, free_episodes)""")
    views = []

    def watch(user: str, series: str, episodes: range, at: dt.datetime, last_done: bool = True):
        for i, ep in enumerate(episodes):
            done = last_done or ep != episodes[-1]
            views.append((user, series, ep, at + dt.timedelta(minutes=2 * i), done))

    watch("u1", "S1", range(1, 5), END - dt.timedelta(days=1), last_done=False)  # in ep 4
    watch("u1", "S2", range(1, 6), END - dt.timedelta(days=2))  # all 5 done: finished
    watch("u2", "S1", range(1, 5), END - dt.timedelta(hours=3))  # 1-4 done, 5 unlocked
    watch("u2", "S3", range(1, 2), END - dt.timedelta(hours=1))  # all free
    watch("u3", "S1", range(1, 3), END - dt.timedelta(days=40))  # outside the window
    watch("u3", "S2", range(1, 2), END - dt.timedelta(days=45))  # old start of a series ...
    watch("u3", "S2", range(2, 4), END - dt.timedelta(days=5))  # ... watched again lately
    con.execute("""CREATE TABLE analytics.episode_views (user_id VARCHAR, series_id VARCHAR,
                   episode_number INTEGER, started_at TIMESTAMP, completed BOOLEAN)""")
    con.executemany("INSERT INTO analytics.episode_views VALUES (?, ?, ?, ?, ?)", views)
    con.execute("""CREATE TABLE analytics.events AS SELECT * FROM (VALUES
        ('episode_unlock', 'u2', 'S1', 5),     -- the next episode, unlocked with coins
        ('episode_unlock', 'u1', 'S1', 6),     -- not the next one
        ('paywall_view', 'u1', 'S1', 4)
        ) t(event_type, user_id, series_id, episode_number)""")
    return con


def test_activity_rows(con: duckdb.DuckDBPyConnection) -> None:
    got = activity_table(con)
    assert got.schema == pl.Schema(SCHEMA)
    rows = got.select(
        "user_id", "series_id", "next_episode_number", "next_episode_locked", "finished"
    ).rows()
    assert rows == [
        ("u1", "S1", 4, True, False),  # resume ep 4: beyond the 3 free ones, not unlocked
        ("u1", "S2", 6, False, True),  # finished
        ("u2", "S3", 2, False, False),  # most recent first
        ("u2", "S1", 5, False, False),  # ep 5 unlocked by coins
        ("u3", "S2", 4, True, False),  # started 45 days ago, watched in the window
    ]
    first = got.filter(pl.col("user_id") == "u3").row(0, named=True)
    assert first["started_at"] == "2026-10-17T12:00:00Z"
    assert first["last_watched_at"] == "2026-11-26T12:02:00Z"
    assert activity_table(con, days=1).select("user_id", "series_id").rows() == [
        ("u1", "S1"), ("u2", "S3"), ("u2", "S1")]  # fmt: skip


def test_write_and_read_back(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    frame = activity_table(con)
    path = write_activity(tmp_path / "activity.parquet", frame,
                          as_of=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))  # fmt: skip
    back, as_of = read_activity(path)
    assert back.equals(frame) and as_of == "2026-12-01T00:00:00+00:00"
    assert [p.name for p in tmp_path.iterdir()] == ["activity.parquet"]  # no leftover
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    with pytest.raises(ValueError, match="unreadable"):
        read_activity(tmp_path / "bad.parquet")
    frame.drop("finished").write_parquet(tmp_path / "short.parquet")
    with pytest.raises(ValueError, match="lacks column"):
        read_activity(tmp_path / "short.parquet")
