"""Injected faults equal the manifest, record by record, by an independent contract reading."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from tests.contract_oracle import account, read_records

NOW_MS = int(dt.datetime(2026, 11, 26, tzinfo=dt.UTC).timestamp() * 1000)


def _catalog(out: Path) -> tuple[dict[str, int], set[str]]:
    ext = "parquet" if (out / "catalog" / "series.parquet").exists() else "csv"
    read = pl.read_parquet if ext == "parquet" else pl.read_csv
    series = read(out / "catalog" / f"series.{ext}")
    episodes = read(out / "catalog" / f"episodes.{ext}")
    return dict(zip(series["series_id"], series["n_episodes"], strict=True)), set(
        episodes["episode_id"]
    )


@pytest.mark.parametrize(
    "fixture",
    [
        "dirty_jsonl",
        "dirty_segment",
        "dirty_parquet",
        # generated in chunks of 37 users: fault locations run on across chunks
        "dirty_jsonl_chunked",
        "dirty_segment_chunked",
        "dirty_parquet_chunked",
    ],
)
def test_fault_manifest_matches_an_independent_classification(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    out: Path = request.getfixturevalue(fixture)
    manifest = json.loads((out / "manifest.json").read_text())
    series, episodes = _catalog(out)
    files = sorted((out / "events").iterdir())
    oracle = account(files, series, episodes, NOW_MS)

    assert manifest["counts"]["faults"] > 100  # 5 % of tens of thousands of records
    faults = pl.read_csv(out / "faults.csv")
    assert faults.height == manifest["counts"]["faults"]
    for entry in manifest["files"]:
        got = oracle[Path(entry["file"]).name]
        assert got["records"] == entry["records"], entry["file"]
        assert got["loaded"] == entry["expected_loaded"], entry["file"]
        assert got["duplicates"] == entry["expected_duplicates"], entry["file"]
        assert got["reasons"] == entry["quarantine_reasons"], entry["file"]
    # record by record: every non-loaded record is listed with the same outcome and reason
    listed = {
        (Path(r["file"]).name, r["record_number"]): (r["expected"], r["reason"])
        for r in faults.filter(pl.col("expected") != "loaded").iter_rows(named=True)
    }
    found = {
        (name, number): outcome
        for name, stats in oracle.items()
        for number, outcome in stats["outcomes"].items()
    }
    assert found == listed


def test_every_fault_kind_is_injected(dirty_jsonl: Path, dirty_segment: Path) -> None:
    kinds = set(json.loads((dirty_jsonl / "manifest.json").read_text())["faults_by_kind"])
    assert kinds == {
        "duplicate", "late", "malformed", "unknown_series", "missing_field", "bad_value",
        "ts_out_of_range", "unknown_event_type",
    }  # fmt: skip
    reasons = pl.read_csv(dirty_segment / "faults.csv")["reason"].drop_nulls().unique()
    # Segment records name their episode by asset id, so a ghost series is an unknown episode
    assert "unknown_episode" in reasons.to_list()


def test_parquet_has_no_malformed_rows(dirty_parquet: Path) -> None:
    kinds = json.loads((dirty_parquet / "manifest.json").read_text())["faults_by_kind"]
    assert "malformed" not in kinds


def test_late_events_sit_in_a_later_days_file(dirty_jsonl: Path) -> None:
    faults = pl.read_csv(dirty_jsonl / "faults.csv").filter(pl.col("kind") == "late")
    assert faults.height > 0
    for row in faults.iter_rows(named=True):
        path = dirty_jsonl / row["file"]
        with gzip.open(path, "rt") as fh:
            line = fh.readlines()[row["record_number"] - 1]
        record = json.loads(line)
        assert record["event_id"] == row["event_id"]
        ts = record["ts"]
        ts_ms = (
            ts
            if isinstance(ts, int)
            else int(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
        )
        event_day = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).date().isoformat()
        assert event_day < path.name.removeprefix("events_")[:10]


def test_duplicates_repeat_an_earlier_record_exactly(dirty_jsonl: Path) -> None:
    faults = pl.read_csv(dirty_jsonl / "faults.csv").filter(pl.col("kind") == "duplicate")
    first_seen: dict[str, tuple[str, int]] = {}
    for path in sorted((dirty_jsonl / "events").iterdir()):
        for number, record in enumerate(read_records(path), start=1):
            if isinstance(record, dict) and record.get("event_id") not in first_seen:
                first_seen[record.get("event_id")] = (path.name, number)
    for row in faults.iter_rows(named=True):
        original = first_seen[row["event_id"]]
        assert original < (Path(row["file"]).name, row["record_number"])
