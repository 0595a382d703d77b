"""Read the API's served log into ``raw.served_items`` (docs/feedback-loop.md §2).

The API appends one JSON line per served list to files ``served/<date>/served-*.jsonl``; a
file still being written ends in ``.jsonl.open`` and is never read. Each closed file is read
once, by content hash (like event files): its lines are either stored (one row per served item,
the list's fields repeated) or quarantined in ``raw.served_quarantine`` with a machine-readable
reason (``malformed``, ``missing_field:<name>``, ``bad_value:<name>``), never lost; per file
``lines_in = loaded + quarantined`` (``raw.served_files``). A file is stored in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from core.schema_docs import apply_comments

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.served_items (
    request_id VARCHAR NOT NULL,
    served_at TIMESTAMPTZ NOT NULL,
    user_id VARCHAR,                -- null for similar (it has no user)
    endpoint VARCHAR NOT NULL,      -- next-series | similar | home
    surface VARCHAR NOT NULL,       -- endpoint name, or home:<row name>
    model_version VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,       -- default | control | challenger
    experiment VARCHAR,
    series_id VARCHAR,              -- null for a list served empty
    position INTEGER,               -- 1-based within the row
    source VARCHAR,
    score DOUBLE,
    file_sha256 VARCHAR NOT NULL,
    line_number BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.served_quarantine (
    file_path VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    line_number BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    raw_line VARCHAR,
    quarantined_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.served_files (
    file_path VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    lines_in BIGINT NOT NULL,
    loaded BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    items BIGINT NOT NULL,
    read_at TIMESTAMPTZ NOT NULL
);
"""
REQUIRED = ("request_id", "served_at", "endpoint", "surface", "model_version", "variant", "items")
ENDPOINTS = ("next-series", "similar", "home")
ITEM_COLUMNS = {
    "request_id": pl.Utf8, "served_at": pl.Utf8, "user_id": pl.Utf8, "endpoint": pl.Utf8,
    "surface": pl.Utf8, "model_version": pl.Utf8, "variant": pl.Utf8, "experiment": pl.Utf8,
    "series_id": pl.Utf8, "position": pl.Int32, "source": pl.Utf8, "score": pl.Float64,
    "line_number": pl.Int64,
}  # fmt: skip


@dataclass(frozen=True)
class ServedFileResult:
    file_path: str
    content_sha256: str
    lines_in: int
    loaded: int
    quarantined: int
    items: int
    status: str  # read | already_read


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA_SQL)


def served_files(folder: Path) -> list[Path]:
    """Closed served-log files under ``folder`` (any depth), in path order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.jsonl") if p.is_file())


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def parse_line(raw: str) -> tuple[list[dict] | None, str | None]:
    """One served-log line -> its item rows (the list's fields repeated), or a reason."""
    try:
        line = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "malformed"
    if not isinstance(line, dict):
        return None, "malformed"
    for name in REQUIRED:
        if line.get(name) is None or line.get(name) == "":
            return None, f"missing_field:{name}"
    for name in ("request_id", "served_at", "endpoint", "surface", "model_version", "variant"):
        if not isinstance(line[name], str):
            return None, f"bad_value:{name}"
    if line["endpoint"] not in ENDPOINTS:
        return None, "bad_value:endpoint"
    try:
        served = dt.datetime.fromisoformat(line["served_at"].replace("Z", "+00:00"))
    except ValueError:
        return None, "bad_value:served_at"
    if served.tzinfo is None:
        return None, "bad_value:served_at"
    for name in ("user_id", "experiment"):
        if line.get(name) is not None and not isinstance(line[name], str):
            return None, f"bad_value:{name}"
    items = line["items"]
    if not isinstance(items, list):
        return None, "bad_value:items"
    base = {
        "request_id": line["request_id"],
        "served_at": served.astimezone(dt.UTC).isoformat(),
        "user_id": _text(line.get("user_id")),
        "endpoint": line["endpoint"],
        "surface": line["surface"],
        "model_version": line["model_version"],
        "variant": line["variant"],
        "experiment": _text(line.get("experiment")),
    }
    rows = []
    for item in items:
        if not isinstance(item, dict) or not _text(item.get("series_id")):
            return None, "bad_value:items"
        position = item.get("position")
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            return None, "bad_value:items"
        score = item.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            return None, "bad_value:items"
        rows.append({**base, "series_id": item["series_id"], "position": position,
                     "source": _text(item.get("source")),
                     "score": None if score is None else float(score)})  # fmt: skip
    if not rows:  # a list served empty still names its request
        rows.append({**base, "series_id": None, "position": None, "source": None, "score": None})
    return rows, None


def read_served_log(
    con: duckdb.DuckDBPyConnection, paths: Iterable[Path], now: dt.datetime | None = None
) -> list[ServedFileResult]:
    """Store the closed served-log files given (each content once); one result per file."""
    now = now or dt.datetime.now(dt.UTC)
    ensure_schema(con)
    results = []
    for path in paths:
        path = Path(path)
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        done = con.execute(
            "SELECT lines_in, loaded, quarantined, items FROM raw.served_files "
            "WHERE content_sha256 = ?",
            [sha],
        ).fetchone()
        if done:
            results.append(ServedFileResult(str(path), sha, *done, "already_read"))
            continue
        rows: list[dict] = []
        bad: list[tuple[int, str, str]] = []
        lines_in = 0
        for number, raw_bytes in enumerate(data.split(b"\n"), start=1):
            if not raw_bytes.strip():
                continue
            lines_in += 1
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError:
                bad.append((number, "malformed", raw_bytes.decode("utf-8", "replace")))
                continue
            parsed, reason = parse_line(raw)
            if reason:
                bad.append((number, reason, raw))
            else:
                rows.extend({**r, "line_number": number} for r in parsed)
        items = pl.DataFrame(rows, schema=ITEM_COLUMNS)
        quarantine = pl.DataFrame(
            bad, schema={"line_number": pl.Int64, "reason": pl.Utf8, "raw_line": pl.Utf8},
            orient="row",
        )  # fmt: skip
        con.register("served_batch", items)
        con.register("served_bad", quarantine)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "INSERT INTO raw.served_items SELECT request_id, served_at::TIMESTAMPTZ, "
                "user_id, endpoint, surface, model_version, variant, experiment, series_id, "
                "position, source, score, ?, line_number FROM served_batch",
                [sha],
            )
            con.execute(
                "INSERT INTO raw.served_quarantine SELECT ?, ?, line_number, reason, raw_line, "
                "? FROM served_bad",
                [str(path), sha, now],
            )
            loaded = len({r["line_number"] for r in rows})
            con.execute(
                "INSERT INTO raw.served_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                [str(path), sha, lines_in, loaded, len(bad), len(rows), now],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("served_batch")
            con.unregister("served_bad")
        results.append(
            ServedFileResult(str(path), sha, lines_in, loaded, len(bad), len(rows), "read")
        )
    return results


def publish_served_tables(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rebuild ``analytics.served_files`` and ``analytics.served_quarantine``; row counts."""
    ensure_schema(con)
    con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    con.execute(
        "CREATE OR REPLACE TABLE analytics.served_files AS SELECT file_path, content_sha256, "
        "lines_in, loaded, quarantined, items, read_at FROM raw.served_files "
        "ORDER BY read_at, file_path"
    )
    con.execute(
        "CREATE OR REPLACE TABLE analytics.served_quarantine AS SELECT file_path, line_number, "
        "reason, raw_line, quarantined_at FROM raw.served_quarantine "
        "ORDER BY quarantined_at, file_path, line_number"
    )
    counts = {}
    for table in ("served_files", "served_quarantine"):
        apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    return counts
