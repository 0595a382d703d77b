"""The events of record as immutable Parquet files partitioned by event date.

``raw.events`` in the working database is a view: the rows of ``raw.event_rows`` (a small
inline buffer, empty after every publish) and the Parquet files listed in
``raw.event_files``, each under ``<warehouse>/events/event_date=<date>/``. A file is written
once and never changed, so a published snapshot references the files instead of copying the
events: its ``analytics.events`` is a view over a fixed file list, and publishing costs the
same at 1 M and 100 M events (docs/architecture.md, "Events as shared Parquet files").

Atomicity: files are written and fsynced under a staging folder, moved into place, and only
then listed in ``raw.event_files`` — in the same transaction as the rest of the ingest
bookkeeping, together with the view's new definition. A crash before that commit leaves
unlisted files; :func:`sweep_orphans` (run by the one writer at the start of each ingest)
deletes them. Events are append-only: late events for a date add a file for that date; no
file is ever edited in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from core.db import transaction
from core.schema_docs import sql_literal
from core.versioned import fsync_path

EVENTS_VIEW = "raw.events"
INLINE_TABLE = "raw.event_rows"
FILES_TABLE = "raw.event_files"
# files taken off a list (compacted events, rewritten table parts), kept on disk until no
# kept snapshot reads them; paths relative to the work folder (events/..., tables/...)
RETIRED_TABLE = "raw.retired_files"
# which files each published snapshot's views read (paths as above)
REFS_TABLE = "raw.snapshot_files"
EVENTS_DIR = "events"
STAGING = ".staging"

FILES_DDL = f"""
CREATE TABLE IF NOT EXISTS {FILES_TABLE} (
    path VARCHAR NOT NULL,          -- relative to the events folder
    event_date DATE NOT NULL,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    added_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS {RETIRED_TABLE} (
    path VARCHAR NOT NULL,
    event_date DATE NOT NULL,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    added_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS {REFS_TABLE} (
    snapshot_version VARCHAR NOT NULL,
    path VARCHAR NOT NULL
)
"""


@dataclass(frozen=True)
class EventFile:
    """One Parquet file of events, its path relative to the events folder."""

    path: str
    event_date: dt.date
    rows: int
    bytes: int


def events_dir(working_db: Path) -> Path:
    """The folder of the events' Parquet files: ``events/`` beside the working database."""
    return Path(working_db).parent / EVENTS_DIR


def columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The events' columns in their stored order (those of ``raw.event_rows``)."""
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'raw' AND table_name = 'event_rows' ORDER BY column_index"
        ).fetchall()
    ]


def ensure_renamed(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse made before the Parquet files keeps its events in a ``raw.events`` table:
    it becomes the inline buffer (the next publish flushes it to files)."""
    old = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'raw' AND table_name = 'events'"
    ).fetchall()
    if old:
        con.execute("ALTER TABLE raw.events RENAME TO event_rows")


def ensure(con: duckdb.DuckDBPyConnection, root: Path | None) -> None:
    """Create the file list and (re)define the view (after ``raw.event_rows`` exists)."""
    con.execute(FILES_DDL)
    refresh_view(con, root)


def listed_files(con: duckdb.DuckDBPyConnection, root: Path | None) -> list[str]:
    """Absolute paths of the listed files, by date then name."""
    if root is None:
        return []
    return [
        str(root / r[0])
        for r in con.execute(f"SELECT path FROM {FILES_TABLE} ORDER BY event_date, path").fetchall()  # noqa: S608
    ]


def files_sql(files: list[str], cols: list[str]) -> str:
    """A SELECT of ``cols`` over the Parquet ``files`` (paths are ours, quoted as literals)."""
    listed = ", ".join(sql_literal(f) for f in files)
    return f"SELECT {', '.join(cols)} FROM read_parquet([{listed}], hive_partitioning = false)"  # noqa: S608


def refresh_view(con: duckdb.DuckDBPyConnection, root: Path | None) -> None:
    """(Re)define ``raw.events`` over the inline rows and the listed files (transactional:
    inside the caller's transaction the new list becomes visible with its commit)."""
    cols = columns(con)
    inline = f"SELECT {', '.join(cols)} FROM {INLINE_TABLE}"  # noqa: S608
    files = listed_files(con, root)
    body = inline if not files else f"{inline} UNION ALL {files_sql(files, cols)}"
    con.execute(f"CREATE OR REPLACE VIEW {EVENTS_VIEW} AS {body}")


def root_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The events folder of ``con``'s database file; ``None`` for an in-memory database or
    a DuckLake (which stores the inline table's rows as Parquet files itself), whose events
    stay in the inline table."""
    path, kind = con.execute(
        "SELECT path, type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0]
    return events_dir(Path(path)) if path and kind == "duckdb" else None


@dataclass(frozen=True)
class Pending:
    """Events written but not yet committed: files to list, or (in memory) rows to insert."""

    files: list[EventFile]
    inline: tuple[str, dict[str, Any]] | None = None


def stage(
    con: duckdb.DuckDBPyConnection,
    root: Path | None,
    select_sql: str,
    params: dict[str, Any] | None = None,
) -> Pending:
    """Write the rows of ``select_sql`` (the events' columns, in order) before the
    transaction that records them; :func:`commit` inside it makes them visible."""
    if root is None:
        return Pending([], (select_sql, params or {}))
    return Pending(write(con, root, select_sql, params))


def commit(
    con: duckdb.DuckDBPyConnection, root: Path | None, pending: Pending, now: dt.datetime
) -> None:
    """Make ``pending`` events part of ``raw.events`` (inside the caller's transaction)."""
    if pending.inline is not None:
        con.execute(f"INSERT INTO {INLINE_TABLE} {pending.inline[0]}", pending.inline[1])  # noqa: S608
    elif root is not None:
        register(con, root, pending.files, now)


def write(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    select_sql: str,
    params: dict[str, Any] | None = None,
) -> list[EventFile]:
    """Write the rows of ``select_sql`` (the events' columns, in order) as new Parquet files,
    one per event date, durable on disk but not yet listed: call :func:`register` in the
    transaction that records them."""
    return write_batch(con, root, f"SELECT *, 0 FROM ({select_sql})", params).get(0, [])  # noqa: S608


def write_batch(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    select_sql: str,
    params: dict[str, Any] | None = None,
) -> dict[int, list[EventFile]]:
    """Like :func:`write` for the rows of several input files at once: ``select_sql`` gives
    the events' columns, then the input file's index. One pass writes one Parquet file per
    (input file, event date); each input file's list is registered in its own transaction."""
    staging = root / STAGING / uuid.uuid4().hex
    staging.mkdir(parents=True, exist_ok=True)
    cols = ", ".join(columns(con))
    # the partition keys are copies, left out of the files: each file holds the events'
    # columns only, event_date among them
    named = f"SELECT *, event_date AS part_date FROM ({select_sql}) AS e({cols}, file_idx)"  # noqa: S608
    con.execute(
        f"COPY ({named}) TO {sql_literal(str(staging))} (FORMAT parquet, "
        "PARTITION_BY (file_idx, part_date), WRITE_PARTITION_COLUMNS false, "
        "FILENAME_PATTERN 'events_{uuid}', ROW_GROUP_SIZE 1000000)",
        params or {},
    )
    out: dict[int, list[EventFile]] = {}
    for part in sorted(staging.glob("file_idx=*/part_date=*/*.parquet")):
        idx = int(part.parent.parent.name.removeprefix("file_idx="))
        day = part.parent.name.removeprefix("part_date=")
        rows = con.execute(
            "SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata(?)", [str(part)]
        ).fetchall()[0][0]
        target_dir = root / f"event_date={day}"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / part.name
        fsync_path(part)
        os.replace(part, target)
        fsync_path(target_dir)
        out.setdefault(idx, []).append(
            EventFile(
                path=f"{target_dir.name}/{part.name}",
                event_date=dt.date.fromisoformat(day),
                rows=int(rows or 0),
                bytes=target.stat().st_size,
            )
        )
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):  # only when empty: no other write is in flight
        staging.parent.rmdir()
    return out


def stage_batch(
    con: duckdb.DuckDBPyConnection,
    root: Path | None,
    select_sql: str,
    params: dict[str, Any] | None = None,
) -> dict[int, Pending] | None:
    """:func:`stage` for several input files in one pass (``select_sql`` as in
    :func:`write_batch`); ``None`` for an in-memory database: stage each file alone."""
    if root is None:
        return None
    return {
        idx: Pending(files) for idx, files in write_batch(con, root, select_sql, params).items()
    }


def register(
    con: duckdb.DuckDBPyConnection, root: Path, files: list[EventFile], now: dt.datetime
) -> None:
    """List ``files`` and redefine the view (inside the caller's transaction)."""
    if not files:
        return
    con.executemany(
        f"INSERT INTO {FILES_TABLE} VALUES (?, ?, ?, ?, ?)",  # noqa: S608
        [[f.path, f.event_date, f.rows, f.bytes, now] for f in files],
    )
    refresh_view(con, root)


def flush_inline(con: duckdb.DuckDBPyConnection, root: Path | None, now: dt.datetime) -> int:
    """Move the inline buffer's rows to Parquet files (one transaction): a snapshot then
    needs nothing but files. Returns the rows moved."""
    n = con.execute(f"SELECT count(*) FROM {INLINE_TABLE}").fetchall()[0][0]  # noqa: S608
    if not n or root is None:
        return 0
    cols = ", ".join(columns(con))
    files = write(con, root, f"SELECT {cols} FROM {INLINE_TABLE}")  # noqa: S608
    with transaction(con):
        con.execute(f"DELETE FROM {INLINE_TABLE}")  # noqa: S608
        register(con, root, files, now)
    return int(n)


def sweep_orphans(con: duckdb.DuckDBPyConnection, root: Path | None) -> list[Path]:
    """Delete files under ``root`` that no transaction committed (a crash between writing
    and listing them) and leftover staging folders. Only the one writer calls this."""
    if root is None or not root.is_dir():
        return []
    con.execute(FILES_DDL)
    # retired files are known too: snapshots may still read them (core.maintenance expires them)
    listed = {r[0] for r in con.execute(f"SELECT path FROM {FILES_TABLE}").fetchall()}  # noqa: S608
    listed |= {
        r[0].removeprefix(f"{EVENTS_DIR}/")
        for r in con.execute(f"SELECT path FROM {RETIRED_TABLE}").fetchall()  # noqa: S608
    }
    removed = []
    for part in root.glob("event_date=*/*.parquet"):
        if f"{part.parent.name}/{part.name}" not in listed:
            part.unlink(missing_ok=True)
            removed.append(part)
    shutil.rmtree(root / STAGING, ignore_errors=True)
    return removed
