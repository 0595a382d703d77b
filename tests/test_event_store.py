"""The events of record as date-partitioned Parquet files that snapshots share
(core/event_store.py): one file per (ingested file, event date), listed atomically with the
ingest bookkeeping, never edited; a published snapshot's ``analytics.events`` is a view over a
fixed file list, so publishing copies no events; unlisted files of a crash are swept; a
pre-Parquet warehouse's events table is migrated."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest

from core import event_store
from core.config import Paths
from core.warehouse import publish, working_database
from ingest.events import ensure_schema, ingest_files

NOW = dt.datetime(2026, 9, 12, tzinfo=dt.UTC)


def events_file(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A JSON-lines file of app_open events ``(event_id, ts, user_id)``."""
    path.write_text(
        "".join(
            json.dumps({"event_id": e, "event_type": "app_open", "ts": ts, "user_id": u}) + "\n"
            for e, ts, u in rows
        )
    )
    return path


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path, tmp_path / "warehouse" / "cliffhanger.duckdb", tmp_path / "landing",
                 tmp_path)  # fmt: skip


def listed(con: duckdb.DuckDBPyConnection) -> list[tuple[str, dt.date, int]]:
    return con.execute(
        "SELECT path, event_date, rows FROM raw.event_files ORDER BY event_date, path"
    ).fetchall()


def add_public_view(con: duckdb.DuckDBPyConnection) -> None:
    """The analytics schema the pipeline would build: here a view over the events and a
    table (the real pipeline's view joins sessions; tests/test_pipeline.py covers that)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    con.execute(
        "CREATE OR REPLACE VIEW analytics.events AS SELECT event_id, ts, event_date, user_id "
        "FROM raw.events"
    )
    con.execute("COMMENT ON VIEW analytics.events IS 'every stored event'")
    con.execute(
        "CREATE OR REPLACE TABLE analytics.users AS SELECT DISTINCT user_id FROM raw.events"
    )


def test_one_file_per_date_listed_with_the_ingest(paths: Paths, tmp_path: Path) -> None:
    src = events_file(tmp_path / "a.jsonl", [
        ("e1", "2026-09-10T23:59:00Z", "u1"), ("e2", "2026-09-11T00:01:00Z", "u1"),
        ("e3", "2026-09-11T08:00:00Z", "u2"), ("e3", "2026-09-11T08:00:00Z", "u2"),  # a duplicate
    ])  # fmt: skip
    with working_database(paths) as con:
        [acc] = ingest_files(con, [src], now=NOW)
        assert (acc.loaded, acc.duplicates) == (3, 1)
        files = listed(con)
        assert [(d, n) for _, d, n in files] == [
            (dt.date(2026, 9, 10), 1),
            (dt.date(2026, 9, 11), 2),
        ]
        root = event_store.events_dir(paths.working_db)
        for path, day, _ in files:
            assert path.startswith(f"event_date={day.isoformat()}/") and (root / path).is_file()
        assert con.execute("SELECT count(*) FROM raw.event_rows").fetchall() == [(0,)]
        assert con.execute("SELECT event_id FROM raw.events ORDER BY 1").fetchall() == [
            ("e1",),
            ("e2",),
            ("e3",),
        ]
        # a late event for 2026-09-11 adds a file for that date; the first one is untouched
        first = {p: (root / p).stat().st_mtime_ns for p, _, _ in files}
        late = events_file(tmp_path / "late.jsonl", [("e4", "2026-09-11T09:00:00Z", "u3"),
                                                       ("e1", "2026-09-10T23:59:00Z", "u1")])  # fmt: skip
        [acc2] = ingest_files(con, [late], now=NOW)
        assert (acc2.loaded, acc2.duplicates) == (1, 1)
        after = listed(con)
        assert len(after) == 3
        assert sorted(n for _, d, n in after if d == dt.date(2026, 9, 11)) == [1, 2]
        assert {p: (root / p).stat().st_mtime_ns for p in first} == first
        assert con.execute("SELECT count(*) FROM raw.events").fetchall() == [(4,)]


def test_snapshots_share_the_files_instead_of_copying(paths: Paths, tmp_path: Path) -> None:
    day1 = events_file(tmp_path / "d1.jsonl",
                       [(f"a{i}", "2026-09-10T10:00:00Z", f"u{i % 7}") for i in range(5000)])  # fmt: skip
    day2 = events_file(tmp_path / "d2.jsonl",
                       [(f"b{i}", "2026-09-11T10:00:00Z", f"u{i % 5}") for i in range(20000)])  # fmt: skip
    with working_database(paths) as con:
        ingest_files(con, [day1], now=NOW)
        add_public_view(con)
        first = publish(con, paths)
        ingest_files(con, [day2], now=NOW)
        add_public_view(con)
        second = publish(con, paths)
    assert first.tables["events"] == 5000 and second.tables["events"] == 25000
    old = duckdb.connect(str(first.path), read_only=True)
    new = duckdb.connect(str(second.path), read_only=True)
    try:
        # each snapshot reads its own fixed list: the first still sees 5,000 events
        assert old.execute("SELECT count(*) FROM analytics.events").fetchall() == [(5000,)]
        assert new.execute("SELECT count(*) FROM analytics.events").fetchall() == [(25000,)]
        assert new.execute(
            "SELECT count(DISTINCT user_id) FROM analytics.events WHERE event_date = '2026-09-11'"
        ).fetchall() == [(5,)]
        assert old.execute("SELECT count(*) FROM analytics.users").fetchall() == [(7,)]
        # a view over the same day-1 file in both, with the working database's comment
        sql_old, comment = old.execute(
            "SELECT sql, comment FROM duckdb_views() WHERE view_name = 'events'"
        ).fetchall()[0]
        sql_new = new.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'events'").fetchall()[0][0]  # fmt: skip
        assert comment == "every stored event"
        files_old = re.findall(r"'([^']+[.]parquet)'", sql_old)
        files_new = re.findall(r"'([^']+[.]parquet)'", sql_new)
        assert len(files_old) == 1 and len(files_new) == 2 and files_old[0] in files_new
    finally:
        old.close()
        new.close()
    # the snapshot files hold no events: four times the events, about the same size
    assert second.path.stat().st_size < 2 * first.path.stat().st_size


def test_a_crash_between_writing_and_listing_leaves_nothing(paths: Paths, tmp_path: Path) -> None:
    src = events_file(tmp_path / "a.jsonl", [("e1", "2026-09-10T10:00:00Z", "u1")])
    with working_database(paths) as con:
        ensure_schema(con)
        root = event_store.events_dir(paths.working_db)
        # what a process killed after writing its files and before its commit leaves behind
        orphans = event_store.write(
            con, root, "SELECT * FROM raw.event_rows UNION ALL SELECT 'x', 'app_open', "
            "TIMESTAMPTZ '2026-09-10 11:00:00+00', DATE '2026-09-10', 'u9', NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'canonical', 'sha', 1, now(), NULL, NULL, "
            "NULL, NULL, NULL",
        )  # fmt: skip
        assert len(orphans) == 1 and (root / orphans[0].path).is_file()
        (root / event_store.STAGING / "dead").mkdir(parents=True)
        assert con.execute("SELECT count(*) FROM raw.events").fetchall() == [(0,)]
        ingest_files(con, [src], now=NOW)
        assert not (root / orphans[0].path).exists()
        assert not (root / event_store.STAGING).exists()
        assert con.execute("SELECT event_id FROM raw.events").fetchall() == [("e1",)]
        assert [p for p, _, _ in listed(con)] == [
            str(p.relative_to(root)) for p in root.glob("event_date=*/*.parquet")
        ]


def test_a_pre_parquet_warehouse_is_migrated(paths: Paths, tmp_path: Path) -> None:
    with working_database(paths) as con:
        ensure_schema(con)
        con.execute(
            "INSERT INTO raw.event_rows (event_id, event_type, ts, event_date, user_id, "
            "source_shape, file_sha256, record_number, ingested_at) VALUES ('old1', 'app_open', "
            "TIMESTAMPTZ '2026-09-01 10:00:00+00', DATE '2026-09-01', 'u1', 'canonical', 's', 1, "
            "now())"
        )
        # as warehouses before the Parquet files stored it: a table named raw.events
        con.execute("DROP VIEW raw.events")
        con.execute("DROP TABLE raw.event_files")
        con.execute("ALTER TABLE raw.event_rows RENAME TO events")
    with working_database(paths) as con:
        ensure_schema(con)
        assert con.execute("SELECT event_id FROM raw.events").fetchall() == [("old1",)]
        add_public_view(con)
        snap = publish(con, paths)  # flushes the inline rows to a file first
        assert con.execute("SELECT count(*) FROM raw.event_rows").fetchall() == [(0,)]
        assert [(d, n) for _, d, n in listed(con)] == [(dt.date(2026, 9, 1), 1)]
    reader = duckdb.connect(str(snap.path), read_only=True)
    try:
        assert reader.execute("SELECT event_id FROM analytics.events").fetchall() == [("old1",)]
    finally:
        reader.close()
