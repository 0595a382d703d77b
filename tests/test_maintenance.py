"""Maintenance of the events' Parquet files (core/maintenance.py, the warehouse_maintenance
asset): small files of a date merged into one with the same rows, old files kept while a kept
snapshot reads them or their retention runs, then deleted; crashes and sweeps lose nothing."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from core import event_store
from core.config import Paths
from core.maintenance import compact, expire, maintain
from core.warehouse import kept_versions, publish, working_database
from ingest.events import ingest_files
from pipelines.assets_maintenance import warehouse_maintenance
from pipelines.resources import CliffhangerStore
from tests.test_event_store import NOW, add_public_view, events_file, listed


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path, tmp_path / "warehouse" / "cliffhanger.duckdb", tmp_path / "landing",
                 tmp_path)  # fmt: skip


def deliveries(tmp_path: Path) -> list[Path]:
    """Three deliveries: 2026-09-10 in one file, 2026-09-11 spread over all three (late
    events), so 09-11 ends with three small files and 09-10 with one."""
    return [
        events_file(tmp_path / "a.jsonl", [("a1", "2026-09-10T10:00:00Z", "u1"),
                                           ("a2", "2026-09-11T10:00:00Z", "u2")]),
        events_file(tmp_path / "b.jsonl", [("b1", "2026-09-11T11:00:00Z", "u1"),
                                           ("b2", "2026-09-11T12:00:00Z", "u3")]),
        events_file(tmp_path / "c.jsonl", [("c1", "2026-09-11T13:00:00Z", "u4")]),
    ]  # fmt: skip


def events_of(con: duckdb.DuckDBPyConnection, table: str = "raw.events") -> list[tuple]:
    return con.execute(f"SELECT event_id, ts, user_id FROM {table} ORDER BY event_id").fetchall()  # noqa: S608


def snapshot_files(path: Path) -> list[str]:
    reader = duckdb.connect(str(path), read_only=True)
    try:
        sql = reader.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'events'").fetchall()
    finally:
        reader.close()
    return re.findall(r"'([^']+[.]parquet)'", sql[0][0])


def test_compaction_merges_a_dates_files_and_keeps_what_snapshots_read(
    paths: Paths, tmp_path: Path
) -> None:
    root = event_store.events_dir(paths.working_db)
    with working_database(paths) as con:
        ingest_files(con, deliveries(tmp_path), now=NOW)
        before = events_of(con)
        assert sorted((d.isoformat(), n) for _, d, n in listed(con)) == [
            ("2026-09-10", 1), ("2026-09-11", 1), ("2026-09-11", 1), ("2026-09-11", 2)]  # fmt: skip
        old_1011 = [p for p, d, _ in listed(con) if d == dt.date(2026, 9, 11)]
        add_public_view(con)
        first = publish(con, paths, keep=1)
        dates, merged, written = compact(con, root, NOW)
        assert (dates, merged, written) == (1, 3, 1)
        after = listed(con)
        # 09-10 untouched, 09-11 one file of all its 4 rows; the same events, nothing lost
        assert [(d.isoformat(), n) for _, d, n in after] == [("2026-09-10", 1), ("2026-09-11", 4)]
        assert events_of(con) == before
        retired = con.execute("SELECT path FROM raw.retired_files ORDER BY path").fetchall()
        assert [r[0] for r in retired] == sorted(f"events/{p}" for p in old_1011)
        assert all((root / p).is_file() for p in old_1011)
        # the published snapshot still reads the old files, so the next ingest's sweep and an
        # expiry with no retention both keep them
        assert sorted(Path(f).relative_to(root).as_posix() for f in snapshot_files(first.path)
                      if "2026-09-11" in f) == sorted(old_1011)  # fmt: skip
        ingest_files(con, [], now=NOW)
        assert expire(con, root, kept_versions(paths), NOW, dt.timedelta(0)) == (0, 0)
        assert all((root / p).is_file() for p in old_1011)
        # a new snapshot reads the merged file; with keep=1 the first one is pruned
        second = publish(con, paths, keep=1)
        assert kept_versions(paths) == {second.version}
        assert len(snapshot_files(second.path)) == 2
        # retired 1 hour ago, retention 24 h: a reader may still hold the pruned snapshot
        assert expire(con, root, kept_versions(paths), NOW + dt.timedelta(hours=1)) == (0, 0)
        assert all((root / p).is_file() for p in old_1011)
        files, nbytes = expire(con, root, kept_versions(paths), NOW + dt.timedelta(hours=25))
        assert files == 3 and nbytes > 0
        assert not any((root / p).exists() for p in old_1011)
        assert con.execute("SELECT count(*) FROM raw.retired_files").fetchall() == [(0,)]
        # the snapshot's refs now name only the surviving version
        assert con.execute(
            "SELECT DISTINCT snapshot_version FROM raw.snapshot_files"
        ).fetchall() == [(second.version,)]
        assert events_of(con) == before
    reader = duckdb.connect(str(second.path), read_only=True)
    try:
        assert events_of(reader, "analytics.events") == before
    finally:
        reader.close()


def test_compaction_leaves_big_or_single_files_alone(paths: Paths, tmp_path: Path) -> None:
    root = event_store.events_dir(paths.working_db)
    with working_database(paths) as con:
        ingest_files(con, deliveries(tmp_path), now=NOW)
        # every file counts as big: nothing to merge
        assert compact(con, root, NOW, small_bytes=1) == (0, 0, 0)
        assert len(listed(con)) == 4
        assert compact(con, root, NOW) == (1, 3, 1)
        # once merged, a second pass has nothing to do
        assert compact(con, root, NOW) == (0, 0, 0)


def test_a_crash_after_writing_merged_files_loses_nothing(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = event_store.events_dir(paths.working_db)
    with working_database(paths) as con:
        ingest_files(con, deliveries(tmp_path), now=NOW)
        before, files_before = events_of(con), listed(con)

        def crash(*_args: object, **_kwargs: object) -> None:
            raise KeyboardInterrupt  # the process dies between writing and listing

        monkeypatch.setattr(event_store, "register", crash)
        with pytest.raises(KeyboardInterrupt):
            compact(con, root, NOW)
        monkeypatch.undo()
        assert listed(con) == files_before and events_of(con) == before
        on_disk = sorted(
            p.relative_to(root).as_posix() for p in root.glob("event_date=*/*.parquet")
        )
        assert len(on_disk) == 5  # the merged file, unlisted
        ingest_files(con, [], now=NOW)  # the next writer sweeps it
        on_disk = sorted(
            p.relative_to(root).as_posix() for p in root.glob("event_date=*/*.parquet")
        )
        assert on_disk == sorted(p for p, _, _ in files_before)
        assert con.execute("SELECT count(*) FROM raw.retired_files").fetchall() == [(0,)]


def test_the_maintenance_asset_flushes_merges_and_reports(paths: Paths, tmp_path: Path) -> None:
    with working_database(paths) as con:
        ingest_files(con, deliveries(tmp_path), now=NOW)
        # a row in the inline buffer (as an in-memory or pre-Parquet warehouse leaves them)
        con.execute(
            "INSERT INTO raw.event_rows (event_id, event_type, ts, event_date, user_id, "
            "source_shape, file_sha256, record_number, ingested_at) VALUES ('i1', 'app_open', "
            "TIMESTAMPTZ '2026-09-11 14:00:00+00', DATE '2026-09-11', 'u5', 'canonical', 's', 1, "
            "now())"
        )
        before = events_of(con)
    store = CliffhangerStore(home=str(paths.home), warehouse=str(paths.warehouse))
    result = dg.materialize([warehouse_maintenance], resources={"store": store})
    assert result.success
    meta = {k: v.value for k, v in result.asset_materializations_for_node(
        "warehouse_maintenance")[0].metadata.items()}  # fmt: skip
    # the flush adds a fifth file for 09-11, then its four files become one
    assert meta["flushed_rows"] == 1
    assert (meta["merged_dates"], meta["merged_files"], meta["written_files"]) == (1, 4, 1)
    assert (meta["listed_files"], meta["retired_files"], meta["expired_files"]) == (2, 4, 0)
    with working_database(paths) as con:
        assert events_of(con) == before
        assert con.execute("SELECT count(*) FROM raw.event_rows").fetchall() == [(0,)]
        # no snapshot reads the retired files: with no retention they go at once
        again = maintain(con, kept_versions(paths), retention=dt.timedelta(0))
        assert (again.expired_files, again.retired_files, again.merged_files) == (4, 0, 0)
        assert events_of(con) == before


def test_maintenance_refuses_a_negative_retention(paths: Paths) -> None:
    store = CliffhangerStore(home=str(paths.home), warehouse=str(paths.warehouse))
    result = dg.materialize(
        [warehouse_maintenance], resources={"store": store}, raise_on_error=False,
        run_config={"ops": {"warehouse_maintenance": {"config": {"retention_hours": -1}}}},
    )  # fmt: skip
    assert not result.success
