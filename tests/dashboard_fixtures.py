"""Fixture warehouses for the dashboard tests, built once per session with the real CLI.

- ``dash_home``: the clean sample data ingested by ``cliffhanger ingest``, then a small
  hand-made file with four bad records and one good one (so the quarantine has known
  reasons) and an empty file (refused), published as a normal snapshot.
- ``dash_home_models``: a copy of it whose published snapshot also holds hand-made
  ``model_evaluation``, ``recommendations`` and ``similar_series`` tables (the recommender's
  tables, built by another part of the project; the dashboards only read them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
CLEAN = REPO / "data_samples" / "clean"

# one line per quarantine reason the page must show, plus one good event of a new user
HAND_MADE_EVENTS = (
    "not json\n"
    '{"event_id":"dash-x1","event_type":"teleport","ts":"2026-09-20T10:00:00Z","user_id":"u0000001"}\n'
    '{"event_id":"dash-x2","event_type":"app_open","ts":"2026-09-20T10:00:00Z"}\n'
    '{"event_id":"dash-x3","event_type":"episode_start","ts":"2026-09-20T10:00:00Z",'
    '"user_id":"u0000001","series_id":"NOPE","episode_number":1}\n'
    '{"event_id":"dash-x4","event_type":"app_open","ts":"2026-09-20T12:00:00Z",'
    '"user_id":"dash-new-user"}\n'
)
EXPECTED_REASONS = {
    "malformed": 1,
    "unknown_event_type": 1,
    "missing_field:user_id": 1,
    "unknown_series": 1,
}

# hand-made model tables (CONTRACT §3): two models and two baselines, two metrics, k = 10
EVALUATION_ROWS = [
    ("v-test-1", model, metric, 10, value, low, high)
    for model, metric, value, low, high in [
        ("als", "ndcg", 0.21, 0.19, 0.23),
        ("item_knn", "ndcg", 0.18, 0.16, 0.20),
        ("popularity", "ndcg", 0.12, 0.10, 0.14),
        ("trending", "ndcg", 0.14, 0.12, 0.16),
        ("als", "recall", 0.31, 0.28, 0.34),
        ("item_knn", "recall", 0.27, 0.25, 0.30),
        ("popularity", "recall", 0.20, 0.18, 0.22),
        ("trending", "recall", 0.22, 0.20, 0.25),
    ]
]
REC_USER = "u0001644"
RECOMMENDATION_ROWS = [
    (REC_USER, 1, "S00003", 0.93, "als", "v-test-1"),
    (REC_USER, 2, "S00007", 0.81, "als", "v-test-1"),
    (REC_USER, 3, "S00001", 0.40, "trending", "v-test-1"),
]
SIMILAR_ROWS = [
    ("S00000", 1, "S00004", 0.77),
    ("S00000", 2, "S00002", 0.65),
    ("S00001", 1, "S00000", 0.50),
]


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLIFFHANGER_HOME": str(home)}
    env.pop("CLIFFHANGER_WAREHOUSE", None)
    return subprocess.run(
        [sys.executable, "-m", "cliffhanger.cli", *args],
        capture_output=True,
        text=True,
        cwd=home,
        env=env,
        timeout=300,
    )


def published(home: Path) -> Path:
    return home / "warehouse" / "cliffhanger.duckdb"


def connect(home: Path) -> duckdb.DuckDBPyConnection:
    """The test's own, independent read-only view of a fixture warehouse."""
    return duckdb.connect(os.path.realpath(published(home)), read_only=True)


def publish_again(home: Path, name: str = "later.jsonl") -> None:
    """Publish a new snapshot with the real CLI (one more good event)."""
    late = home / name
    late.write_text(
        '{"event_id":"dash-' + name + '","event_type":"app_open",'
        '"ts":"2026-09-20T13:00:00Z","user_id":"dash-later-user"}\n'
    )
    result = run_cli(home, "ingest", str(late))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def dash_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("dash") / "home"
    home.mkdir()
    result = run_cli(home, "ingest", str(CLEAN / "catalog"), str(CLEAN / "events"))
    assert result.returncode == 0, result.stderr
    (home / "hand_made.jsonl").write_text(HAND_MADE_EVENTS)
    (home / "empty.jsonl").write_text("")
    result = run_cli(home, "ingest", str(home / "hand_made.jsonl"), str(home / "empty.jsonl"))
    assert result.returncode == 1 and "1 file(s) refused" in result.stderr, result.stderr
    return home


def copy_home(src: Path, dst: Path) -> Path:
    # symlinks=True keeps the public link relative, so the copy points at its own snapshot
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="session")
def dash_home_models(dash_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = copy_home(dash_home, tmp_path_factory.mktemp("dash_models") / "home")
    # a copy of the published snapshot is ours to write: add the recommender's tables
    con = duckdb.connect(os.path.realpath(published(home)))
    try:
        con.execute(
            "CREATE TABLE analytics.model_evaluation (model_version VARCHAR, model VARCHAR, "
            "metric VARCHAR, k INTEGER, value DOUBLE, ci_low DOUBLE, ci_high DOUBLE)"
        )
        con.executemany(
            "INSERT INTO analytics.model_evaluation VALUES (?,?,?,?,?,?,?)", EVALUATION_ROWS
        )
        con.execute(
            "CREATE TABLE analytics.recommendations (user_id VARCHAR, rank INTEGER, "
            "series_id VARCHAR, score DOUBLE, source VARCHAR, model_version VARCHAR)"
        )
        con.executemany(
            "INSERT INTO analytics.recommendations VALUES (?,?,?,?,?,?)", RECOMMENDATION_ROWS
        )
        con.execute(
            "CREATE TABLE analytics.similar_series (series_id VARCHAR, rank INTEGER, "
            "similar_series_id VARCHAR, score DOUBLE)"
        )
        con.executemany("INSERT INTO analytics.similar_series VALUES (?,?,?,?)", SIMILAR_ROWS)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return home
