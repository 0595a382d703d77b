"""Sessions and episode views shared by snapshots as date parts, copy-on-write
(core/shared_tables.py): a publish writes only the dates the build changed, as new files; a
published snapshot's parts are never edited, so it keeps its rows while a late event re-keys
a session; the newest snapshot equals the working tables and a full rebuild."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from core.config import MetricParams, Paths
from core.warehouse import publish, working_database
from features import build_all
from tests.test_engagement import D1, EVENTS, NOW, ev, hand_catalog
from tests.test_incremental import Same, ingest, table_rows, write_events

SHARED = ("sessions", "episode_views")
D0 = "2026-09-06"


def parts(p: Paths) -> dict[tuple[str, str], str]:
    """(table, date) -> the listed part's path."""
    with working_database(p) as con:
        rows = con.execute("SELECT table_name, part_date::VARCHAR, path FROM raw.table_parts")
        return {(t, d): path for t, d, path in rows.fetchall()}


def published_rows(path: Path) -> dict[str, Same]:
    reader = duckdb.connect(str(path), read_only=True)
    try:
        kinds = dict(reader.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'analytics'").fetchall())  # fmt: skip
        assert all(kinds[t] == "VIEW" for t in SHARED), kinds
        return {t: Same(table_rows(reader, t)) for t in (*SHARED, "events")}
    finally:
        reader.close()


def working_rows(p: Paths) -> dict[str, Same]:
    with working_database(p) as con:
        return {t: Same(table_rows(con, t)) for t in (*SHARED, "events")}


def build_and_publish(p: Paths, full: bool = False):
    with working_database(p) as con:
        build_all(con, MetricParams(), full=full)
        return publish(con, p)


def test_a_late_event_rewrites_only_the_dates_it_touches(tmp_path: Path) -> None:
    p = hand_catalog(tmp_path)
    # the hand-made days, and one more viewer a day before (a date nothing later touches)
    early = [ev("c1", "app_open", f"{D0}T09:00:00Z", "C"),
             ev("c2", "episode_start", f"{D0}T09:00:05Z", "C", "S1", 1),
             ev("c3", "episode_progress", f"{D0}T09:01:00Z", "C", "S1", 1, 55)]  # fmt: skip
    ingest(p, write_events(tmp_path / "all.jsonl", early + EVENTS), NOW)
    first = build_and_publish(p)
    before, first_rows = parts(p), working_rows(p)
    assert {d for _, d in before} == {D0, "2026-09-07", "2026-09-08"}
    assert published_rows(first.path) == first_rows

    # 30 minutes before A's 23:50 session: they merge, the session is re-keyed, and A's later
    # session (next day) is re-tagged too
    late = [ev("late1", "app_open", f"{D1}T23:20:00Z", "A")]
    ingest(p, write_events(tmp_path / "late.jsonl", late), NOW + dt.timedelta(days=1))
    second = build_and_publish(p)
    after, second_rows = parts(p), working_rows(p)
    # the untouched date keeps its part; the touched ones got new files
    for table in SHARED:
        assert after[(table, D0)] == before[(table, D0)]
        for day in ("2026-09-07", "2026-09-08"):
            assert after[(table, day)] != before[(table, day)]
    work = p.working_db.parent
    assert all((work / path).is_file() for path in before.values())  # retired, not deleted
    # the first snapshot still reads its own parts: the old key, nothing of the late event
    old = published_rows(first.path)
    assert old == first_rows and old["sessions"] != second_rows["sessions"]
    reader = duckdb.connect(str(first.path), read_only=True)
    try:
        assert reader.execute("SELECT session_key FROM analytics.sessions WHERE user_id = 'A' "
                              "ORDER BY started_at").fetchall() == [
            ("A@2026-09-07T23:50:00.000Z",), ("A@2026-09-08T01:00:00.000Z",)]  # fmt: skip
    finally:
        reader.close()
    new = published_rows(second.path)
    assert new == second_rows
    assert [r[0] for r in second_rows["sessions"].rows if r[1] == "A"][0] == (
        "A@2026-09-07T23:20:00.000Z"
    )

    # nothing new: the next publish writes no part at all
    third = build_and_publish(p)
    assert parts(p) == after and published_rows(third.path) == second_rows

    # a full rebuild marks every date: all rewritten, the same rows
    fourth = build_and_publish(p, full=True)
    rebuilt = parts(p)
    assert set(rebuilt) == set(after) and not set(rebuilt.values()) & set(after.values())
    assert published_rows(fourth.path) == second_rows == working_rows(p)


def test_a_date_that_loses_every_row_loses_its_part(tmp_path: Path) -> None:
    p = hand_catalog(tmp_path)
    # C's one session starts just after midnight on D1 ...
    ingest(p, write_events(tmp_path / "a.jsonl", [
        ev("c1", "app_open", f"{D1}T00:10:00Z", "C"),
        ev("c2", "episode_start", f"{D1}T00:10:05Z", "C", "S1", 1)]), NOW)  # fmt: skip
    first = build_and_publish(p)
    assert {d for _, d in parts(p)} == {D1}
    # ... until a late event 20 minutes earlier, on D0, joins it: the session and its view
    # now start on D0, and D1 holds no row of either table
    late = [ev("c0", "app_open", f"{D0}T23:50:00Z", "C")]
    ingest(p, write_events(tmp_path / "late.jsonl", late), NOW + dt.timedelta(hours=1))
    second = build_and_publish(p)
    with working_database(p) as con:
        assert con.execute("SELECT session_key, start_date::VARCHAR, n_events "
                           "FROM analytics.sessions").fetchall() == [
            ("C@2026-09-06T23:50:00.000Z", D0, 3)]  # fmt: skip
        views = con.execute("SELECT start_date::VARCHAR FROM analytics.episode_views").fetchall()
    # the view started at 00:10:05 on D1: still D1; the session moved to D0
    assert views == [(D1,)]
    assert {(t, d) for t, d in parts(p)} == {("sessions", D0), ("episode_views", D1)}
    assert published_rows(second.path) == working_rows(p)
    assert published_rows(first.path)["sessions"].rows[0][0] == "C@2026-09-07T00:10:00.000Z"
