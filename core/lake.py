"""The warehouse on a DuckLake: the catalog in PostgreSQL, the data files in a folder or on
S3-compatible object storage (docs/architecture.md, "DuckLake mode").

The pipeline runs the same SQL as in the embedded mode: :func:`connect` attaches the lake as
``lake`` and makes it the default catalog, so ``raw.*``, ``derived.*`` and ``analytics.*``
resolve to the lake's schemas. A publish is one DuckLake commit tagged with a commit message
(:data:`PUBLISH_MESSAGE`); readers attach the lake read-only *at* the newest published
snapshot (``SNAPSHOT_VERSION``), so a run committing meanwhile changes nothing they see.

Offline, DuckDB's extensions come from PyPI's ``duckdb-extension-*`` packages (built for the
pinned DuckDB): :func:`extension_directory` lays their files out as DuckDB's own extension
folder, so ``LOAD ducklake`` and the DuckLake extension's own loading of ``postgres_scanner``
and ``httpfs`` find them without a download.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import duckdb

from core.config import LakeSettings
from core.db import transaction
from core.schema_docs import sql_literal

T = TypeVar("T")

ALIAS = "lake"
PUBLISH_AUTHOR = "cliffhanger"
PUBLISH_MESSAGE = "publish"
# extension name in DuckDB -> the PyPI package that carries its file (and the file's stem)
EXTENSIONS = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
    "postgres_scanner": ("duckdb_extension_postgres", "postgres"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
}


class LakeError(RuntimeError):
    """The lake cannot be reached or has nothing published (one line for users)."""


def extension_directory() -> Path:
    """A DuckDB extension folder holding the packaged extensions (made once, then reused).

    ``CLIFFHANGER_EXTENSION_DIR`` overrides the default ``~/.cache/cliffhanger/duckdb``.
    """
    root = Path(
        os.environ.get("CLIFFHANGER_EXTENSION_DIR")
        or Path.home() / ".cache" / "cliffhanger" / "duckdb"
    ).expanduser()
    version = "v" + duckdb.__version__
    # a private connection: duckdb.execute's shared default one is not safe across threads
    probe = duckdb.connect()
    try:
        platform = probe.execute("PRAGMA platform").fetchall()[0][0]
    finally:
        probe.close()
    target_dir = root / version / platform
    for name, (package, stem) in EXTENSIONS.items():
        target = target_dir / f"{name}.duckdb_extension"
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise LakeError(
                f"the lake mode needs the Python package {package.replace('_', '-')} "
                f"(built for DuckDB {duckdb.__version__}); reinstall cliffhanger"
            )
        source = Path(spec.origin).parent / "extensions" / version / f"{stem}.duckdb_extension"
        if not source.is_file():
            raise LakeError(
                f"{package} has no extension for DuckDB {duckdb.__version__} ({source})"
            )
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            target_dir.mkdir(parents=True, exist_ok=True)
            staging = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(source, staging)
            os.replace(staging, target)  # atomic: a reader never loads half a file
    return root


def _configure_s3(con: duckdb.DuckDBPyConnection) -> None:
    """A DuckDB secret from the usual ``AWS_*`` variables and ``AWS_ENDPOINT_URL``."""
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    if not key:
        return  # public buckets, or credentials DuckDB finds itself
    params: dict[str, object] = {
        "key_id": key,
        "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "region": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
    }
    options = ["TYPE s3", "KEY_ID $key_id", "SECRET $secret", "REGION $region"]
    if os.environ.get("AWS_SESSION_TOKEN"):
        params["token"] = os.environ["AWS_SESSION_TOKEN"]
        options.append("SESSION_TOKEN $token")
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
    if endpoint:
        url = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        params["endpoint"] = url.netloc + url.path.rstrip("/")
        params["use_ssl"] = url.scheme == "https"
        # a self-hosted endpoint (MinIO, moto, Ceph) serves buckets as paths
        options += ["ENDPOINT $endpoint", "USE_SSL $use_ssl", "URL_STYLE 'path'"]
    con.execute(f"CREATE OR REPLACE SECRET cliffhanger_s3 ({', '.join(options)})", params)


def connect(
    settings: LakeSettings,
    read_only: bool = False,
    version: int | None = None,
    retries: int = 3,
) -> duckdb.DuckDBPyConnection:
    """A connection whose default catalog is the lake (``USE lake``).

    ``read_only`` readers may pin ``version`` (a DuckLake snapshot id): they see exactly that
    snapshot however many commits follow. The catalog server is retried briefly (a server
    restarting), then the error says which catalog could not be reached.
    """
    con = duckdb.connect(
        config={
            "extension_directory": str(extension_directory()),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": True,
        }
    )
    try:
        con.execute("LOAD ducklake")
        if settings.catalog.startswith(("postgres:", "postgresql:")):
            con.execute("LOAD postgres_scanner")
        remote = settings.data_path.startswith(("s3://", "s3a://", "gs://", "http"))
        # a reader does not name the data path (the catalog knows it): credentials decide
        if remote or os.environ.get("AWS_ACCESS_KEY_ID"):
            con.execute("LOAD httpfs")
            _configure_s3(con)
        if not remote and not read_only:
            Path(settings.data_path).mkdir(parents=True, exist_ok=True)
        options = ["READ_ONLY"] if read_only else [f"DATA_PATH {sql_literal(settings.data_path)}"]
        if version is not None:
            options.append(f"SNAPSHOT_VERSION {int(version)}")
        # ATTACH binds no parameters: the catalog string is quoted as a literal
        attach = (
            f"ATTACH {sql_literal('ducklake:' + settings.catalog)} AS {ALIAS} "
            f"({', '.join(options)})"
        )
        for attempt in range(retries + 1):
            try:
                con.execute(attach)
                break
            except duckdb.Error as exc:
                if read_only and "does not exist" in str(exc):
                    raise LakeError(
                        f"nothing published in the DuckLake {settings.catalog!r} (it has no "
                        "lake yet): run `cliffhanger run`"
                    ) from None
                transient = "connect" in str(exc).lower()  # a catalog server restarting
                if attempt == retries or not transient:
                    raise LakeError(
                        f"cannot attach the DuckLake catalog {settings.catalog!r}: "
                        f"{str(exc).splitlines()[0]}"
                    ) from exc
                time.sleep(0.5 * 2**attempt)
        con.execute(f"USE {ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The lake's newest snapshot id as ``con`` sees it."""
    sql = f"SELECT id FROM {ALIAS}.current_snapshot()"  # noqa: S608 (a constant)
    return int(con.execute(sql).fetchall()[0][0])


def published_snapshots(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """Published snapshots, newest first: (snapshot id, Cliffhanger version)."""
    rows = con.execute(
        f"SELECT snapshot_id, commit_extra_info FROM {ALIAS}.snapshots() "  # noqa: S608 (constant)
        "WHERE author = ? AND commit_message = ? ORDER BY snapshot_id DESC",
        [PUBLISH_AUTHOR, PUBLISH_MESSAGE],
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def tag_publish(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Mark the open transaction's commit as the publish of ``version``."""
    con.execute(
        f"CALL {ALIAS}.set_commit_message(?, ?, extra_info => ?)",
        [PUBLISH_AUTHOR, PUBLISH_MESSAGE, version],
    )


def connect_published(
    settings: LakeSettings, version: int | None = None
) -> tuple[duckdb.DuckDBPyConnection, int]:
    """A read-only connection pinned to the newest published snapshot (or to ``version``),
    and that snapshot's id."""
    if version is None:
        probe = connect(settings, read_only=True)
        try:
            published = published_snapshots(probe)
        finally:
            probe.close()
        if not published:
            raise LakeError(
                f"nothing published in the DuckLake {settings.catalog!r}: run `cliffhanger run`"
            )
        version = published[0][0]
    return connect(settings, read_only=True, version=version), version


def write_with_retry(
    con: duckdb.DuckDBPyConnection,
    write: Callable[[duckdb.DuckDBPyConnection], T],
    attempts: int = 6,
    base_s: float = 0.1,
) -> T:
    """Run ``write(con)`` in one transaction, again after a lost commit race.

    DuckLake checks conflicts per table, not per partition: two writers replacing different
    days of one table (DELETE + INSERT) conflict, and the later commit fails. The loser waits
    a jittered, exponentially growing time (so racing writers spread out) and redoes its whole
    transaction; after ``attempts`` the conflict is raised. ``write`` must be safe to redo
    (it replaces its own rows). Never run the same partition from two writers at once: a
    DELETE matching no rows takes no part in the checks, so both inserts could commit.
    """
    for attempt in range(attempts):
        try:
            with transaction(con):
                return write(con)
        except duckdb.TransactionException:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT may leave it open
                con.execute("ROLLBACK")
            if attempt == attempts - 1:
                raise
            time.sleep(base_s * 2**attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")


def maintain(
    con: duckdb.DuckDBPyConnection,
    keep_published: int,
    retention_s: float,
) -> dict[str, int]:
    """One maintenance pass on the lake: flush inlined rows to files, merge small adjacent
    files, expire old snapshots, delete the files no remaining snapshot reads.

    Never expired: the newest ``keep_published`` published snapshots (readers attach them),
    the current one, and any snapshot younger than ``retention_s`` (a reader may still hold
    it). Files are deleted only once their snapshots are gone and they were scheduled for
    deletion longer than ``retention_s`` ago.
    """
    flushed = con.execute(f"CALL ducklake_flush_inlined_data('{ALIAS}')").fetchall()
    merged = con.execute(f"CALL ducklake_merge_adjacent_files('{ALIAS}')").fetchall()
    kept = {sid for sid, _v in published_snapshots(con)[:keep_published]}
    kept.add(current_snapshot(con))
    doomed = [
        int(r[0])
        for r in con.execute(
            f"SELECT snapshot_id FROM {ALIAS}.snapshots() "  # noqa: S608 (a constant)
            "WHERE snapshot_time < now() - to_seconds(?::DOUBLE) ORDER BY 1",
            [retention_s],
        ).fetchall()
        if int(r[0]) not in kept
    ]
    if doomed:
        con.execute(f"CALL ducklake_expire_snapshots('{ALIAS}', versions => ?)", [doomed])
    deleted = con.execute(
        f"CALL ducklake_cleanup_old_files('{ALIAS}', older_than => now() - to_seconds(?::DOUBLE))",
        [retention_s],
    ).fetchall()
    return {
        "flushed_rows": sum(int(r[2]) for r in flushed),
        "merged_files": sum(int(r[2]) for r in merged),
        "written_files": sum(int(r[3]) for r in merged),
        "expired_snapshots": len(doomed),
        "deleted_files": len(deleted),
    }


def is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con``'s default catalog is a DuckLake."""
    return con.execute(
        "SELECT type = 'ducklake' FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0][0]
