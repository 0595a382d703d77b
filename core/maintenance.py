"""Upkeep of the shared Parquet files (events, table parts): flush the inline buffer, merge
small event files, expire files nobody can read any more (docs/architecture.md, "Maintenance").

Ingest adds one file per (input file, event date), so late events and small deliveries leave a
date with many small files: every reader pays for opening them, and every snapshot view lists
them. :func:`compact` rewrites the files of such a date as one file, with the same rows, and
takes the old ones off the list in one transaction. It never deletes them: published snapshots
still read them by path. :func:`expire` deletes a retired file only when

- no kept snapshot (the newest ``KEEP_SNAPSHOTS``, the published one always among them) lists
  it, and
- it was retired longer ago than the retention period: a reader may still hold a pruned
  snapshot open (POSIX keeps the snapshot file alive; its views still name the old files).

Only the one writer (the pipeline, holding the working database's lock) calls these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core import event_store, lake, shared_tables
from core.db import transaction

SMALL_FILE_BYTES = 64 * 2**20  # a date holding a file smaller than this gets merged
RETENTION = dt.timedelta(hours=24)
KEEP_PUBLISHED = 3  # lake mode: published snapshots never expired (as KEEP_SNAPSHOTS files)


@dataclass(frozen=True)
class MaintenanceResult:
    """What one maintenance pass did."""

    flushed_rows: int
    merged_dates: int
    merged_files: int
    written_files: int
    expired_files: int
    expired_bytes: int
    listed_files: int
    retired_files: int  # still on disk after this pass, waiting for their retention
    expired_snapshots: int = 0  # lake mode: DuckLake snapshots expired


def record_snapshot_files(con: duckdb.DuckDBPyConnection, version: str) -> int:
    """Remember which files the snapshot ``version`` reads (before it is published): the
    listed event files and the shared tables' parts. Returns how many."""
    shared_tables.ensure(con)  # the parts list, and the event files' tables
    con.execute(
        f"INSERT INTO {event_store.REFS_TABLE} "  # noqa: S608
        f"SELECT ?, '{event_store.EVENTS_DIR}/' || path FROM {event_store.FILES_TABLE} "
        f"UNION ALL SELECT ?, path FROM {shared_tables.PARTS_TABLE}",
        [version, version],
    )
    return con.execute(
        f"SELECT count(*) FROM {event_store.REFS_TABLE} WHERE snapshot_version = ?",  # noqa: S608
        [version],
    ).fetchall()[0][0]


def compact(
    con: duckdb.DuckDBPyConnection,
    root: Path | None,
    now: dt.datetime,
    small_bytes: int = SMALL_FILE_BYTES,
) -> tuple[int, int, int]:
    """Merge the files of every date that has several files, one of them small.

    The new files are written before the transaction that swaps the list (a crash in between
    leaves unlisted files, which the next ingest sweeps). Returns (dates, files merged, files
    written).
    """
    if root is None:
        return 0, 0, 0
    con.execute(event_store.FILES_DDL)
    dates = con.execute(
        f"SELECT event_date, list(path ORDER BY path), sum(rows)::BIGINT "  # noqa: S608
        f"FROM {event_store.FILES_TABLE} GROUP BY event_date "
        "HAVING count(*) > 1 AND min(bytes) < ? ORDER BY event_date",
        [small_bytes],
    ).fetchall()
    if not dates:
        return 0, 0, 0
    cols = event_store.columns(con)
    written: list[event_store.EventFile] = []
    merged: list[str] = []
    for _date, files, rows in dates:
        absolute = [str(root / f) for f in files]
        new = event_store.write(con, root, event_store.files_sql(absolute, cols))
        if sum(f.rows for f in new) != rows:  # pragma: no cover - a bug, not bad input
            raise RuntimeError(f"compaction of {files} wrote {new} instead of {rows} rows")
        written += new
        merged += files
    with transaction(con):
        con.execute(
            f"INSERT INTO {event_store.RETIRED_TABLE} SELECT '{event_store.EVENTS_DIR}/' || "  # noqa: S608
            f"path, event_date, rows, bytes, added_at, ? FROM {event_store.FILES_TABLE} "
            "WHERE list_contains(?, path)",
            [now, merged],
        )
        con.execute(
            f"DELETE FROM {event_store.FILES_TABLE} WHERE list_contains(?, path)",  # noqa: S608
            [merged],
        )
        event_store.register(con, root, written, now)
    return len(dates), len(merged), len(written)


def expire(
    con: duckdb.DuckDBPyConnection,
    root: Path | None,
    kept_versions: set[str],
    now: dt.datetime,
    retention: dt.timedelta = RETENTION,
) -> tuple[int, int]:
    """Delete retired files (event files, table parts) no kept snapshot reads and retired
    before ``now - retention``; forget the file lists of snapshots that are gone. Returns
    (files, bytes) deleted. ``root`` is the events folder; the others are beside it."""
    if root is None:
        return 0, 0
    work = root.parent  # retired paths are relative to the work folder
    con.execute(event_store.FILES_DDL)
    refs, retired = event_store.REFS_TABLE, event_store.RETIRED_TABLE
    kept = sorted(kept_versions)
    con.execute(f"DELETE FROM {refs} WHERE NOT list_contains(?, snapshot_version)", [kept])  # noqa: S608
    doomed = con.execute(
        f"SELECT path, bytes FROM {retired} WHERE retired_at <= ? "  # noqa: S608
        f"AND path NOT IN (SELECT path FROM {refs}) ORDER BY path",
        [now - retention],
    ).fetchall()
    for path, _bytes in doomed:
        (work / path).unlink(missing_ok=True)  # a crash here: the next pass unlinks again
    if doomed:
        con.execute(
            f"DELETE FROM {retired} WHERE list_contains(?, path)",  # noqa: S608
            [[p for p, _ in doomed]],
        )
    return len(doomed), sum(b for _, b in doomed)


def maintain(
    con: duckdb.DuckDBPyConnection,
    kept_versions: set[str],
    now: dt.datetime | None = None,
    retention: dt.timedelta = RETENTION,
    small_bytes: int = SMALL_FILE_BYTES,
) -> MaintenanceResult:
    """One maintenance pass over the working database ``con``: flush, compact, expire."""
    now = now or dt.datetime.now(dt.UTC)
    if lake.is_lake(con):
        done = lake.maintain(con, KEEP_PUBLISHED, retention.total_seconds())
        files = con.execute(
            "SELECT count(*) FROM ducklake_list_files(?, 'event_rows', schema => 'raw')",
            [lake.ALIAS],
        ).fetchall()[0][0]
        return MaintenanceResult(
            done["flushed_rows"], 0, done["merged_files"], done["written_files"],
            done["deleted_files"], 0, files, 0, expired_snapshots=done["expired_snapshots"],
        )  # fmt: skip
    root = event_store.root_of(con)
    has_events = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'raw' AND table_name = 'event_rows'"
    ).fetchall()
    if not has_events:  # nothing ingested yet
        return MaintenanceResult(0, 0, 0, 0, 0, 0, 0, 0)
    con.execute(event_store.FILES_DDL)
    flushed = event_store.flush_inline(con, root, now)
    dates, merged, written = compact(con, root, now, small_bytes)
    files, nbytes = expire(con, root, kept_versions, now, retention)
    listed = con.execute(f"SELECT count(*) FROM {event_store.FILES_TABLE}").fetchall()[0][0]  # noqa: S608
    retired = con.execute(f"SELECT count(*) FROM {event_store.RETIRED_TABLE}").fetchall()[0][0]  # noqa: S608
    return MaintenanceResult(flushed, dates, merged, written, files, nbytes, listed, retired)
