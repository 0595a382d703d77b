"""Every input record ends in exactly one place, exactly as the generator's manifest says."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from core.config import Paths
from core.warehouse import working_database
from ingest.catalog import load_catalog
from ingest.events import event_files, ingest_file, replay_quarantine
from synthetic import GenerateSpec, generate

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
EVENT_COLUMNS = (
    "event_id, event_type, ts, user_id, session_id, series_id, episode_number, position_s, "
    "unlock_method, amount_usd, platform, app_version, country, language"
)


def home_paths(home: Path) -> Paths:
    return Paths(home=home, warehouse=home / "warehouse" / "cliffhanger.duckdb",
                 landing=home / "landing", dagster_home=home / "dagster")  # fmt: skip


def ingest_dataset(home: Path, data: Path, catalog: Path | None = None) -> list:
    with working_database(home_paths(home)) as con:
        load_catalog(con, catalog or data / "catalog")
        return [ingest_file(con, f, now=NOW) for f in event_files([data / "events"])]


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    with working_database(home_paths(home)) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("fixture", ["dirty_jsonl", "dirty_segment", "dirty_parquet"])
def test_accounting_equals_the_manifest_record_by_record(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data: Path = request.getfixturevalue(fixture)
    manifest = json.loads((data / "manifest.json").read_text())
    results = ingest_dataset(tmp_path, data)
    by_name = {Path(r.file_path).name: r for r in results}
    assert all(r.status == "ingested" for r in results)
    for entry in manifest["files"]:
        got = by_name[Path(entry["file"]).name]
        assert got.records_in == entry["records"]
        assert got.loaded == entry["expected_loaded"]
        assert got.quarantined == entry["expected_quarantined"]
        assert got.duplicates == entry["expected_duplicates"]
        assert got.reasons == entry["quarantine_reasons"]
        assert got.records_in == got.loaded + got.quarantined + got.duplicates
    faults = pl.read_csv(data / "faults.csv").filter(pl.col("expected") == "quarantined")
    expected = {
        (Path(r["file"]).name, r["record_number"], r["reason"])
        for r in faults.iter_rows(named=True)
    }
    stored = {
        (Path(f).name, n, reason)
        for f, n, reason in query(
            tmp_path, "SELECT file_path, record_number, reason FROM raw.quarantine"
        )
    }
    assert stored == expected
    # the files' records table agrees with the per-file summary
    totals = query(
        tmp_path,
        "SELECT sum(records_in), sum(loaded), sum(quarantined), sum(duplicates) FROM raw.ingestion_files",
    )[0]
    assert totals == (
        sum(e["records"] for e in manifest["files"]),
        sum(e["expected_loaded"] for e in manifest["files"]),
        sum(e["expected_quarantined"] for e in manifest["files"]),
        sum(e["expected_duplicates"] for e in manifest["files"]),
    )
    assert query(tmp_path, "SELECT count(*) FROM raw.events")[0][0] == totals[1]


def test_dirty_data_loads_exactly_the_clean_events_that_were_not_spoiled(
    dirty_jsonl: Path, tmp_path: Path
) -> None:
    """Ingest the clean twin (same seed, no faults) and the dirty set: the stored events are
    the clean ones, minus the records a fault spoiled, with identical values."""
    args = json.loads((dirty_jsonl / "manifest.json").read_text())["args"]
    clean = tmp_path / "clean"
    generate(GenerateSpec(users=args["users"], days=args["days"], seed=args["seed"], out=clean,
                          gzip=True))  # fmt: skip
    ingest_dataset(tmp_path / "a", clean)
    ingest_dataset(tmp_path / "b", dirty_jsonl)
    spoiled = set(
        pl.read_csv(dirty_jsonl / "faults.csv")
        .filter(pl.col("expected") == "quarantined")["event_id"]
        .to_list()
    )
    with working_database(home_paths(tmp_path / "a")) as con:
        clean_rows = con.execute(
            f"SELECT {EVENT_COLUMNS} FROM raw.events ORDER BY event_id"
        ).fetchall()  # noqa: S608
    with working_database(home_paths(tmp_path / "b")) as con:
        dirty_rows = con.execute(
            f"SELECT {EVENT_COLUMNS} FROM raw.events ORDER BY event_id"
        ).fetchall()  # noqa: S608
    assert len(spoiled) > 50
    assert dirty_rows == [r for r in clean_rows if r[0] not in spoiled]


def test_reingesting_the_same_content_changes_nothing(dirty_jsonl: Path, tmp_path: Path) -> None:
    ingest_dataset(tmp_path, dirty_jsonl)
    snapshot = {
        t: query(tmp_path, f"SELECT * EXCLUDE (ingested_at) FROM raw.{t} ORDER BY ALL")  # noqa: S608
        for t in ("events", "ingestion_files")
    }
    quarantine = query(tmp_path, "SELECT * FROM raw.quarantine ORDER BY ALL")
    # the same bytes under another name are recognised too
    copy = tmp_path / "copy"
    shutil.copytree(dirty_jsonl / "events", copy)
    (copy / "events_2026-09-07.jsonl.gz").rename(copy / "renamed.jsonl.gz")
    again = ingest_dataset(tmp_path, dirty_jsonl)
    with working_database(home_paths(tmp_path)) as con:
        again.append(ingest_file(con, copy / "renamed.jsonl.gz", now=NOW))
    assert {r.status for r in again} == {"already_ingested"}
    assert all(r.records_in == r.loaded + r.quarantined + r.duplicates for r in again)
    for t, rows in snapshot.items():
        assert query(tmp_path, f"SELECT * EXCLUDE (ingested_at) FROM raw.{t} ORDER BY ALL") == rows  # noqa: S608
    assert query(tmp_path, "SELECT * FROM raw.quarantine ORDER BY ALL") == quarantine


def test_replay_after_the_catalog_gains_the_missing_series(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(GenerateSpec(users=200, days=4, seed=31, out=data))
    series = pl.read_csv(data / "catalog" / "series.csv")
    episodes = pl.read_csv(data / "catalog" / "episodes.csv")
    # the most watched original is missing from the first catalog (and so are its dubs)
    counts: dict[str, int] = {}
    for f in event_files([data / "events"]):
        for line in f.read_text().splitlines():
            sid = json.loads(line).get("series_id")
            counts[sid] = counts.get(sid, 0) + 1
    originals = set(series.filter(pl.col("original_series_id").is_null())["series_id"])
    missing = max(originals, key=lambda sid: counts.get(sid, 0))
    partial = tmp_path / "partial"
    partial.mkdir()
    keep = (pl.col("series_id") != missing) & (
        pl.col("original_series_id").fill_null("") != missing
    )
    series.filter(keep).write_csv(partial / "series.csv")
    kept = series.filter(keep)["series_id"]
    episodes.filter(pl.col("series_id").is_in(kept.implode())).write_csv(partial / "episodes.csv")

    first = ingest_dataset(tmp_path / "h", data, catalog=partial)
    unknown = sum((r.reasons or {}).get("unknown_series", 0) + (r.reasons or {}).get(
        "unknown_episode", 0) for r in first)  # fmt: skip
    assert unknown > 100
    with working_database(home_paths(tmp_path / "h")) as con:
        load_catalog(con, data / "catalog")
        result = replay_quarantine(con, now=NOW)
    assert result.examined == unknown
    assert result.loaded == unknown and result.still_quarantined == 0
    # the accounting still balances per file, and matches a straight ingest of everything
    assert query(
        tmp_path / "h",
        "SELECT count(*) FROM raw.ingestion_files WHERE records_in <> loaded + quarantined + duplicates "
        "OR quarantined <> 0",
    ) == [(0,)]
    ingest_dataset(tmp_path / "straight", data)
    with working_database(home_paths(tmp_path / "h")) as con:
        replayed = con.execute(
            f"SELECT {EVENT_COLUMNS} FROM raw.events ORDER BY event_id"
        ).fetchall()  # noqa: S608
        statuses = con.execute("SELECT DISTINCT status FROM raw.quarantine").fetchall()
    with working_database(home_paths(tmp_path / "straight")) as con:
        straight = con.execute(
            f"SELECT {EVENT_COLUMNS} FROM raw.events ORDER BY event_id"
        ).fetchall()  # noqa: S608
        straight_files = con.execute(
            "SELECT content_sha256, records_in, loaded, quarantined, duplicates FROM raw.ingestion_files ORDER BY 1"
        ).fetchall()
    assert replayed == straight
    assert statuses == [("replayed_loaded",)]
    assert (
        query(
            tmp_path / "h",
            "SELECT content_sha256, records_in, loaded, quarantined, duplicates FROM raw.ingestion_files ORDER BY 1",
        )
        == straight_files
    )
    # a second replay finds nothing left to do
    with working_database(home_paths(tmp_path / "h")) as con:
        assert replay_quarantine(con, now=NOW).examined == 0
