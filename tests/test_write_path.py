"""One write path: every CLI write is a Dagster run of pipelines/definitions.py, under its checks."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from core.config import MetricParams, Paths
from core.warehouse import published_version, working_database
from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, defs, resources
from pipelines.resources import CliffhangerStore, MetricSettings
from synthetic import GenerateSpec, generate

ROOT = Path(__file__).resolve().parents[1]


def run_cli(home: Path, *args: str, extra_env: dict | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIFFHANGER_", "DAGSTER_"))}
    env |= {"CLIFFHANGER_HOME": str(home), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "cliffhanger.cli", *args], capture_output=True,
                          text=True, cwd=home, env=env, timeout=300)  # fmt: skip


@pytest.fixture()
def outside(tmp_path: Path) -> tuple[Path, Path]:
    """A home with no landing folder, and a data set somewhere else."""
    data = tmp_path / "elsewhere"
    generate(GenerateSpec(users=80, days=3, seed=11, out=data))
    home = tmp_path / "home"
    home.mkdir()
    return home, data


def runs(home: Path) -> list[tuple[str, str]]:
    """(job name, status) of every run recorded in the home's DAGSTER_HOME, oldest first."""
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    try:
        with dg.DagsterInstance.get() as instance:
            records = instance.get_runs()
            return [(r.job_name, r.status.value) for r in reversed(records)]
    finally:
        del os.environ["DAGSTER_HOME"]


def test_ingest_then_run_on_files_outside_the_landing_folder(outside) -> None:
    home, data = outside
    first = run_cli(home, "ingest", str(data / "catalog"), str(data / "events"))
    assert first.returncode == 0, first.stderr
    paths = Paths(home, home / "warehouse" / "cliffhanger.duckdb", home / "landing", home)
    con = duckdb.connect(os.path.realpath(paths.warehouse), read_only=True)
    stored = con.execute("SELECT count(*) FROM analytics.events").fetchone()[0]
    in_sessions = con.execute("SELECT sum(n_events) FROM analytics.sessions").fetchone()[0]
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    # the derived tables reflect every stored event; the model is left to `run`
    assert stored == in_sessions > 0
    assert "model_evaluation" not in tables and "series_episode_funnel" in tables
    # run finds the catalog in the warehouse although the landing folder has none
    second = run_cli(home, "run")
    assert second.returncode == 0, second.stderr
    con = duckdb.connect(os.path.realpath(paths.warehouse), read_only=True)
    # 3 days are too little to evaluate: trending is served, with its bundle and lists
    served = con.execute("SELECT DISTINCT source FROM analytics.recommendations").fetchall()
    assert served == [("trending",)]
    assert (home / "models_published" / "current" / "manifest.json").is_file()
    assert con.execute("SELECT count(*) FROM analytics.events").fetchone()[0] == stored
    con.close()
    # both writes are Dagster runs in the project's DAGSTER_HOME
    assert runs(home) == [("ingest_and_publish", "SUCCESS"), ("everything", "SUCCESS")]


def test_ingest_no_publish_builds_metrics_but_keeps_the_snapshot(outside) -> None:
    home, data = outside
    assert run_cli(home, "ingest", str(data / "catalog"), str(data / "events")).returncode == 0
    paths = Paths(home, home / "warehouse" / "cliffhanger.duckdb", home / "landing", home)
    before = published_version(paths)
    late = home / "late.jsonl"
    late.write_text('{"event_id":"late-1","event_type":"app_open",'
                    '"ts":"2026-09-08T10:00:00Z","user_id":"late-user"}\n')  # fmt: skip
    result = run_cli(home, "ingest", "--no-publish", str(late))
    assert result.returncode == 0, result.stderr
    assert published_version(paths) == before
    assert "published warehouse snapshot" not in result.stdout
    with working_database(paths) as con:
        users = con.execute(
            "SELECT count(*) FROM analytics.sessions WHERE user_id = 'late-user'"
        ).fetchone()[0]
    assert users == 1  # the derived tables took the new event
    assert [job for job, _ in runs(home)] == ["ingest_and_publish", "ingest_only"]


def test_a_failing_blocking_check_in_ingest_keeps_the_published_snapshot(outside) -> None:
    home, data = outside
    assert run_cli(home, "ingest", str(data / "catalog"), str(data / "events")).returncode == 0
    paths = Paths(home, home / "warehouse" / "cliffhanger.duckdb", home / "landing", home)
    before = published_version(paths)
    with working_database(paths) as con:  # damage the events of record: a duplicate id
        con.execute("INSERT INTO raw.event_rows SELECT * FROM raw.events LIMIT 1")
    late = home / "late.jsonl"
    late.write_text('{"event_id":"late-2","event_type":"app_open",'
                    '"ts":"2026-09-08T10:00:00Z","user_id":"late-user"}\n')  # fmt: skip
    result = run_cli(home, "ingest", str(late))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "event_ids_unique" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert published_version(paths) == before
    assert runs(home)[-1] == ("ingest_and_publish", "FAILURE")


def test_run_with_no_catalog_anywhere_is_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no catalog in the landing folder" in result.stderr
    assert "none ingested" in result.stderr


def test_parameters_are_resources_read_at_the_process_edge(tmp_path: Path) -> None:
    # the definitions take the environment's values as their resources' defaults ...
    env = {"CLIFFHANGER_SESSION_GAP_MINUTES": "45", "CLIFFHANGER_HOME": str(tmp_path)}
    code = ("import json; from pipelines.definitions import defs; "
            "r = defs.resources; print(json.dumps([r['settings'].session_gap_minutes, "
            "r['store'].home]))")  # fmt: skip
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=120, check=True)  # fmt: skip
    assert json.loads(shown.stdout) == [45, str(tmp_path)]
    # ... and a run uses the resource it is given, whatever the environment says
    generate(GenerateSpec(users=40, days=2, seed=4, out=tmp_path / "landing"))
    store = CliffhangerStore(home=str(tmp_path))
    bound = resources(store) | {"settings": MetricSettings(session_gap_minutes=5)}
    os.environ["CLIFFHANGER_SESSION_GAP_MINUTES"] = "90"
    try:
        result = dg.materialize(
            [*ALL_ASSETS, *ALL_CHECKS],
            selection=dg.AssetSelection.groups("ingest", "core", "metrics", "publish"),
            resources=bound,
            instance=dg.DagsterInstance.ephemeral(),
        )
    finally:
        del os.environ["CLIFFHANGER_SESSION_GAP_MINUTES"]
    assert result.success
    con = duckdb.connect(os.path.realpath(store.paths().warehouse), read_only=True)
    info = json.loads(con.execute("SELECT info FROM analytics.snapshot_info").fetchone()[0])
    assert info["metric_params"]["session_gap_minutes"] == 5
    assert MetricSettings.from_params(MetricParams()).params() == MetricParams()


def test_asset_bodies_never_read_the_environment() -> None:
    """Only definitions.py (the process edge) resolves configuration from the environment."""
    offenders = []
    for path in sorted((ROOT / "pipelines").glob("*.py")):
        if path.name == "definitions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                name = node.func.id
            elif isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                name = node.attr
            if name in ("metric_params", "paths", "environ", "getenv"):
                offenders.append(f"{path.name}:{node.lineno} {name}")
    assert offenders == []


def test_the_launchpad_shows_every_parameter() -> None:
    fields = MetricSettings.to_config_schema().as_field().config_type.fields
    assert set(fields) == set(MetricParams.__dataclass_fields__)
    assert set(defs.resources) >= {"store", "settings", "progress"}


def test_events_before_any_catalog_are_ingested_and_published(tmp_path: Path) -> None:
    """No catalog yet: the events load (an app_open names no series) and a snapshot is out."""
    events = tmp_path / "e.jsonl"
    events.write_text('{"event_id":"e1","event_type":"app_open","ts":"2026-09-08T10:00:00Z",'
                      '"user_id":"u1"}\n')  # fmt: skip
    result = run_cli(tmp_path, "ingest", str(events))
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(os.path.realpath(tmp_path / "warehouse" / "cliffhanger.duckdb"),
                         read_only=True)  # fmt: skip
    assert con.execute("SELECT count(*), count(session_key) FROM analytics.events").fetchone() == (
        1, 1)  # fmt: skip
    assert con.execute("SELECT count(*) FROM analytics.series").fetchone() == (0,)
