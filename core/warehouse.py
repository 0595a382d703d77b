"""The warehouse's storage design: one private writer, atomically published snapshots.

DuckDB allows one read-write process or many read-only ones on a file, never both. So the
pipeline writes a private working database, and at the end of each run *publishes* an
immutable snapshot file holding the public ``analytics`` schema; the public path
(``warehouse/cliffhanger.duckdb``) is a symlink switched atomically to the newest snapshot.
A reader that opened the previous snapshot keeps it; new readers get the new one; nobody ever
sees a lock error or a half-built table. The publishing mechanism (stage, fsync, rename,
switch the symlink, prune) is ``core.versioned``'s. See docs/architecture.md.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core import event_store, lake, maintenance, shared_tables
from core.config import Paths
from core.db import transaction
from core.schema_docs import sql_literal
from core.versioned import NotAPointer, VersionedStore, switch_pointer

PUBLIC_SCHEMA = "analytics"
SNAPSHOT_PREFIX = "cliffhanger-"
KEEP_SNAPSHOTS = 3
META_TABLE = "snapshot_info"
SNAPSHOT_STORAGE_VERSION = "v1.5.0"


class WarehouseError(RuntimeError):
    """The warehouse cannot be opened or published (reported as one line to users)."""


@dataclass(frozen=True)
class Snapshot:
    version: str
    path: Path
    tables: dict[str, int]
    lake_snapshot: int | None = None  # the DuckLake snapshot id (lake mode)


@contextmanager
def working_database(
    paths: Paths, memory_limit: str = "4GB", wait_s: float = 600.0, exclusive: bool = True
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The pipeline's private read-write database, one writer at a time.

    A second writer (a sensor-triggered run beside a manual one, say) waits for the first on
    an ``flock`` instead of failing on DuckDB's file lock. In lake mode ``exclusive=False``
    skips the lock: writers that retry their lost commit races (the daily partitions,
    :func:`core.lake.write_with_retry`) run side by side.
    """
    if paths.lake is not None and not exclusive:
        con = lake.connect(paths.lake)
        try:
            con.execute(f"SET memory_limit = '{_checked_limit(memory_limit)}'")
            yield con
        finally:
            con.close()
        return
    paths.working_db.parent.mkdir(parents=True, exist_ok=True)
    lock_path = paths.working_db.with_suffix(".lock")
    with open(lock_path, "a+") as lock:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseError(
                        f"another pipeline run has held {paths.working_db} for {wait_s:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            # lake mode: the same SQL on the lake's schemas (writers on other machines are
            # serialized by DuckLake's commit checks, not by this machine's lock)
            con = lake.connect(paths.lake) if paths.lake else duckdb.connect(str(paths.working_db))
            try:
                con.execute(f"SET memory_limit = '{_checked_limit(memory_limit)}'")
                con.execute("SET preserve_insertion_order = false")
                # per-file commits write the WAL; checkpoint in larger steps, not every commit
                con.execute("SET checkpoint_threshold = '256MB'")
                con.execute("SET enable_progress_bar = false")  # our CLI shows its own
                yield con
            finally:
                con.close()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _checked_limit(limit: str) -> str:
    # a SET value cannot be a bound parameter: accept only a plain size like 4GB or 512MB
    number, unit = limit[:-2], limit[-2:].upper()
    if not number.isdigit() or unit not in {"MB", "GB"}:
        raise WarehouseError(f"memory limit must look like 4GB or 512MB (got {limit!r})")
    return f"{int(number)}{unit}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish(
    con: duckdb.DuckDBPyConnection,
    paths: Paths,
    info: dict[str, object] | None = None,
    keep: int = KEEP_SNAPSHOTS,
) -> Snapshot:
    """Copy the working database's ``analytics`` schema to a new snapshot and switch to it.

    The snapshot is complete and checkpointed on disk before the public symlink moves, and
    the switch is one ``rename``: readers see the old snapshot or the new one, never a mix.
    """
    now = dt.datetime.now(dt.UTC)
    version = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    if paths.lake is not None:
        return _publish_lake(con, paths, version, now, info)
    store = _snapshots(paths)
    shared, event_rows = _shared_views(con, now)
    # sessions and episode views: the dates changed since the last publish as new parts
    parts = shared_tables.publish_parts(con, now)
    building = store.stage(version)
    # other views of the working database are materialized as tables: a snapshot holds no
    # raw schema for them to read from
    tables = [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? UNION SELECT view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND schema_name = ? AND NOT internal "
            "ORDER BY 1",
            [PUBLIC_SCHEMA, PUBLIC_SCHEMA],
        ).fetchall()
        if row[0] not in shared and row[0] not in parts
    ]
    counts: dict[str, int] = {name: event_rows for name in shared} | {
        name: rows for name, (_sql, rows) in parts.items()
    }
    shared = {name: sql for name, (sql, _rows) in parts.items()} | shared
    alias = "snap_" + uuid.uuid4().hex[:8]
    # written in DuckDB 1.5's storage format, so analysts on older clients (and the
    # `duckdb` CLI from PyPI) can open it too
    # DuckDB 1.5 binds no parameter in ATTACH: the path (ours) is a quoted literal
    con.execute(
        f"ATTACH {sql_literal(str(building))} AS {alias} "
        f"(STORAGE_VERSION '{SNAPSHOT_STORAGE_VERSION}')"
    )
    try:
        con.execute(f"CREATE SCHEMA {alias}.{PUBLIC_SCHEMA}")
        for table in tables:
            qualified = f"{PUBLIC_SCHEMA}.{_quote_ident(table)}"
            con.execute(f"CREATE TABLE {alias}.{qualified} AS SELECT * FROM {qualified}")  # noqa: S608 (our own table names, quoted)
            counts[table] = con.execute(f"SELECT count(*) FROM {alias}.{qualified}").fetchone()[0]  # noqa: S608
        _copy_comments(con, alias, tables)
        meta = {
            "snapshot_version": version,
            "published_at": now.isoformat(),
            "tables": counts,
            **(info or {}),
        }
        _write_meta(con, f"{alias}.{PUBLIC_SCHEMA}", version, now, meta)
        con.execute(f"CHECKPOINT {alias}")
    finally:
        con.execute(f"DETACH {alias}")
    if shared:
        _create_shared_views(con, building, shared)
        # before the switch: from now on maintenance keeps every file this snapshot reads
        maintenance.record_snapshot_files(con, version)
    final = store.commit(building, version)
    switch_public_link(paths, final)
    prune_snapshots(paths, keep=keep)
    return Snapshot(version=version, path=final, tables=counts)


def _write_meta(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    version: str,
    now: dt.datetime,
    meta: dict[str, object],
) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE {schema}.{META_TABLE} AS "
        "SELECT ?::VARCHAR AS snapshot_version, ?::TIMESTAMPTZ AS published_at, "
        "?::JSON AS info",
        [version, now, json.dumps(meta, default=str)],
    )
    con.execute(
        f"COMMENT ON TABLE {schema}.{META_TABLE} IS "
        "'Which snapshot this is, when it was published, table row counts and metric "
        "parameters.'"
    )


def _publish_lake(
    con: duckdb.DuckDBPyConnection,
    paths: Paths,
    version: str,
    now: dt.datetime,
    info: dict[str, object] | None,
) -> Snapshot:
    """Publish on a DuckLake: nothing is copied. The lake's own snapshot holds every table as
    the run left it; one commit writes ``analytics.snapshot_info`` and tags itself as the
    publish of ``version``, and readers attach the lake at that snapshot
    (:func:`core.lake.connect_published`)."""
    names = [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name <> ? UNION SELECT view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND schema_name = ? AND NOT internal "
            "ORDER BY 1",
            [PUBLIC_SCHEMA, META_TABLE, PUBLIC_SCHEMA],
        ).fetchall()
    ]
    counts = {}
    for name in names:
        sql = f"SELECT count(*) FROM {PUBLIC_SCHEMA}.{_quote_ident(name)}"  # noqa: S608 (our names, quoted)
        counts[name] = con.execute(sql).fetchone()[0]
    meta = {"snapshot_version": version, "published_at": now.isoformat(), "tables": counts,
            **(info or {})}  # fmt: skip
    with transaction(con):
        _write_meta(con, PUBLIC_SCHEMA, version, now, meta)
        lake.tag_publish(con, version)
    snapshot_id = lake.current_snapshot(con)
    assert paths.lake is not None
    return Snapshot(
        version=version,
        path=Path(f"ducklake:{paths.lake.catalog}@{snapshot_id}"),
        tables=counts,
        lake_snapshot=snapshot_id,
    )


def _shared_views(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> tuple[dict[str, str], int]:
    """The ``analytics`` views over the events of record, as the snapshot defines them: over
    the fixed list of the events' Parquet files (``core.event_store``), shared by every
    snapshot instead of copied. The inline buffer is flushed to files first. Returns the
    views' snapshot SQL and the number of events."""
    has_files = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'raw' AND table_name = 'event_files'"
    ).fetchall()
    if not has_files:
        return {}, 0
    root = event_store.root_of(con)
    event_store.flush_inline(con, root, now)
    files = event_store.listed_files(con, root)
    if not files:
        return {}, 0
    over_files = "(" + event_store.files_sql(files, event_store.columns(con)) + ")"
    views = {}
    for name, sql in con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = ? AND NOT internal",
        [PUBLIC_SCHEMA],
    ).fetchall():
        if re.search(r"\braw\.events\b", sql):
            views[name] = re.sub(r"\braw\.events\b", lambda _m: over_files, sql)
    rows = con.execute("SELECT coalesce(sum(rows), 0) FROM raw.event_files").fetchall()[0][0]
    return views, int(rows)


def _create_shared_views(
    con: duckdb.DuckDBPyConnection, building: Path, views: dict[str, str]
) -> None:
    """Define ``views`` (in order: a view may read an earlier one) inside the snapshot file
    itself, so their names resolve to its own objects, with the working database's
    comments."""
    comments, column_comments = _comments(con)
    snap = duckdb.connect(str(building))
    try:
        for name, sql in views.items():
            snap.execute(sql)
            if name in comments:
                snap.execute(
                    f"COMMENT ON VIEW {PUBLIC_SCHEMA}.{_quote_ident(name)} IS "
                    + sql_literal(comments[name])
                )
        for table, column, comment in column_comments:
            if table in views:
                snap.execute(
                    f"COMMENT ON COLUMN {PUBLIC_SCHEMA}.{_quote_ident(table)}."
                    f"{_quote_ident(column)} IS " + sql_literal(comment)
                )
        snap.execute("CHECKPOINT")
    finally:
        snap.close()


def _comments(
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The ``analytics`` objects' comments (tables and views) and their columns' comments."""
    objects = dict(
        con.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = "
            "current_database() AND schema_name = ? AND comment IS NOT NULL "
            "UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE database_name = "
            "current_database() AND schema_name = ? AND comment IS NOT NULL",
            [PUBLIC_SCHEMA, PUBLIC_SCHEMA],
        ).fetchall()
    )
    columns = con.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = ? AND comment IS NOT NULL",
        [PUBLIC_SCHEMA],
    ).fetchall()
    return objects, columns


def _snapshots(paths: Paths) -> VersionedStore:
    """Snapshot files ``snapshots/cliffhanger-<version>.duckdb``, the public path their pointer."""
    return VersionedStore(
        directory=paths.snapshots_dir,
        pointer=paths.warehouse,
        prefix=SNAPSHOT_PREFIX,
        suffix=".duckdb",
    )


def _copy_comments(con: duckdb.DuckDBPyConnection, alias: str, tables: list[str]) -> None:
    comments, column_comments = _comments(con)
    for table, comment in comments.items():
        if table in tables:  # a shared view is commented inside the snapshot
            con.execute(
                f"COMMENT ON TABLE {alias}.{PUBLIC_SCHEMA}.{_quote_ident(table)} IS "
                + sql_literal(comment)
            )
    for table, column, comment in column_comments:
        if table in tables:
            con.execute(
                f"COMMENT ON COLUMN {alias}.{PUBLIC_SCHEMA}.{_quote_ident(table)}."
                f"{_quote_ident(column)} IS " + sql_literal(comment)
            )


def switch_public_link(paths: Paths, target: Path) -> None:
    """Point the public path at ``target`` with one atomic rename of a fresh symlink."""
    try:
        switch_pointer(paths.warehouse, target)
    except NotAPointer:
        raise WarehouseError(
            f"{paths.warehouse} is a regular file, not Cliffhanger's published link; move it away"
        ) from None


def prune_snapshots(paths: Paths, keep: int = KEEP_SNAPSHOTS) -> list[Path]:
    """Delete all but the newest ``keep`` snapshots (never the published one).

    A reader that still has a deleted snapshot open keeps reading it: on POSIX the file lives
    until its last handle closes. Leftovers of a crash mid-publish are deleted too.
    """
    removed = _snapshots(paths).prune(keep)
    if paths.snapshots_dir.is_dir():  # staging files as named before core.versioned
        for stale in paths.snapshots_dir.glob(f"{SNAPSHOT_PREFIX}*.building"):
            stale.unlink(missing_ok=True)
    return removed


def kept_versions(paths: Paths) -> set[str]:
    """Versions of the snapshots on disk (the published one among them)."""
    store = _snapshots(paths)
    return {v for v in (store.version_of(p) for p in store.versions()) if v is not None}


def connect_published(paths: Paths) -> duckdb.DuckDBPyConnection:
    """Open the published warehouse read-only, as analysts, dashboards and tests do (in lake
    mode: the lake attached at its newest published snapshot)."""
    if paths.lake is not None:
        try:
            return lake.connect_published(paths.lake)[0]
        except lake.LakeError as exc:
            raise WarehouseError(str(exc)) from None
    if not paths.warehouse.exists():
        raise WarehouseError(
            f"no published warehouse at {paths.warehouse}: run `cliffhanger run` first"
        )
    return duckdb.connect(str(paths.warehouse), read_only=True)


def published_version(paths: Paths) -> str | None:
    """The version of the snapshot the public path points to (in lake mode: the newest
    published one), or None."""
    if paths.lake is not None:
        probe = lake.connect(paths.lake, read_only=True)
        try:
            published = lake.published_snapshots(probe)
        finally:
            probe.close()
        return published[0][1] if published else None
    return _snapshots(paths).current_version()
