"""Ingest event files into ``raw.events``: every record lands exactly once.

Files are taken in the order given (name order for a folder). Each file's content hash
decides whether it was ingested before (then nothing changes). New files are staged together
in batches — DuckDB reads the lines and rows itself — validated in SQL (validate.sql), checked
for duplicates against the stored events and against earlier records of the batch, and then
**each file** is committed in its own transaction: its events, its quarantined records and its
accounting row together. A crash or SIGKILL before a file's commit leaves the database as it
was before that file; the next run ingests it whole.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core import event_store
from ingest.catalog import ensure_schema as ensure_catalog_schema
from ingest.reader import (
    MAX_RECORD_BYTES,
    FileInfo,
    FileRefused,
    inspect_file,
    json_line_batches,
    precheck_csv,
    precheck_json,
)

_HERE = Path(__file__).parent
SCHEMA_SQL = (_HERE / "schema.sql").read_text()
FIELDS_JSON_SQL = (_HERE / "fields_json.sql").read_text()
VALIDATE_SQL = (_HERE / "validate.sql").read_text()
REPLAYABLE_REASONS = ("unknown_series", "unknown_episode")
BATCH_BYTES = 160 << 20  # files staged together, by size on disk (~1.5 GB of JSON text)
# what a file that holds no record holds instead (a CSV of only blank lines is refused earlier)
NO_RECORDS = {"jsonl": "only blank lines", "csv": "only a header line", "parquet": "no rows"}

# DuckDB reads the lines itself (fast, streaming, gzip included) as one text column split on
# 0x01, which cannot appear raw in JSON: strict mode turns a line holding one (or an oversize
# line, or invalid UTF-8) into an error, and that file then goes through the exact Python
# reader instead. Blank lines come through as NULL, so row_number() is the line number.
FAST_LINES_SQL = (
    "INSERT INTO stage_lines SELECT $idx, record_number, raw, false FROM ("  # noqa: S608
    "    SELECT row_number() OVER () AS record_number, raw"
    "    FROM read_csv($path, columns = {'raw': 'VARCHAR'}, delim = chr(1), quote = '',"
    "                  escape = '', header = false, auto_detect = false, strict_mode = true,"
    f"                  new_line = '\\n', max_line_size = {MAX_RECORD_BYTES:d})"
    ") WHERE raw IS NOT NULL AND trim(raw) <> ''"
)

FIELD_COLUMNS = (
    "file_idx", "record_number", "raw", "problem", "shape", "event_id", "event_name", "ts_raw",
    "ts_kind", "user_id", "session_id", "series_id", "episode_number_raw", "episode_id",
    "position_raw", "unlock_method", "amount_raw", "platform", "app_version", "country",
    "language", "request_id", "model_version", "variant", "surface", "list_position_raw",
    "item",
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
    "request_id": "request_id",
    "model_version": "model_version",
    "variant": "variant",
    "surface": "surface",
    "list_position_raw": "position",
}
TS_KINDS = {
    "TIMESTAMP WITH TIME ZONE": "'TIMESTAMPTZ'",
    "TIMESTAMP": "'TIMESTAMP'",
    "TIMESTAMP_MS": "'TIMESTAMP'",
    "TIMESTAMP_NS": "'TIMESTAMP'",
    "TIMESTAMP_S": "'TIMESTAMP'",
    "BIGINT": "'BIGINT'",
    "INTEGER": "'BIGINT'",
    "DOUBLE": "'DOUBLE'",
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
    reader: str = ""  # duckdb (fast path) or python (exact line reader)


@dataclass(frozen=True)
class ReplayResult:
    examined: int
    loaded: int
    duplicates: int
    still_quarantined: int


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    ensure_catalog_schema(con)
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    root = event_store.root_of(con)
    event_store.ensure_renamed(con)
    con.execute(SCHEMA_SQL)
    event_store.ensure(con, root)


def _create_stage(con: duckdb.DuckDBPyConnection) -> None:
    types = {"file_idx": "INTEGER", "record_number": "BIGINT", "item": "BIGINT"}
    cols = ", ".join(f"{c} {types.get(c, 'VARCHAR')}" for c in FIELD_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE stage_fields ({cols})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stage_lines (file_idx INTEGER, record_number BIGINT, "
        "raw VARCHAR, oversize BOOLEAN)"
    )


def _fields_from(lines: str) -> str:
    """SQL for the text fields of the JSON lines that the query ``lines`` yields."""
    return f"WITH lines AS ({lines}) SELECT * FROM ({FIELDS_JSON_SQL})"  # noqa: S608


def _stage(con: duckdb.DuckDBPyConnection, fields: str, params: dict) -> None:
    """Append the typed records that the query ``fields`` yields to ``stage_fields``."""
    con.execute(f"INSERT INTO stage_fields BY NAME {fields}", params)


def _stage_json_fast(con: duckdb.DuckDBPyConnection, info: FileInfo, idx: int) -> bool:
    """Stage a JSON Lines file's lines with DuckDB's reader; False if it cannot read it."""
    # numbering needs the rows in file order: one file per statement keeps row_number()
    # a cheap streaming count (a window over several files would have to partition them)
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(FAST_LINES_SQL, {"path": str(info.path), "idx": idx})
        return True
    except duckdb.Error:
        # an oversize line, a raw 0x01 or invalid UTF-8 (tests check that normal files stay
        # on this path)
        con.execute("DELETE FROM stage_lines WHERE file_idx = ?", [idx])
        return False
    finally:
        con.execute("SET preserve_insertion_order = false")


def _stage_json_exact(con: duckdb.DuckDBPyConnection, info: FileInfo, idx: int) -> None:
    """Stage one JSON Lines file's lines through the Python reader, in bounded batches.

    A file refused half-way (a gzip bomb found late, corrupt data) leaves nothing staged, so
    its records cannot shadow later files' records as "earlier" duplicates.
    """
    try:
        for batch in json_line_batches(info.path, info.size):
            con.register("stage_batch", batch)
            try:
                con.execute(f"INSERT INTO stage_lines SELECT {idx:d}, * FROM stage_batch")  # noqa: S608
            finally:
                con.unregister("stage_batch")
    except FileRefused:
        con.execute("DELETE FROM stage_lines WHERE file_idx = ?", [idx])
        raise


def _stage_typed(con: duckdb.DuckDBPyConnection, info: FileInfo, idx: int) -> str:
    """Stage one Parquet or CSV file, read on its own terms (its own column types).

    Columns are taken by name; a missing column is a missing field. A column of a nested type
    (STRUCT, LIST, MAP...) holds no text or number: a record with a value there is
    ``bad_value:<field>``. Each file is read alone, so files whose columns have clashing
    types (or a naive TIMESTAMP beside text) cannot spoil each other. Returns the query of
    the file's numbered rows, so that a quarantined record can keep its whole original row.

    Raises
    ------
    FileRefused
        If DuckDB cannot read the file as rows (nothing of it is staged then).
    """
    con.execute("SET preserve_insertion_order = true")
    view = f"stage_source_{idx:d}"
    try:
        # the relation API takes the path as a value: nothing is pasted into SQL text
        if info.fmt == "parquet":
            relation = con.read_parquet(str(info.path), file_row_number=True)
            relation.create_view(f"{view}_raw", replace=True)
            numbered = (
                f"SELECT *, {idx:d} AS stage_idx, file_row_number + 1 AS stage_number "  # noqa: S608
                f"FROM {view}_raw"
            )
        else:
            relation = con.read_csv(str(info.path), all_varchar=True, header=True)
            relation.create_view(f"{view}_raw", replace=True)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {view}_rows AS SELECT *, "  # noqa: S608
                f"{idx:d} AS stage_idx, row_number() OVER () AS stage_number FROM {view}_raw"
            )
            numbered = f"SELECT * FROM {view}_rows"  # noqa: S608
        types = dict(
            con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {view}_raw)").fetchall()  # noqa: S608
        )
    except duckdb.Error as exc:
        raise FileRefused(_cannot_read(exc, info)) from None
    finally:
        con.execute("SET preserve_insertion_order = false")

    def col(field: str) -> str:
        source_col = TYPED_SOURCES[field]
        return f'CAST("{source_col}" AS VARCHAR)' if source_col in types else "NULL::VARCHAR"

    nested = [
        TYPED_SOURCES[f]
        for f in FIELD_COLUMNS[5:]
        if f in TYPED_SOURCES and _is_nested(types.get(TYPED_SOURCES[f], ""))
    ]
    problem = (
        "CASE "
        + " ".join(f"WHEN \"{c}\" IS NOT NULL THEN 'bad_value:{c}'" for c in nested)
        + " END"
        if nested
        else "NULL::VARCHAR"
    )
    ts_kind = TS_KINDS.get(types.get("ts", ""), "NULL::VARCHAR")
    select = ", ".join(
        [
            "stage_idx AS file_idx",
            "stage_number AS record_number",
            "NULL::VARCHAR AS raw",  # filled for quarantined rows (the whole row as JSON)
            f"{problem} AS problem",
            "'canonical' AS shape",
            *(
                f"{ts_kind} AS ts_kind"
                if f == "ts_kind"
                else "0::BIGINT AS item"
                if f == "item"
                else f"{col(f)} AS {f}"
                for f in FIELD_COLUMNS[5:]
            ),
        ]
    )
    try:
        # column names come from DESCRIBE of the file and are quoted; the path is a value
        _stage(con, f"SELECT {select} FROM ({numbered})", {})  # noqa: S608
    except duckdb.Error as exc:
        # a damaged data page shows only when the rows are read (the INSERT failed whole)
        raise FileRefused(_cannot_read(exc, info)) from None
    return numbered


def _cannot_read(exc: duckdb.Error, info: FileInfo) -> str:
    """DuckDB's first line, without the path (the file is named beside the message)."""
    detail = str(exc).splitlines()[0].replace(f' "{info.path}"', "")
    return f"cannot be read ({detail})"


def _is_nested(column_type: str) -> bool:
    """A DuckDB type that holds no single text or number: STRUCT, MAP, UNION, LIST, ARRAY."""
    return column_type.startswith(("STRUCT", "MAP", "UNION")) or column_type.endswith("]")


def _keep_raw_rows(con: duckdb.DuckDBPyConnection, numbered: str) -> None:
    """Quarantined records of typed files keep their original row, as JSON."""
    con.execute(
        f"""
        UPDATE stage_checked SET raw = r.raw_json
        FROM (
            SELECT s.stage_idx, s.stage_number,
                   json_merge_patch(to_json(s), '{{"file_row_number": null,
                       "stage_idx": null, "stage_number": null}}')::VARCHAR AS raw_json
            FROM ({numbered}) s
            SEMI JOIN stage_checked q ON q.file_idx = s.stage_idx
                  AND q.record_number = s.stage_number AND q.reason IS NOT NULL
        ) r
        WHERE stage_checked.file_idx = r.stage_idx AND stage_checked.record_number = r.stage_number
        """  # noqa: S608 (our own staging SQL)
    )


def _validate(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
    """Staged lines and typed rows -> ``stage_checked``: typed values and reasons.

    One parallel pass: JSON parsing (fields_json.sql) and validation (validate.sql).
    """
    json_fields = _fields_from("SELECT * FROM stage_lines")
    fields = f"{json_fields} UNION ALL BY NAME SELECT * FROM stage_fields"  # noqa: S608
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stage_checked AS "  # noqa: S608 (our own SQL files)
        f"WITH fields AS ({fields}) SELECT * FROM ({VALIDATE_SQL})",
        {"now": now},
    )


# valid records that are duplicates: their event_id is already stored, or appeared earlier in
# the batch (file order, then record order). Duplicates are rare: only they are joined back.
# A row is one event: a record, or one listed product of a Segment list record (item >= 1).
DUPLICATES_SQL = """
CREATE OR REPLACE TEMP TABLE stage_duplicates AS
WITH valid AS (
    SELECT file_idx, record_number, item, event_id,
           (file_idx::BIGINT * 1099511627776 + record_number) * 65536 + item AS seq
    FROM stage_checked WHERE reason IS NULL
), repeated AS (
    SELECT event_id, min(seq) AS first_seq FROM valid GROUP BY event_id HAVING count(*) > 1
), stored AS (
    SELECT DISTINCT v.event_id FROM valid v SEMI JOIN raw.events e ON e.event_id = v.event_id
)
SELECT v.file_idx, v.record_number, v.item FROM valid v LEFT JOIN repeated r USING (event_id)
WHERE v.seq > r.first_seq OR v.event_id IN (SELECT event_id FROM stored)
"""
# the recommendation-feedback columns, kept for those events only
REC_COLUMNS = ", ".join(
    f"CASE WHEN c.event_type LIKE 'recommendation_%' THEN c.{col} END"
    for col in ("request_id", "model_version", "variant", "surface", "list_position")
)
# a list record whose products do not all pass is quarantined whole, with its first
# product's reason (the record is the unit of the accounting, CONTRACT §2a)
WHOLE_LIST_SQL = """
UPDATE stage_checked SET reason = b.reason
FROM (SELECT file_idx, record_number, arg_min(reason, item) AS reason
      FROM stage_checked WHERE item >= 1 AND reason IS NOT NULL GROUP BY ALL) b
WHERE stage_checked.file_idx = b.file_idx AND stage_checked.record_number = b.record_number
  AND stage_checked.reason IS NULL
"""
# per file: records (a list record counts once), valid records, duplicate records (a list
# record is a duplicate when every one of its products is)
COUNTS_SQL = """
WITH dup_lists AS (
    SELECT file_idx, record_number, count(*) AS n FROM stage_duplicates WHERE item >= 1
    GROUP BY ALL
), list_sizes AS (
    SELECT file_idx, record_number, count(*) AS n
    FROM stage_checked SEMI JOIN dup_lists USING (file_idx, record_number) GROUP BY ALL
), dups AS (
    SELECT file_idx, count(*) AS n FROM stage_duplicates WHERE item = 0 GROUP BY 1
    UNION ALL
    SELECT file_idx, count(*) FROM dup_lists JOIN list_sizes USING (file_idx, record_number, n)
    GROUP BY 1
)
SELECT c.file_idx, count(*) FILTER (WHERE c.item <= 1),
       count(*) FILTER (WHERE c.item <= 1 AND c.reason IS NULL),
       (SELECT coalesce(sum(d.n), 0) FROM dups d WHERE d.file_idx = c.file_idx)
FROM stage_checked c GROUP BY c.file_idx
"""
# every file of a batch at once (one pass over the staged rows), with its file index last
EVENTS_OF_BATCH_SQL = f"""
SELECT event_id, event_type, ts, (ts AT TIME ZONE 'UTC')::DATE, user_id, session_id,
       series_id, episode_number, position_s,
       CASE WHEN event_type = 'episode_unlock' THEN unlock_method END,
       CASE WHEN event_type = 'purchase' THEN amount_usd END,
       platform, app_version, country, language, shape, list_extract($shas, c.file_idx + 1),
       record_number, $now,
       {REC_COLUMNS}, c.file_idx
FROM stage_checked c
WHERE c.reason IS NULL
  AND NOT EXISTS (SELECT 1 FROM stage_duplicates d
                  WHERE d.file_idx = c.file_idx AND d.record_number = c.record_number
                    AND d.item = c.item)
"""  # noqa: S608 (REC_COLUMNS is a constant)
# one file's events (an in-memory database inserts them file by file, at each commit)
EVENTS_OF_FILE_SQL = (
    f"SELECT * EXCLUDE (file_idx) FROM ({EVENTS_OF_BATCH_SQL}) WHERE file_idx = $idx"  # noqa: S608
)


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileAccounting:
    """Ingest one event file (idempotent, atomic). Never raises for bad records."""
    return ingest_files(con, [path], now=now, progress=progress)[0]


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[FileAccounting]:
    """Ingest event files in the given order; one accounting per path, in that order.

    Idempotent (a file whose content was ingested before changes nothing) and atomic per
    file. Never raises for bad records or bad files: they are quarantined or refused.
    """
    now = now or dt.datetime.now(dt.UTC)
    tick = progress or (lambda _n: None)
    ensure_schema(con)
    # files a crash left unlisted (written, never committed): this run is the one writer
    event_store.sweep_orphans(con, event_store.root_of(con))
    results: dict[int, FileAccounting] = {}
    pending: list[tuple[int, FileInfo]] = []
    seen: dict[str, str] = {}
    for i, path in enumerate(Path(p) for p in paths):
        try:
            info = inspect_file(path)
        except FileRefused as exc:
            results[i] = FileAccounting(str(path), "", "", 0, 0, 0, 0, "refused", str(exc))
            continue
        done = con.execute(
            "SELECT file_path, format, records_in, loaded, quarantined, duplicates "
            "FROM raw.ingestion_files WHERE content_sha256 = ?",
            [info.sha256],
        ).fetchone()
        if done:
            results[i] = FileAccounting(
                str(path), info.sha256, done[1], done[2], done[3], done[4], done[5],
                "already_ingested", f"same content as {done[0]}, ingested before",
            )  # fmt: skip
        elif info.sha256 in seen:
            results[i] = FileAccounting(
                str(path), info.sha256, info.fmt, 0, 0, 0, 0, "already_ingested",
                f"same content as {seen[info.sha256]}, given twice",
            )  # fmt: skip
        elif info.size == 0:
            results[i] = _refuse(con, info, now, "empty file, nothing to ingest")
        else:
            seen[info.sha256] = str(path)
            pending.append((i, info))
    # batches of files staged together (bounded by size on disk)
    batch: list[tuple[int, FileInfo]] = []
    size = 0
    for item in pending:
        batch.append(item)
        size += item[1].size
        if size >= BATCH_BYTES:
            results.update(_ingest_batch(con, batch, now, tick))
            batch, size = [], 0
    if batch:
        results.update(_ingest_batch(con, batch, now, tick))
    return [results[i] for i in sorted(results)]


def _ingest_batch(
    con: duckdb.DuckDBPyConnection,
    batch: list[tuple[int, FileInfo]],
    now: dt.datetime,
    tick: Callable[[int], None],
) -> dict[int, FileAccounting]:
    started = time.perf_counter()
    results: dict[int, FileAccounting] = {}
    readers: dict[int, str] = {}
    root = event_store.root_of(con)
    _create_stage(con)
    typed: list[str] = []
    try:
        fast: list[int] = []
        for pos, (i, info) in enumerate(batch):
            try:
                if info.fmt in ("parquet", "csv"):
                    if info.fmt == "csv":
                        precheck_csv(info)
                    typed.append(_stage_typed(con, info, pos))
                    readers[pos] = "duckdb"
                elif precheck_json(info):
                    fast.append(pos)
                else:
                    _stage_json_exact(con, info, pos)
                    readers[pos] = "python"
            except FileRefused as exc:
                results[i] = _refuse(con, info, now, str(exc))
        for pos in fast:
            info = batch[pos][1]
            if _stage_json_fast(con, info, pos):
                readers[pos] = "duckdb"
                continue
            try:
                _stage_json_exact(con, info, pos)
                readers[pos] = "python"
            except FileRefused as exc:
                results[batch[pos][0]] = _refuse(con, info, now, str(exc))
        staged = con.execute(
            "SELECT (SELECT count(*) FROM stage_lines) + (SELECT count(*) FROM stage_fields)"
        ).fetchone()[0]
        tick(staged)
        _validate(con, now)
        for numbered in typed:
            _keep_raw_rows(con, numbered)
        con.execute(WHOLE_LIST_SQL)
        con.execute(DUPLICATES_SQL)
        counts = {row[0]: row[1:] for row in con.execute(COUNTS_SQL).fetchall()}
        reasons: dict[int, dict[str, int]] = {}
        for idx, reason, n in con.execute(
            "SELECT file_idx, reason, count(*) FROM stage_checked WHERE reason IS NOT NULL "
            "AND item <= 1 GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall():
            reasons.setdefault(idx, {})[reason] = n
        # the events of every file written in one pass, each file listed by its own commit
        shas = [info.sha256 for _, info in batch]
        staged = event_store.stage_batch(con, root, EVENTS_OF_BATCH_SQL, {"shas": shas, "now": now})
        for pos, (i, info) in enumerate(batch):
            if i in results:
                continue
            records_in, valid, duplicates = counts.get(pos, (0, 0, 0))
            if records_in == 0:
                results[i] = _refuse(con, info, now, f"no records ({NO_RECORDS[info.fmt]})")
                continue
            loaded, quarantined = valid - duplicates, records_in - valid
            if staged is not None:
                pending = staged.get(pos, event_store.Pending([]))
            else:  # in memory: each file's rows inserted by its own commit
                pending = event_store.stage(
                    con, root, EVENTS_OF_FILE_SQL, {"shas": shas, "now": now, "idx": pos}
                )
            con.execute("BEGIN TRANSACTION")
            try:
                event_store.commit(con, root, pending, now)
                con.execute(
                    """
                    INSERT INTO raw.quarantine
                    SELECT $path, $sha, record_number, reason, raw, $now, 'quarantined', NULL
                    FROM stage_checked WHERE file_idx = $idx AND reason IS NOT NULL
                      AND item <= 1
                    ORDER BY record_number
                    """,
                    {"path": str(info.path), "sha": info.sha256, "now": now, "idx": pos},
                )
                seconds = time.perf_counter() - started
                con.execute(
                    "INSERT INTO raw.ingestion_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [str(info.path), info.sha256, info.fmt, info.size, records_in, loaded,
                     quarantined, duplicates, now, seconds],
                )  # fmt: skip
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            results[i] = FileAccounting(
                str(info.path), info.sha256, info.fmt, records_in, loaded, quarantined,
                duplicates, "ingested", "", reasons.get(pos, {}), seconds, readers.get(pos, ""),
            )  # fmt: skip
    finally:
        _drop_stage(con, len(batch))
    return results


def _drop_stage(con: duckdb.DuckDBPyConnection, n_files: int = 0) -> None:
    for table in ("stage_lines", "stage_fields", "stage_checked", "stage_duplicates",
                  "replay_source"):  # fmt: skip
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for pos in range(n_files):
        con.execute(f"DROP VIEW IF EXISTS stage_source_{pos:d}_raw")
        con.execute(f"DROP TABLE IF EXISTS stage_source_{pos:d}_rows")


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
    """Event files named directly or inside the given folders, in name order.

    A folder's entries are taken except sub-folders and hidden names: a FIFO, a device or a
    socket in it is listed too, so that ingestion refuses it visibly instead of skipping it.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(
                sorted(f for f in p.iterdir() if not f.is_dir() and not f.name.startswith("."))
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
    reasons = ", ".join(f"'{r}'" for r in REPLAYABLE_REASONS)  # constants
    con.execute(
        "CREATE OR REPLACE TEMP TABLE replay_source AS "  # noqa: S608
        "SELECT row_number() OVER (ORDER BY q.file_sha256, q.record_number) AS replay_id, "
        "q.rowid AS q_rowid, q.file_sha256, q.record_number AS original_record_number, "
        "q.raw_record FROM raw.quarantine q "
        f"WHERE q.status = 'quarantined' AND q.reason IN ({reasons})"
    )
    examined = con.execute("SELECT count(*) FROM replay_source").fetchone()[0]
    if examined == 0:
        _drop_stage(con)
        return ReplayResult(0, 0, 0, 0)
    try:
        _create_stage(con)
        # the raw records are JSON (a Parquet/CSV row was kept as to_json of the row); the
        # replay order (file, then record) makes the first delivery of an event_id win
        con.execute(
            "INSERT INTO stage_lines SELECT 0, replay_id, raw_record, false FROM replay_source"
        )
        _validate(con, now)
        con.execute(WHOLE_LIST_SQL)
        con.execute(DUPLICATES_SQL)
        # one row per record that now passes; a list record is a duplicate when all of its
        # products are
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE replay_checked AS
            SELECT c.record_number AS replay_id, any_value(r.q_rowid) AS q_rowid,
                   any_value(r.file_sha256) AS file_sha256,
                   any_value(r.original_record_number) AS original_record_number,
                   count(d.item) = count(*) AS is_duplicate
            FROM stage_checked c JOIN replay_source r ON r.replay_id = c.record_number
            LEFT JOIN stage_duplicates d ON d.record_number = c.record_number
                 AND d.item = c.item
            WHERE c.reason IS NULL
            GROUP BY c.record_number
            """
        )
        loaded, duplicates = con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_duplicate), count(*) FILTER (WHERE "
            "is_duplicate) FROM replay_checked"
        ).fetchone()
        root = event_store.root_of(con)
        pending = event_store.stage(
            con,
            root,
            f"""
                SELECT c.event_id, c.event_type, c.ts, (c.ts AT TIME ZONE 'UTC')::DATE,
                       c.user_id, c.session_id, c.series_id, c.episode_number, c.position_s,
                       CASE WHEN c.event_type = 'episode_unlock' THEN c.unlock_method END,
                       CASE WHEN c.event_type = 'purchase' THEN c.amount_usd END,
                       c.platform, c.app_version, c.country, c.language, c.shape,
                       v.file_sha256, v.original_record_number, $now, {REC_COLUMNS}
                FROM stage_checked c JOIN replay_checked v ON v.replay_id = c.record_number
                WHERE NOT v.is_duplicate
                  AND NOT EXISTS (SELECT 1 FROM stage_duplicates d
                                  WHERE d.record_number = c.record_number AND d.item = c.item)
            """,  # noqa: S608 (REC_COLUMNS is a constant)
            {"now": now},
        )
        con.execute("BEGIN TRANSACTION")
        try:
            event_store.commit(con, root, pending, now)
            con.execute(
                """
                UPDATE raw.quarantine SET
                    status = CASE WHEN v.is_duplicate THEN 'replayed_duplicate'
                                  ELSE 'replayed_loaded' END,
                    replayed_at = $now
                FROM replay_checked v WHERE raw.quarantine.rowid = v.q_rowid
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
                      FROM replay_checked GROUP BY 1) d
                WHERE raw.ingestion_files.content_sha256 = d.file_sha256
                """
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("DROP TABLE IF EXISTS replay_checked")
        _drop_stage(con)
    return ReplayResult(examined, loaded, duplicates, examined - loaded - duplicates)
