"""The generator streams: users in chunks, daily files written incrementally (docs/generator.md,
"Streaming"). Bounded memory is checked on what the generator holds (records per chunk, row
groups), never on timings; statistics of chunked data sets are checked by the behaviour, fault
and launch tests, which run on both a whole and a chunked data set.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from synthetic import CHUNK_USER_DAYS, GenerateSpec, chunk_bounds, generate


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_chunks_cover_every_user_once() -> None:
    assert chunk_bounds(10, 14, chunk_users=4) == [(0, 4), (4, 8), (8, 10)]
    bounds = chunk_bounds(1_000_000, 90)
    assert bounds[0] == (0, CHUNK_USER_DAYS // 90) and bounds[-1][1] == 1_000_000
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    # small runs (every committed sample) are one chunk: the bytes they always had
    assert len(chunk_bounds(2000, 14)) == 1 and len(chunk_bounds(700, 60)) == 1
    assert len(chunk_bounds(1, 3660)) == 1


@pytest.mark.parametrize(
    "spec",
    [
        dict(users=120, days=5, seed=4, gzip=True, dirty=0.05),
        dict(users=90, days=30, seed=3, fmt="parquet", launches=True, dirty=0.02),
        dict(users=100, days=4, seed=8, fmt="segment"),
    ],
    ids=["jsonl-gz-dirty", "parquet-launches", "segment"],
)
def test_a_chunked_run_gives_the_same_bytes_twice(tmp_path: Path, spec: dict) -> None:
    a = generate(GenerateSpec(**spec, out=tmp_path / "a"), chunk_users=23)
    generate(GenerateSpec(**spec, out=tmp_path / "b"), chunk_users=23)
    assert a.n_chunks > 1
    assert digest(tmp_path / "a") == digest(tmp_path / "b")  # manifest included: no paths
    generate(GenerateSpec(**{**spec, "seed": spec["seed"] + 1}, out=tmp_path / "c"))
    assert digest(tmp_path / "c") != digest(tmp_path / "a")


def test_memory_is_bounded_by_the_chunk(tmp_path: Path) -> None:
    """With 40-user chunks the generator never holds more than one chunk's records, and each
    day file is built from row groups of at most that size."""
    out = tmp_path / "small-chunks"
    messages: list[str] = []
    result = generate(
        GenerateSpec(users=400, days=7, seed=6, out=out, fmt="parquet"),
        progress=messages.append,
        chunk_users=40,
    )
    assert result.n_chunks == 10
    assert 0 < result.max_chunk_records < result.n_records / 5
    rows = 0
    for path in result.event_files:
        meta = pq.ParquetFile(path).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert max(sizes) <= result.max_chunk_records
        assert meta.num_row_groups > 1  # one (or more) per chunk that had records that day
        rows += meta.num_rows
    assert rows == result.n_records
    # progress says which chunk, how many events so far and at what rate
    written = [m for m in messages if m.startswith("chunk 10/10 written")]
    assert written and f"{result.n_events:,} events so far" in written[0]
    assert "events/s" in written[0]


def test_a_chunked_data_set_keeps_every_users_events_in_order(tmp_path: Path) -> None:
    out = tmp_path / "ordered"
    generate(GenerateSpec(users=300, days=6, seed=9, out=out, fmt="parquet"), chunk_users=31)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE ev AS SELECT *, row_number() OVER () AS rn "
        "FROM read_parquet(?, filename = true)",
        [str(out / "events" / "*.parquet")],
    )
    # within each file, every user's records come in time order; ids are unique
    out_of_order = con.execute(
        """
        SELECT count(*) FROM (
            SELECT ts < lag(ts) OVER (PARTITION BY filename, user_id ORDER BY rn) AS back
            FROM ev) WHERE back
        """
    ).fetchone()[0]
    assert out_of_order == 0
    assert con.execute("SELECT count(*) = count(DISTINCT event_id) FROM ev").fetchone()[0]
    # every event of a day file happened on that day, and all users are there
    wrong_day = con.execute(
        "SELECT count(*) FROM ev WHERE strftime(ts, '%Y-%m-%d') <> "
        "regexp_extract(filename, 'events_(.*)\\.parquet', 1)"
    ).fetchone()[0]
    assert wrong_day == 0
    assert con.execute("SELECT count(DISTINCT user_id) FROM ev").fetchone()[0] > 250


def test_the_fault_total_is_exact_over_chunks(dirty_jsonl_chunked: Path) -> None:
    """Each chunk takes its share so that the run's total is round(rate × clean records), as
    in one piece; fault ids (ghost series names) stay unique across chunks."""
    manifest = json.loads((dirty_jsonl_chunked / "manifest.json").read_text())
    faults = pl.read_csv(dirty_jsonl_chunked / "faults.csv")
    duplicates = faults.filter(pl.col("kind") == "duplicate").height
    clean_records = manifest["counts"]["records"] - duplicates
    assert manifest["counts"]["faults"] == round(0.05 * clean_records) == faults.height
    assert faults.select("file", "record_number").is_unique().all()
