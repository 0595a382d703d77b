"""Ingest event files into ``raw.events``: every record lands exactly once.

For each file: its content hash decides whether it was ingested before (then nothing
changes); its records are staged in bounded batches, validated in SQL (validate.sql), checked
for duplicates against the stored events and within the file, and then the events, the
quarantined records and the file's accounting are committed in **one transaction**. A crash or
SIGKILL before the commit leaves the database as it was; the next run ingests the file whole.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cliffhanger.ingest.catalog import ensure_schema as ensure_catalog_schema
from cliffhanger.ingest.reader import FileInfo, FileRefused, inspect_file, json_line_batches

_HERE = Path(__file__).parent
SCHEMA_SQL = (_HERE / "schema.sql").read_text()
FIELDS_JSON_SQL = (_HERE / "fields_json.sql").read_text()
VALIDATE_SQL = (_HERE / "validate.sql").read_text()
REPLAYABLE_REASONS = ("unknown_series", "unknown_episode")

# columns of stage_fields, all text, as fields_json.sql produces them
FIELD_COLUMNS = (
    "record_number", "raw", "problem", "shape", "event_id", "event_name", "ts_raw", "ts_kind",
    "user_id", "session_id", "series_id", "episode_number_raw", "episode_id", "position_raw",
    "unlock_method", "amount_raw", "platform", "app_version", "country", "language",
)  # fmt: skip
# canonical column -> the field it fills, for typed inputs (Parquet, CSV)
TYPED_SOURCES = {
    "event_id": "event_id",
    "event_name": "event_type",
    "ts_raw": "ts",
    "user_id": "user_id",
    "session_id": "session_id",
    "series_id": "series_id",
    "episode_number_raw": "episode_number",
    "episode_id": "episode_id",
    "position_raw": "position_s",
    "unlock_method": "unlock_method",
    "amount_raw": "amount_usd",
    "platform": "platform",
    "app_version": "app_version",
    "country": "country",
    "language": "language",
}


@dataclass(frozen=True)
class FileAccounting:
    """What happened to one input file; ``records_in = loaded + quarantined + duplicates``."""

    file_path: str
    content_sha256: str
    format: str
    records_in: int
    loaded: int
    quarantined: int
    duplicates: int
    status: str  # ingested | already_ingested | refused
    message: str = ""
    reasons: dict[str, int] | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class ReplayResult:
    examined: int
    loaded: int
    duplicates: int
    still_quarantined: int


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    ensure_catalog_schema(con)
    con.execute(SCHEMA_SQL)


def _create_stage(con: duckdb.DuckDBPyConnection) -> None:
    cols = ", ".join(
        f"{c} {'BIGINT' if c == 'record_number' else 'VARCHAR'}" for c in FIELD_COLUMNS
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE stage_fields ({cols})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stage_lines (record_number BIGINT, raw VARCHAR, "
        "oversize BOOLEAN)"
    )


def _stage_json(
    con: duckdb.DuckDBPyConnection, info: FileInfo, progress: Callable[[int], None]
) -> None:
    for batch in json_line_batches(info.path, info.size):
        con.execute("DELETE FROM stage_lines")
        con.register("stage_batch", batch)
        try:
            con.execute("INSERT INTO stage_lines SELECT * FROM stage_batch")
        finally:
            con.unregister("stage_batch")
        con.execute(FIELDS_JSON_SQL)
        progress(batch.num_rows)


def _stage_typed(
    con: duckdb.DuckDBPyConnection, info: FileInfo, progress: Callable[[int], None]
) -> None:
    """Parquet or CSV: columns by name; a missing column is a missing field."""
    con.execute("SET preserve_insertion_order = true")
    try:
        # the relation API takes the path as a value: nothing is pasted into SQL text
        if info.fmt == "parquet":
            relation = con.read_parquet(str(info.path), file_row_number=True)
            number = "file_row_number + 1"
        else:
            relation = con.read_csv(str(info.path), all_varchar=True, header=True)
            number = "row_number() OVER ()"  # file order: preserve_insertion_order is on here
        relation.create_view("stage_source", replace=True)
    except duckdb.Error as exc:
        con.execute("SET preserve_insertion_order = false")
        raise FileRefused(
            f"{info.path.name}: cannot be read ({str(exc).splitlines()[0]})"
        ) from None
    types = dict(
        con.execute("SELECT column_name, column_type FROM (DESCRIBE stage_source)").fetchall()
    )

    def col(field: str) -> str:
        source_col = TYPED_SOURCES[field]
        return f'CAST("{source_col}" AS VARCHAR)' if source_col in types else "NULL"

    ts_type = types.get("ts")
    ts_kind = {
        "TIMESTAMP WITH TIME ZONE": "'TIMESTAMPTZ'",
        "TIMESTAMP": "'TIMESTAMP'",
        "TIMESTAMP_MS": "'TIMESTAMP'",
        "TIMESTAMP_NS": "'TIMESTAMP'",
        "TIMESTAMP_S": "'TIMESTAMP'",
        "BIGINT": "'BIGINT'",
        "INTEGER": "'BIGINT'",
        "DOUBLE": "'DOUBLE'",
    }.get(ts_type or "", "NULL")
    select = ", ".join(
        [
            f"{number} AS record_number",
            "NULL AS raw",  # filled for quarantined rows only (to_json of the row)
            "NULL AS problem",
            "'canonical' AS shape",
            *(
                f"{col(f)} AS {f}" if f != "ts_kind" else f"{ts_kind} AS ts_kind"
                for f in FIELD_COLUMNS[4:]
            ),
        ]
    )
    try:
        con.execute(f"INSERT INTO stage_fields SELECT {select} FROM stage_source")  # noqa: S608 (column names from DESCRIBE, quoted)
        count = con.execute("SELECT count(*) FROM stage_fields").fetchone()[0]
        progress(count)
    finally:
        con.execute("SET preserve_insertion_order = false")


def _raw_for_typed(con: duckdb.DuckDBPyConnection, info: FileInfo) -> None:
    """Keep the whole original row, as JSON, for each quarantined Parquet/CSV record."""
    number = "file_row_number + 1" if info.fmt == "parquet" else "rn"
    inner = (
        "SELECT * FROM stage_source"
        if info.fmt == "parquet"
        else "SELECT row_number() OVER () AS rn, * FROM stage_source"
    )
    con.execute("SET preserve_insertion_order = true")
    try:
        query = (
            "UPDATE stage_checked SET raw = r.raw_json "  # noqa: S608 (constant fragments)
            f"FROM (SELECT {number} AS n, to_json(src) AS raw_json FROM ({inner}) src) r "
            "WHERE stage_checked.record_number = r.n AND stage_checked.reason IS NOT NULL"
        )
        con.execute(query)
    finally:
        con.execute("SET preserve_insertion_order = false")


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileAccounting:
    """Ingest one event file (idempotent, atomic). Never raises for bad records."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    tick = progress or (lambda _n: None)
    ensure_schema(con)
    path = Path(path)
    try:
        info = inspect_file(path)
    except FileRefused as exc:
        return FileAccounting(str(path), "", "", 0, 0, 0, 0, "refused", str(exc))
    done = con.execute(
        "SELECT file_path, format, records_in, loaded, quarantined, duplicates "
        "FROM raw.ingestion_files WHERE content_sha256 = ?",
        [info.sha256],
    ).fetchone()
    if done:
        return FileAccounting(
            str(path), info.sha256, done[1], done[2], done[3], done[4], done[5],
            "already_ingested", f"same content as {done[0]}, ingested before",
        )  # fmt: skip
    if info.size == 0:
        return _refuse(con, info, now, f"{path.name}: empty file, nothing to ingest")
    _create_stage(con)
    try:
        if info.fmt == "jsonl":
            _stage_json(con, info, tick)
        else:
            _stage_typed(con, info, tick)
    except FileRefused as exc:
        return _refuse(con, info, now, str(exc))
    records_in = con.execute("SELECT count(*) FROM stage_fields").fetchone()[0]
    if records_in == 0:
        return _refuse(con, info, now, f"{path.name}: no records (only blank lines)")
    con.execute(VALIDATE_SQL, {"now": now})
    if info.fmt != "jsonl":
        _raw_for_typed(con, info)
    # a record is a duplicate if its event_id is already stored or appeared earlier in the file
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE stage_valid AS
        SELECT c.*,
               row_number() OVER (PARTITION BY c.event_id ORDER BY c.record_number) > 1
               OR EXISTS (SELECT 1 FROM raw.events e WHERE e.event_id = c.event_id)
                   AS is_duplicate
        FROM stage_checked c WHERE c.reason IS NULL
        """
    )
    counts = con.execute(
        "SELECT count(*) FILTER (WHERE NOT is_duplicate), count(*) FILTER (WHERE is_duplicate) "
        "FROM stage_valid"
    ).fetchone()
    loaded, duplicates = counts
    quarantined = records_in - loaded - duplicates
    reasons = dict(
        con.execute(
            "SELECT reason, count(*) FROM stage_checked WHERE reason IS NOT NULL GROUP BY 1 "
            "ORDER BY 1"
        ).fetchall()
    )
    seconds = time.perf_counter() - started
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """
            INSERT INTO raw.events
            SELECT event_id, event_type, ts, (ts AT TIME ZONE 'UTC')::DATE, user_id, session_id,
                   series_id, episode_number, position_s,
                   CASE WHEN event_type = 'episode_unlock' THEN unlock_method END,
                   CASE WHEN event_type = 'purchase' THEN amount_usd END,
                   platform, app_version, country, language, shape, $sha, record_number, $now
            FROM stage_valid WHERE NOT is_duplicate
            ORDER BY ts
            """,
            {"sha": info.sha256, "now": now},
        )
        con.execute(
            """
            INSERT INTO raw.quarantine
            SELECT $path, $sha, record_number, reason, raw, $now, 'quarantined', NULL
            FROM stage_checked WHERE reason IS NOT NULL ORDER BY record_number
            """,
            {"path": str(path), "sha": info.sha256, "now": now},
        )
        seconds = time.perf_counter() - started
        con.execute(
            "INSERT INTO raw.ingestion_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [str(path), info.sha256, info.fmt, info.size, records_in, loaded, quarantined,
             duplicates, now, seconds],
        )  # fmt: skip
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for table in ("stage_lines", "stage_fields", "stage_checked", "stage_valid"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return FileAccounting(
        str(path), info.sha256, info.fmt, records_in, loaded, quarantined, duplicates,
        "ingested", "", reasons, seconds,
    )  # fmt: skip


def _refuse(
    con: duckdb.DuckDBPyConnection, info: FileInfo, now: dt.datetime, message: str
) -> FileAccounting:
    """Record a refused file once (so the data-health page shows it) and report it."""
    known = con.execute(
        "SELECT 1 FROM raw.refused_files WHERE content_sha256 = ?", [info.sha256]
    ).fetchone()
    if not known:
        con.execute(
            "INSERT INTO raw.refused_files VALUES (?, ?, ?, ?)",
            [str(info.path), info.sha256, message, now],
        )
    return FileAccounting(str(info.path), info.sha256, info.fmt, 0, 0, 0, 0, "refused", message)


def event_files(paths: Iterable[Path]) -> list[Path]:
    """Event files named directly or inside the given folders, in name order."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(
                sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            )
        else:
            files.append(p)
    return files


def replay_quarantine(
    con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None
) -> ReplayResult:
    """Re-validate records quarantined for an unknown series/episode against today's catalog.

    Records that now pass are loaded (or counted as duplicates) and their files' accounting
    moves with them, so ``records_in = loaded + quarantined + duplicates`` still holds.
    """
    now = now or dt.datetime.now(dt.UTC)
    ensure_schema(con)
    _create_stage(con)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE replay_source AS
        SELECT row_number() OVER () AS replay_id, q.rowid AS q_rowid, q.file_sha256,
               q.record_number AS original_record_number, q.raw_record
        FROM raw.quarantine q
        WHERE q.status = 'quarantined' AND q.reason IN ('unknown_series', 'unknown_episode')
        """
    )
    examined = con.execute("SELECT count(*) FROM replay_source").fetchone()[0]
    if examined == 0:
        return ReplayResult(0, 0, 0, 0)
    con.execute("INSERT INTO stage_lines SELECT replay_id, raw_record, false FROM replay_source")
    con.execute(FIELDS_JSON_SQL)
    con.execute(VALIDATE_SQL, {"now": now})
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE replay_valid AS
        SELECT c.*, r.q_rowid, r.file_sha256, r.original_record_number,
               row_number() OVER (PARTITION BY c.event_id ORDER BY r.file_sha256,
                                  r.original_record_number) > 1
               OR EXISTS (SELECT 1 FROM raw.events e WHERE e.event_id = c.event_id)
                   AS is_duplicate
        FROM stage_checked c JOIN replay_source r ON r.replay_id = c.record_number
        WHERE c.reason IS NULL
        """
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """
            INSERT INTO raw.events
            SELECT event_id, event_type, ts, (ts AT TIME ZONE 'UTC')::DATE, user_id, session_id,
                   series_id, episode_number, position_s,
                   CASE WHEN event_type = 'episode_unlock' THEN unlock_method END,
                   CASE WHEN event_type = 'purchase' THEN amount_usd END,
                   platform, app_version, country, language, shape, file_sha256,
                   original_record_number, $now
            FROM replay_valid WHERE NOT is_duplicate ORDER BY ts
            """,
            {"now": now},
        )
        con.execute(
            """
            UPDATE raw.quarantine SET
                status = CASE WHEN v.is_duplicate THEN 'replayed_duplicate'
                              ELSE 'replayed_loaded' END,
                replayed_at = $now
            FROM replay_valid v WHERE raw.quarantine.rowid = v.q_rowid
            """,
            {"now": now},
        )
        con.execute(
            """
            UPDATE raw.ingestion_files SET
                loaded = raw.ingestion_files.loaded + d.n_loaded,
                duplicates = raw.ingestion_files.duplicates + d.n_duplicates,
                quarantined = raw.ingestion_files.quarantined - d.n_loaded - d.n_duplicates
            FROM (SELECT file_sha256,
                         count(*) FILTER (WHERE NOT is_duplicate) AS n_loaded,
                         count(*) FILTER (WHERE is_duplicate) AS n_duplicates
                  FROM replay_valid GROUP BY 1) d
            WHERE raw.ingestion_files.content_sha256 = d.file_sha256
            """
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    loaded, duplicates = con.execute(
        "SELECT count(*) FILTER (WHERE NOT is_duplicate), count(*) FILTER (WHERE is_duplicate) "
        "FROM replay_valid"
    ).fetchone()
    for table in ("stage_lines", "stage_fields", "stage_checked", "replay_valid", "replay_source"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return ReplayResult(examined, loaded, duplicates, examined - loaded - duplicates)
