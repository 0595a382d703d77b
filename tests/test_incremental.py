"""Incremental builds: new event dates recompute only what they touch, and equal a rebuild."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import pytest

from core.config import MetricParams, Paths
from core.warehouse import working_database
from features import build_all
from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import event_files, ingest_file, ingest_files
from synthetic import GenerateSpec, generate
from tests.test_engagement import D1, D2, EVENTS, NOW, ev, hand_catalog

ANALYTICS = (
    "events", "sessions", "episode_views", "daily_engagement", "series_episode_funnel",
    "episode_retention_curve", "retention_cohorts", "series_scorecard", "series_launch_daily",
    "launch_benchmark", "launch_forecast",
)  # fmt: skip


def table_rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """Rows in a canonical order (floats coarsely rounded for ordering only)."""
    rows = con.execute(f"SELECT * FROM analytics.{table}").fetchall()  # noqa: S608 (constant names)

    def key(row: tuple) -> str:
        return repr(tuple(float(f"{v:.6g}") if isinstance(v, float) else v for v in row))

    return sorted(rows, key=key)


class Same:
    """Equal tables: identical values, floats equal up to summation order (1e-9 relative)."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def __eq__(self, other: object) -> bool:
        rows = other.rows if isinstance(other, Same) else other
        if len(rows) != len(self.rows):
            return False
        for a, b in zip(self.rows, rows, strict=True):
            for x, y in zip(a, b, strict=True):
                if isinstance(x, float) and isinstance(y, float):
                    if not (math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
                            or (math.isnan(x) and math.isnan(y))):  # fmt: skip
                        return False
                elif x != y:
                    return False
        return True

    def __repr__(self) -> str:
        return f"Same({len(self.rows)} rows)"


def snapshot(p: Paths) -> dict[str, list[tuple]]:
    with working_database(p) as con:
        return {t: Same(table_rows(con, t)) for t in ANALYTICS}


def write_events(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def build(p: Paths, full: bool = False) -> dict:
    with working_database(p) as con:
        return build_all(con, MetricParams(), full=full)


@pytest.fixture()
def empty(tmp_path: Path) -> Paths:
    """The hand-built catalog of test_engagement, with no events yet."""
    return hand_catalog(tmp_path)


def ingest(p: Paths, path: Path, at: dt.datetime) -> int:
    with working_database(p) as con:
        return ingest_file(con, path, now=at).loaded


def test_midnight_session_merges_across_increments(empty: Paths, tmp_path: Path) -> None:
    day1 = [e for e in EVENTS if e["ts"].startswith(D1)]
    day2 = [e for e in EVENTS if e["ts"].startswith(D2)]
    ingest(empty, write_events(tmp_path / "d1.jsonl", day1), NOW)
    first = build(empty)
    assert first["mode"] == "full"
    with working_database(empty) as con:
        # before day 2 arrives, A's evening session ends at 23:55
        assert con.execute(
            "SELECT session_key, ended_at::VARCHAR, episodes_started FROM analytics.sessions "
            "WHERE user_id = 'A'"
        ).fetchall() == [("A@2026-09-07T23:50:00.000Z", f"{D1} 23:55:00+00", 2)]

    ingest(empty, write_events(tmp_path / "d2.jsonl", day2), NOW + dt.timedelta(hours=1))
    second = build(empty)
    assert second["mode"] == "incremental"
    with working_database(empty) as con:
        state = con.execute(
            "SELECT mode FROM derived.build_state ORDER BY built_at DESC LIMIT 1"
        ).fetchone()
        assert state == ("incremental",)
        # the same session now runs past midnight: 23:50:00 -> 00:10:30, 4 views
        assert con.execute(
            "SELECT session_key, duration_s, episodes_started, distinct_series, watch_s "
            "FROM analytics.sessions WHERE user_id = 'A' ORDER BY started_at"
        ).fetchall() == [
            ("A@2026-09-07T23:50:00.000Z", 1230.0, 4, 2, 198.0),
            ("A@2026-09-08T01:00:00.000Z", 60.0, 1, 1, 60.0),
        ]
        # B had nothing new: untouched
        assert con.execute(
            "SELECT session_key, n_events FROM analytics.sessions WHERE user_id = 'B'"
        ).fetchall() == [("B@2026-09-07T10:00:00.000Z", 2)]
        # increments patch tables in place: their documentation stays
        undocumented = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'analytics' "
            "AND comment IS NULL UNION ALL SELECT view_name FROM duckdb_views() "
            "WHERE schema_name = 'analytics' AND comment IS NULL"
        ).fetchall()
        assert undocumented == []
    incremental = snapshot(empty)
    assert build(empty, full=True)["mode"] == "full"
    assert snapshot(empty) == incremental


def test_late_event_rekeys_the_session_it_joins(empty: Paths, tmp_path: Path) -> None:
    ingest(empty, write_events(tmp_path / "all.jsonl", EVENTS), NOW)
    build(empty)
    # exactly 30 minutes before A's 23:50 session: not more than the gap, so they merge
    late = [ev("late1", "app_open", f"{D1}T23:20:00Z", "A")]
    ingest(empty, write_events(tmp_path / "late.jsonl", late), NOW + dt.timedelta(days=1))
    assert build(empty)["mode"] == "incremental"
    with working_database(empty) as con:
        keys = con.execute(
            "SELECT session_key, n_events FROM analytics.sessions WHERE user_id = 'A' "
            "ORDER BY started_at"
        ).fetchall()
        assert keys == [("A@2026-09-07T23:20:00.000Z", 12), ("A@2026-09-08T01:00:00.000Z", 2)]
        # the views moved to the new key; none is left pointing at the old one
        assert con.execute(
            "SELECT count(*) FROM analytics.episode_views "
            "WHERE session_key = 'A@2026-09-07T23:50:00.000Z'"
        ).fetchone() == (0,)
        assert con.execute(
            "SELECT session_key FROM analytics.events WHERE event_id = 'a11'"
        ).fetchone() == ("A@2026-09-07T23:20:00.000Z",)
    incremental = snapshot(empty)
    build(empty, full=True)
    assert snapshot(empty) == incremental


def test_nothing_new_changes_nothing(empty: Paths, tmp_path: Path) -> None:
    ingest(empty, write_events(tmp_path / "all.jsonl", EVENTS), NOW)
    build(empty)
    before = snapshot(empty)
    assert build(empty)["mode"] == "unchanged"
    assert snapshot(empty) == before


def test_parameter_change_forces_a_full_rebuild(empty: Paths, tmp_path: Path) -> None:
    ingest(empty, write_events(tmp_path / "all.jsonl", EVENTS), NOW)
    build(empty)
    with working_database(empty) as con:
        shorter = MetricParams(session_gap_minutes=5)
        assert build_all(con, shorter)["mode"] == "full"
        # with a 5-minute gap A's evening splits at the 10-minute pause before 00:05
        # (23:55 -> 00:05); the 3m57s pause before 00:10 does not split
        assert con.execute(
            "SELECT session_key FROM analytics.sessions WHERE user_id = 'A' ORDER BY 1"
        ).fetchall() == [
            ("A@2026-09-07T23:50:00.000Z",),
            ("A@2026-09-08T00:05:00.000Z",),
            ("A@2026-09-08T01:00:00.000Z",),
        ]


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    data = tmp_path_factory.mktemp("incr") / "data"
    generate(GenerateSpec(users=1200, days=14, seed=23, out=data, fmt="parquet"))
    return data, event_files([data / "events"])


def test_daily_increments_equal_a_full_rebuild(
    two_weeks: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    data, files = two_weeks
    assert len(files) == 14
    p = Paths(home=tmp_path, warehouse=tmp_path / "w" / "c.duckdb", landing=data,
              dagster_home=tmp_path / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, data / "catalog")
        refresh_public_catalog(con)
        ingest_files(con, files[:12])
        assert build_all(con, MetricParams())["mode"] == "full"
        for day in files[12:]:
            ingest_files(con, [day])
            counts = build_all(con, MetricParams())
            assert counts["mode"] == "incremental"
            touched, total = con.execute(
                "SELECT (SELECT count(DISTINCT user_id) FROM raw.events WHERE event_date = "
                "(SELECT max(event_date) FROM raw.events)), "
                "(SELECT count(DISTINCT user_id) FROM raw.events)"
            ).fetchone()
            assert touched < total  # an increment that touched everyone would prove nothing
    incremental = snapshot(p)
    assert all(incremental[t].rows for t in ANALYTICS)
    build(p, full=True)
    rebuilt = snapshot(p)
    for table in ANALYTICS:
        assert rebuilt[table] == incremental[table], table


def test_a_pause_longer_than_the_gap_ends_the_view(empty: Paths, tmp_path: Path) -> None:
    """Progress after a 45-minute pause with no new episode_start is another session's and
    belongs to no view (METRICS.md: a view's events are in the same session)."""
    events = [
        ev("c1", "episode_start", f"{D1}T10:00:00Z", "C", "S1", 1),
        ev("c2", "episode_progress", f"{D1}T10:00:10Z", "C", "S1", 1, 10),
        ev("c3", "episode_progress", f"{D1}T10:45:00Z", "C", "S1", 1, 50),
        ev("c4", "episode_exit", f"{D1}T10:45:05Z", "C", "S1", 1, 55),
    ]
    ingest(empty, write_events(tmp_path / "c.jsonl", events), NOW)
    build(empty)
    with working_database(empty) as con:
        assert con.execute(
            "SELECT session_key, max_position_s, completed FROM analytics.episode_views"
        ).fetchall() == [("C@2026-09-07T10:00:00.000Z", 10.0, False)]
        assert con.execute(
            "SELECT session_key, n_events, episodes_started, watch_s FROM analytics.sessions "
            "ORDER BY started_at"
        ).fetchall() == [
            ("C@2026-09-07T10:00:00.000Z", 2, 1, 10.0),
            ("C@2026-09-07T10:45:00.000Z", 2, 0, 0.0),
        ]
