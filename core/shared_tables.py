"""The event-grain derived tables as date parts that snapshots share (copy-on-write).

``analytics.sessions`` and ``analytics.episode_views`` grow with the whole history, like the
events, so copying them into every snapshot would make publishing cost grow with it too. The
working database keeps them as ordinary tables (the incremental build edits them in place,
privately); at each publish only the dates they changed since the last publish are written
as new Parquet files under ``<warehouse>/_work/tables/<table>/start_date=<date>/``. The
snapshot's table is a view over the current parts, one per date.

A late event can re-key a user's sessions back to an earlier date: the build marks every date
whose rows it deleted or inserted (``derived.shared_dirty``, in the build's transaction), and
the publish rewrites those dates whole, as *new* files. The part a published snapshot reads is
never edited: it is retired, and :mod:`core.maintenance` deletes it once no kept snapshot reads
it and its retention has passed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import duckdb

from core import event_store
from core.db import transaction
from core.schema_docs import sql_literal
from core.versioned import fsync_path

#: shared table -> the date column its parts are cut by
SHARED_TABLES = {"sessions": "start_date", "episode_views": "start_date"}
TABLES_DIR = "tables"
PARTS_TABLE = "raw.table_parts"
DIRTY_TABLE = "derived.shared_dirty"

PARTS_DDL = f"""
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS derived;
CREATE TABLE IF NOT EXISTS {PARTS_TABLE} (
    table_name VARCHAR NOT NULL,
    part_date DATE NOT NULL,
    path VARCHAR NOT NULL,          -- relative to the work folder: tables/<table>/...
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    added_at TIMESTAMPTZ NOT NULL
);
-- dates of a shared table changed since its last publish; a NULL date: all of them
CREATE TABLE IF NOT EXISTS {DIRTY_TABLE} (table_name VARCHAR NOT NULL, part_date DATE)
"""


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the parts list, the dirty-date log and the retired list (idempotent)."""
    con.execute(PARTS_DDL)
    con.execute(event_store.FILES_DDL)


def work_dir_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The folder beside ``con``'s database file (``_work/``); ``None`` in memory."""
    root = event_store.root_of(con)
    return root.parent if root is not None else None


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of ``analytics.<table>`` in their stored order."""
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'analytics' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
    ]


def _is_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'analytics' AND table_name = ?",
            [table],
        ).fetchall()
    )


def sync(
    con: duckdb.DuckDBPyConnection, work: Path, table: str, now: dt.datetime
) -> dict[str, int]:
    """Write the dirty dates of ``analytics.<table>`` as new parts and swap them into the list
    (one transaction; the old parts retired, not deleted). Returns what was written."""
    ensure(con)
    date_col = SHARED_TABLES[table]
    cols = columns(con, table)
    everything = con.execute(
        f"SELECT count(*) FROM {DIRTY_TABLE} WHERE table_name = ? AND part_date IS NULL",  # noqa: S608
        [table],
    ).fetchall()[0][0]
    listed_dates = _dates(con, PARTS_TABLE, "part_date", table)
    if everything or not listed_dates:
        # a full rebuild (or the first publish): every date of the table, and every listed
        # date, which may have no rows any more
        dirty = _dates(con, f"analytics.{table}", date_col) | listed_dates
    else:
        dirty = _dates(con, DIRTY_TABLE, "part_date", table)
    written = _write_parts(con, work, table, date_col, cols, sorted(dirty)) if dirty else []
    with transaction(con):
        dates = sorted(dirty)
        con.execute(
            f"INSERT INTO {event_store.RETIRED_TABLE} SELECT path, part_date, rows, bytes, "  # noqa: S608
            f"added_at, ? FROM {PARTS_TABLE} WHERE table_name = ? AND list_contains(?, part_date)",
            [now, table, dates],
        )
        con.execute(
            f"DELETE FROM {PARTS_TABLE} WHERE table_name = ? AND list_contains(?, part_date)",  # noqa: S608
            [table, dates],
        )
        if written:
            con.executemany(
                f"INSERT INTO {PARTS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                [[table, d, p, r, b, now] for d, p, r, b in written],
            )
        con.execute(f"DELETE FROM {DIRTY_TABLE} WHERE table_name = ?", [table])  # noqa: S608
    return {"dates": len(dirty), "parts": len(written), "rows": sum(w[2] for w in written)}


def _dates(
    con: duckdb.DuckDBPyConnection, source: str, column: str, table: str | None = None
) -> set[dt.date]:
    """The distinct dates of ``source.column`` (our own names), of ``table``'s rows when the
    source lists several tables."""
    where, params = ("WHERE table_name = ?", [table]) if table else ("", [])
    rows = con.execute(f"SELECT DISTINCT {column} FROM {source} {where}", params).fetchall()  # noqa: S608
    return {r[0] for r in rows if r[0] is not None}


def _write_parts(
    con: duckdb.DuckDBPyConnection,
    work: Path,
    table: str,
    date_col: str,
    cols: list[str],
    dates: list[dt.date],
) -> list[tuple[dt.date, str, int, int]]:
    """The rows of ``dates`` as one new file per date, durable but not yet listed."""
    base = work / TABLES_DIR / table
    staging = base / ".staging" / uuid.uuid4().hex
    staging.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT {', '.join(cols)} FROM analytics.{table} "  # noqa: S608
        f"WHERE list_contains($dates, {date_col})) TO {sql_literal(str(staging))} "
        f"(FORMAT parquet, PARTITION_BY ({date_col}), WRITE_PARTITION_COLUMNS true, "
        "FILENAME_PATTERN 'part_{uuid}', ROW_GROUP_SIZE 1000000)",
        {"dates": dates},
    )
    out = []
    for part in sorted(staging.glob(f"{date_col}=*/*.parquet")):
        rows = con.execute(
            "SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata(?)", [str(part)]
        ).fetchall()[0][0]
        target_dir = base / part.parent.name
        target_dir.mkdir(parents=True, exist_ok=True)
        fsync_path(part)
        os.replace(part, target_dir / part.name)
        fsync_path(target_dir)
        day = dt.date.fromisoformat(part.parent.name.split("=", 1)[1])
        rel = (target_dir / part.name).relative_to(work).as_posix()
        out.append((day, rel, int(rows or 0), (target_dir / part.name).stat().st_size))
    shutil.rmtree(staging, ignore_errors=True)
    return out


def snapshot_sql(con: duckdb.DuckDBPyConnection, work: Path, table: str) -> str | None:
    """The snapshot's ``CREATE VIEW`` of ``table`` over its listed parts (None: no parts)."""
    files = [
        str(work / r[0])
        for r in con.execute(
            f"SELECT path FROM {PARTS_TABLE} WHERE table_name = ? ORDER BY part_date, path",  # noqa: S608
            [table],
        ).fetchall()
    ]
    if not files:
        return None
    listed = ", ".join(sql_literal(f) for f in files)
    cols = ", ".join(columns(con, table))
    return (
        f"CREATE VIEW analytics.{table} AS SELECT {cols} "  # noqa: S608
        f"FROM read_parquet([{listed}], hive_partitioning = false)"
    )


def publish_parts(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> dict[str, tuple[str, int]]:
    """Bring every shared table's parts up to date; their snapshot view SQL and row count.

    Nothing for an in-memory database, or a table that is not there (or is empty): those
    are copied into the snapshot as before.
    """
    work = work_dir_of(con)
    if work is None:
        return {}
    ensure(con)
    sweep_orphans(con, work)
    out = {}
    for table in SHARED_TABLES:
        if not _is_table(con, table):
            continue
        sync(con, work, table, now)
        sql = snapshot_sql(con, work, table)
        if sql is not None:
            rows = con.execute(
                f"SELECT coalesce(sum(rows), 0) FROM {PARTS_TABLE} WHERE table_name = ?",  # noqa: S608
                [table],
            ).fetchall()[0][0]
            out[table] = (sql, int(rows))
    return out


def sweep_orphans(con: duckdb.DuckDBPyConnection, work: Path) -> list[Path]:
    """Delete part files no transaction listed (a crash between writing and listing) and
    staging leftovers; retired parts stay (snapshots may read them)."""
    base = work / TABLES_DIR
    if not base.is_dir():
        return []
    known = {
        r[0]
        for r in con.execute(
            f"SELECT path FROM {PARTS_TABLE} UNION ALL "  # noqa: S608
            f"SELECT path FROM {event_store.RETIRED_TABLE}"
        ).fetchall()
    }
    removed = []
    for part in base.glob("*/*=*/*.parquet"):
        if part.relative_to(work).as_posix() not in known:
            part.unlink(missing_ok=True)
            removed.append(part)
    for staging in base.glob("*/.staging"):
        shutil.rmtree(staging, ignore_errors=True)
    return removed
