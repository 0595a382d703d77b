"""Hostile inputs found by hand: each one's exact outcome (real files, a real DuckDB, the CLI)."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import Paths
from core.warehouse import working_database
from ingest.events import FileAccounting, event_files, ingest_files
from synthetic import GenerateSpec, generate

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
UTC = dt.UTC
BOM = b"\xef\xbb\xbf"
TS = "2026-09-07T10:00:00Z"


def event(event_id: str, **fields: object) -> dict:
    return {"event_id": event_id, "event_type": "app_open", "ts": TS, "user_id": "u", **fields}


def jsonl(*records: dict, end: str = "\n") -> bytes:
    return "".join(json.dumps(r) + end for r in records).encode()


@pytest.fixture()
def paths(tmp_path: Path) -> Paths:
    return Paths(home=tmp_path, warehouse=tmp_path / "w" / "c.duckdb", landing=tmp_path,
                 dagster_home=tmp_path / "d")  # fmt: skip


def ingest(paths: Paths, files: list[Path]) -> dict[str, FileAccounting]:
    with working_database(paths) as con:
        return {Path(r.file_path).name: r for r in ingest_files(con, files, now=NOW)}


def query(paths: Paths, sql: str) -> list[tuple]:
    with working_database(paths) as con:
        return con.execute(sql).fetchall()


def counts(r: FileAccounting) -> tuple:
    return (r.status, r.records_in, r.loaded, r.quarantined, r.duplicates)


# a. a UTF-8 byte-order mark opening a JSON Lines file is not part of its first record


@pytest.mark.parametrize(
    ("name", "end", "reader"),
    [
        ("lf.jsonl", "\n", "duckdb"),  # DuckDB's line reader
        ("crlf.jsonl", "\r\n", "python"),  # CRLF line ends go through the exact Python reader
        ("lf.jsonl.gz", "\n", "duckdb"),
        ("crlf.jsonl.gz", "\r\n", "python"),
    ],
)
def test_a_bom_at_the_start_of_json_lines_is_not_a_malformed_record(
    paths: Paths, tmp_path: Path, name: str, end: str, reader: str
) -> None:
    data = BOM + jsonl(event("b1"), event("b2"), end=end)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    r = ingest(paths, [path])[name]
    assert counts(r) == ("ingested", 2, 2, 0, 0)
    assert r.reader == reader
    assert query(paths, "SELECT event_id, record_number FROM raw.events ORDER BY 2") == [
        ("b1", 1),
        ("b2", 2),
    ]
    assert query(paths, "SELECT count(*) FROM raw.quarantine") == [(0,)]


def test_a_bom_before_a_csv_header_keeps_the_first_column_name(
    paths: Paths, tmp_path: Path
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(BOM + f"event_id,event_type,ts,user_id\nc1,app_open,{TS},u\n".encode())
    assert counts(ingest(paths, [path])["bom.csv"]) == ("ingested", 1, 1, 0, 0)
    assert query(paths, "SELECT event_id, user_id FROM raw.events") == [("c1", "u")]


# b. typed files in one folder are each read on their own terms


def test_parquet_files_with_clashing_column_types_are_read_one_by_one(
    paths: Paths, tmp_path: Path
) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    base = {"event_type": ["app_open"], "ts": [TS]}
    pq.write_table(pa.table({"event_id": ["p1"], **base, "user_id": ["u1"]}), folder / "a.parquet")
    # user_id as a STRUCT: rows are readable, but the value is no text
    pq.write_table(
        pa.table(
            {
                "event_id": ["p2", "p3"],
                "event_type": ["app_open"] * 2,
                "ts": [TS] * 2,
                "user_id": pa.array([{"x": 1}, None], pa.struct([("x", pa.int64())])),
            }
        ),
        folder / "b.parquet",
    )
    # a naive TIMESTAMP (UTC) beside text timestamps: read as a timestamp, not as text
    naive = pa.array([dt.datetime(2026, 9, 7, 11, 30)], pa.timestamp("us"))
    pq.write_table(
        pa.table({"event_id": ["p4"], "event_type": ["app_open"], "ts": naive, "user_id": ["u4"]}),
        folder / "c.parquet",
    )
    results = ingest(paths, event_files([folder]))
    assert {n: counts(r) for n, r in results.items()} == {
        "a.parquet": ("ingested", 1, 1, 0, 0),
        "b.parquet": ("ingested", 2, 0, 2, 0),
        "c.parquet": ("ingested", 1, 1, 0, 0),
    }
    assert results["b.parquet"].reasons == {"bad_value:user_id": 1, "missing_field:user_id": 1}
    assert query(paths, "SELECT event_id, user_id, ts FROM raw.events ORDER BY 1") == [
        ("p1", "u1", dt.datetime(2026, 9, 7, 10, 0, tzinfo=UTC)),
        ("p4", "u4", dt.datetime(2026, 9, 7, 11, 30, tzinfo=UTC)),
    ]
    quarantine = query(
        paths, "SELECT file_path, record_number, reason, raw_record FROM raw.quarantine ORDER BY 2"
    )
    assert [(Path(f).name, n, reason, json.loads(raw)) for f, n, reason, raw in quarantine] == [
        ("b.parquet", 1, "bad_value:user_id",
         {"event_id": "p2", "event_type": "app_open", "ts": TS, "user_id": {"x": 1}}),
        ("b.parquet", 2, "missing_field:user_id",
         {"event_id": "p3", "event_type": "app_open", "ts": TS, "user_id": None}),
    ]  # fmt: skip


def test_a_parquet_file_damaged_inside_is_refused_and_the_others_load(
    paths: Paths, tmp_path: Path
) -> None:
    """The footer is intact (the schema reads), a data page is not: refused, not a traceback."""
    folder = tmp_path / "events"
    folder.mkdir()
    n = 2000
    pq.write_table(
        pa.table({"event_id": [f"d{i}" for i in range(n)], "event_type": ["app_open"] * n,
                  "ts": [TS] * n, "user_id": [f"u{i}" for i in range(n)]}),
        folder / "a_damaged.parquet", compression="none",
    )  # fmt: skip
    damaged = bytearray((folder / "a_damaged.parquet").read_bytes())
    damaged[200:8000] = b"\xab" * 7800
    (folder / "a_damaged.parquet").write_bytes(bytes(damaged))
    pq.write_table(pa.table({"event_id": ["ok"], "event_type": ["app_open"], "ts": [TS],
                             "user_id": ["u"]}), folder / "b_fine.parquet")  # fmt: skip
    results = ingest(paths, event_files([folder]))
    bad = results["a_damaged.parquet"]
    assert counts(bad) == ("refused", 0, 0, 0, 0)
    assert bad.message.startswith("cannot be read (")
    assert str(folder) not in bad.message  # the file is named beside the message, not in it
    assert counts(results["b_fine.parquet"]) == ("ingested", 1, 1, 0, 0)
    assert query(paths, "SELECT event_id FROM raw.events") == [("ok",)]
    assert query(paths, "SELECT file_path, reason FROM raw.refused_files") == [
        (str(folder / "a_damaged.parquet"), bad.message)
    ]


def test_csv_files_in_one_folder_are_read_by_their_own_headers(
    paths: Paths, tmp_path: Path
) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "a.csv").write_text(f"event_id,event_type,ts,user_id\nc1,app_open,{TS},u1\n")
    # other columns, another order, and an integer where the first file has text
    (folder / "b.csv").write_text(
        f"user_id,ts,event_type,event_id,platform,session_id\n7,{TS},app_open,c2,ios,s9\n"
    )
    results = ingest(paths, event_files([folder]))
    assert {n: counts(r) for n, r in results.items()} == {
        "a.csv": ("ingested", 1, 1, 0, 0),
        "b.csv": ("ingested", 1, 1, 0, 0),
    }
    assert query(
        paths, "SELECT event_id, user_id, platform, session_id FROM raw.events ORDER BY 1"
    ) == [("c1", "u1", None, None), ("c2", "7", "ios", "s9")]


# c. a FIFO, a device, a socket: refused at once, never opened for a blocking read


def _run_guarded(target, fifos: list[Path], seconds: float = 30.0) -> None:  # noqa: ANN001
    """Run ``target`` in a thread; if it blocks (on a FIFO), unblock it and fail."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported in the test's thread
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        for fifo in fifos:  # a writer that opens and closes gives the blocked reader EOF
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail(f"ingestion blocked for {seconds:.0f} s on a FIFO")
    if failure:
        raise failure[0]


@pytest.mark.timeout(90)
def test_a_fifo_or_a_device_is_refused_without_blocking(paths: Paths, tmp_path: Path) -> None:
    direct = tmp_path / "pipe.jsonl"
    os.mkfifo(direct)
    folder = tmp_path / "events"
    folder.mkdir()
    os.mkfifo(folder / "in_folder.jsonl")
    (folder / "ok.jsonl").write_bytes(jsonl(event("f1")))
    results: dict[str, FileAccounting] = {}
    files = [direct, *event_files([folder]), Path("/dev/null")]
    _run_guarded(lambda: results.update(ingest(paths, files)), [direct, folder / "in_folder.jsonl"])
    assert {n: (r.status, r.message) for n, r in results.items()} == {
        "pipe.jsonl": ("refused", "a named pipe (FIFO), not a regular file; not read"),
        "in_folder.jsonl": ("refused", "a named pipe (FIFO), not a regular file; not read"),
        "ok.jsonl": ("ingested", ""),
        "null": ("refused", "a character device, not a regular file; not read"),
    }
    assert query(paths, "SELECT event_id FROM raw.events") == [("f1",)]


# d. files with no record say what they hold instead


def test_files_without_records_say_what_they_hold(paths: Paths, tmp_path: Path) -> None:
    header = "event_id,event_type,ts,user_id"
    files = {
        "header.csv": f"{header}\n".encode(),
        "header_no_newline.csv": header.encode(),
        "header_then_blank.csv": f"{header}\n\n\n".encode(),
        "header.csv.gz": gzip.compress(f"{header}\n".encode()),
        "blank.csv": b"\n \n\n",  # DuckDB alone would make one empty record of it
        "blank.jsonl": b"\n\n  \n",
        "no_rows.parquet": None,
    }
    for name, data in files.items():
        if data is None:
            pq.write_table(pa.table({"event_id": pa.array([], pa.string())}), tmp_path / name)
        else:
            (tmp_path / name).write_bytes(data)
    results = ingest(paths, [tmp_path / name for name in files])
    expected = {
        "header.csv": "no records (only a header line)",
        "header_no_newline.csv": "no records (only a header line)",
        "header_then_blank.csv": "no records (only a header line)",
        "header.csv.gz": "no records (only a header line)",
        "blank.csv": "no records (only blank lines)",
        "blank.jsonl": "no records (only blank lines)",
        "no_rows.parquet": "no records (no rows)",
    }
    assert {n: (r.status, r.message) for n, r in results.items()} == {
        n: ("refused", m) for n, m in expected.items()
    }
    assert dict(query(paths, "SELECT file_path, reason FROM raw.refused_files")) == {
        str(tmp_path / n): m for n, m in expected.items()
    }


# e. (with c and d, through the real CLI) the file's name is said once


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLIFFHANGER_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("CLIFFHANGER_WAREHOUSE", None)
    return subprocess.run(
        [sys.executable, "-m", "cliffhanger.cli", *args],
        capture_output=True, text=True, cwd=home, env=env, timeout=120,
    )  # fmt: skip


@pytest.mark.timeout(180)
def test_the_cli_names_each_refused_file_once_and_stores_bare_reasons(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "series.csv").write_text(
        "series_id,title,genres,language,original_series_id,n_episodes,free_episodes,"
        "release_date,production_type,production_cost_usd\n"
        "S1,Show,romance,en,,2,1,2026-01-01,ai,15000\n"
    )
    (catalog / "episodes.csv").write_text(
        "episode_id,series_id,episode_number,duration_s\nS1-E1,S1,1,90\nS1-E2,S1,2,90\n"
    )
    (tmp_path / "binary.jsonl").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "header.csv").write_text("event_id,event_type,ts,user_id\n")
    (tmp_path / "ok.jsonl").write_bytes(BOM + jsonl(event("k1"), end="\r\n"))
    os.mkfifo(tmp_path / "pipe.jsonl")
    result = _cli(tmp_path, "ingest", "catalog", "binary.jsonl", "header.csv", "ok.jsonl",
                  "pipe.jsonl")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "binary.jsonl: binary data (NUL bytes), not JSON Lines",
        "header.csv: no records (only a header line)",
        "pipe.jsonl: a named pipe (FIFO), not a regular file; not read",
        "cliffhanger: error: 3 file(s) refused: binary.jsonl, header.csv, pipe.jsonl",
    ]
    with duckdb.connect(str(tmp_path / "warehouse" / "cliffhanger.duckdb"), read_only=True) as con:
        refused = con.execute(
            "SELECT file_path, reason FROM analytics.refused_files ORDER BY 1"
        ).fetchall()
        loaded = con.execute("SELECT file_path, loaded FROM analytics.ingestion_files").fetchall()
    # paths as given on the command line; the FIFO has no content to hash, so no row: it is
    # reported, never read
    assert refused == [
        ("binary.jsonl", "binary data (NUL bytes), not JSON Lines"),
        ("header.csv", "no records (only a header line)"),
    ]
    assert loaded == [("ok.jsonl", 1)]


@pytest.mark.timeout(180)
def test_the_cli_refuses_a_fifo_inside_a_folder_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    os.mkfifo(folder / "stuck.jsonl")
    result = _cli(tmp_path, "ingest", "events", "--no-publish")
    assert result.returncode == 1, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "stuck.jsonl: a named pipe (FIFO), not a regular file; not read",
        "cliffhanger: error: 1 file(s) refused: stuck.jsonl",
    ]


# f. generate writes nothing machine-specific


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("fmt", "gzip_json", "dirty"),
    [("jsonl", True, 0.0), ("jsonl", False, 0.03), ("parquet", False, 0.03),
     ("segment", False, 0.03)],
)  # fmt: skip
def test_the_same_data_set_written_to_two_places_is_byte_identical(
    tmp_path: Path, fmt: str, gzip_json: bool, dirty: float
) -> None:
    trees = []
    for where in ("first/place", "elsewhere"):
        out = tmp_path / where / "landing"
        generate(GenerateSpec(users=60, days=3, seed=11, out=out, fmt=fmt, gzip=gzip_json,
                              dirty=dirty))  # fmt: skip
        trees.append(_tree(out))
    first, second = trees
    assert sorted(first) == sorted(second)
    assert ("faults.csv" in first) == (dirty > 0)
    assert "manifest.json" in first
    for name in first:
        assert first[name] == second[name], name
        assert str(tmp_path).encode() not in first[name], name
    assert "out" not in json.loads(first["manifest.json"])["args"]
