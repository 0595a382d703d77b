"""Real Dagster materializations against a temporary warehouse; snapshots readers can trust."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from core.config import Paths
from core.warehouse import connect_published, published_version, working_database
from ingest.catalog import CatalogError, load_catalog
from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, defs, resources
from pipelines.resources import CliffhangerStore
from synthetic import GenerateSpec, generate


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    generate(GenerateSpec(users=60, days=2, seed=4, out=tmp_path / "landing"))
    return tmp_path


def store_for(home: Path) -> CliffhangerStore:
    return CliffhangerStore(home=str(home))


def materialize_all(home: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS],
        resources=resources(store_for(home)),
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_catalog_is_published_read_only_with_docs(home: Path) -> None:
    result = materialize_all(home)
    assert result.success
    with open(home / "landing" / "catalog" / "series.csv") as fh:
        rows = list(csv.DictReader(fh))
    paths = store_for(home).paths()
    con = connect_published(paths)
    got = dict(con.execute("SELECT series_id, paywall_episode FROM analytics.series").fetchall())
    assert got == {
        r["series_id"]: (int(r["free_episodes"]) + 1
                         if int(r["free_episodes"]) < int(r["n_episodes"]) else None)
        for r in rows
    }  # fmt: skip
    dubs = {r["series_id"]: r["original_series_id"] for r in rows if r["original_series_id"]}
    assert (
        dict(
            con.execute(
                "SELECT series_id, story_id FROM analytics.series WHERE is_dubbed"
            ).fetchall()
        )
        == dubs
    )
    with pytest.raises(duckdb.Error):
        con.execute("CREATE TABLE analytics.x AS SELECT 1")  # read-only
    # analytics.events is a view over the events' shared Parquet files (core/event_store.py),
    # sessions and episode views views over their shared date parts (core/shared_tables.py)
    comments = dict(
        con.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'analytics' "
            "UNION ALL SELECT view_name, comment FROM duckdb_views() "
            "WHERE schema_name = 'analytics' AND NOT internal"
        ).fetchall()
    )
    assert con.execute(
        "SELECT view_name FROM duckdb_views() WHERE schema_name = 'analytics' AND NOT internal "
        "ORDER BY 1"
    ).fetchall() == [("episode_views",), ("events",), ("sessions",)]
    assert comments["events"]
    assert set(comments) == {
        "series", "episodes", "events", "episode_views", "sessions", "daily_engagement",
        "series_episode_funnel", "episode_retention_curve", "retention_cohorts",
        "series_scorecard", "episode_exit_moments", "series_revenue_daily", "ingestion_files", "quarantine", "refused_files", "snapshot_info",
        "model_evaluation", "recommendations", "similar_series", "series_launch_daily",
        "launch_benchmark", "launch_forecast", "launch_forecast_backtest",
        "launch_forecast_backtest_rows",
        # the feedback loop
        "recommendation_impressions", "recommendation_performance", "recommendation_experiment",
        "served_files", "served_quarantine",
    }  # fmt: skip
    assert all(comments.values())
    col_comment = con.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'series' "
        "AND column_name = 'paywall_episode'"
    ).fetchone()[0]
    assert "free_episodes + 1" in col_comment
    undocumented = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'analytics' "
        "AND table_name <> 'snapshot_info' AND comment IS NULL"
    ).fetchall()
    assert undocumented == []
    mats = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert mats["catalog"]["series"].value == len(rows)
    assert mats["warehouse_snapshot"]["snapshot_version"].value == published_version(paths)


def test_open_readers_keep_their_snapshot_and_old_ones_are_pruned(home: Path) -> None:
    assert materialize_all(home).success
    paths = store_for(home).paths()
    first = connect_published(paths)
    first_version = first.execute("SELECT snapshot_version FROM analytics.snapshot_info").fetchone()
    for _ in range(4):
        assert materialize_all(home).success
    # the reader that opened the first snapshot still reads it, though it was pruned
    assert first.execute("SELECT snapshot_version FROM analytics.snapshot_info").fetchone() == (
        first_version
    )
    assert first.execute("SELECT count(*) FROM analytics.series").fetchone()[0] > 0
    assert len(list(paths.snapshots_dir.glob("*.duckdb"))) == 3
    latest = connect_published(paths)
    assert latest.execute("SELECT snapshot_version FROM analytics.snapshot_info").fetchone()[
        0
    ] == published_version(paths)
    assert published_version(paths) != first_version[0]


def test_a_bad_catalog_is_refused_and_changes_nothing(home: Path, tmp_path: Path) -> None:
    paths = Paths(home=home, warehouse=home / "warehouse" / "cliffhanger.duckdb",
                  landing=home / "landing", dagster_home=home / "dagster")  # fmt: skip
    with working_database(paths) as con:
        load_catalog(con, home / "landing" / "catalog")
        before = con.execute("SELECT * FROM raw.series ORDER BY series_id").fetchall()
    bad = tmp_path / "bad_catalog"
    bad.mkdir()
    series = (home / "landing" / "catalog" / "series.csv").read_text().splitlines()
    header = series[0].split(",")
    broken = series[1].split(",")
    broken[header.index("production_type")] = "puppetry"
    broken[header.index("n_episodes")] = "-3"
    (bad / "series.csv").write_text("\n".join([series[0], ",".join(broken)]) + "\n")
    (bad / "episodes.csv").write_text("episode_id,series_id,episode_number,duration_s\n")
    with working_database(paths) as con, pytest.raises(CatalogError) as info:
        load_catalog(con, bad)
    message = str(info.value)
    assert "production_type not one of ai, live_action, hybrid" in message
    assert "n_episodes not an integer >= 1" in message
    with working_database(paths) as con:
        assert con.execute("SELECT * FROM raw.series ORDER BY series_id").fetchall() == before


def test_missing_catalog_files_are_named(tmp_path: Path) -> None:
    paths = Paths(home=tmp_path, warehouse=tmp_path / "w" / "c.duckdb", landing=tmp_path,
                  dagster_home=tmp_path / "d")  # fmt: skip
    (tmp_path / "cat").mkdir()
    with working_database(paths) as con, pytest.raises(CatalogError, match="no series.csv"):
        load_catalog(con, tmp_path / "cat")


def test_definitions_validate_and_list_the_assets() -> None:
    env = {**os.environ, "DAGSTER_HOME": ""}
    env.pop("DAGSTER_HOME")
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipelines.definitions"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "catalog", "ingested_events", "events", "episode_views", "sessions", "daily_engagement",
        "series_episode_funnel", "episode_retention_curve", "retention_cohorts",
        "series_scorecard", "model_evaluation", "model_bundle", "recommendations",
        "similar_series", "warehouse_snapshot", "series_launch_daily", "launch_benchmark",
        "launch_forecast", "launch_forecast_backtest", "launch_forecast_backtest_rows",
        "episode_exit_moments", "series_revenue_daily", "viewer_activity",
        "served_log", "recommendation_impressions", "recommendation_performance",
        "recommendation_experiment", "warehouse_maintenance", "engagement_day",
    }  # fmt: skip
    # maintenance runs on its own schedule and the daily partitions in their own job, never
    # inside `everything`
    everything = defs.resolve_job_def("everything").asset_layer.executable_asset_keys
    assert {k.to_user_string() for k in everything} == keys - {
        "warehouse_maintenance",
        "engagement_day",
    }
    days = defs.resolve_job_def("days").asset_layer.executable_asset_keys
    assert {k.to_user_string() for k in days} == {"engagement_day"}
    assert defs.resolve_schedule_def("maintenance_nightly").cron_schedule == "30 3 * * *"


def test_cli_run_publishes(home: Path) -> None:
    env = {**os.environ, "CLIFFHANGER_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "cliffhanger.cli", "run"], capture_output=True, text=True,
        cwd=home, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "materialized catalog" in result.stdout
    assert (home / "dagster_home" / "dagster.yaml").read_text().count("enabled: false") == 1
    con = duckdb.connect(str(home / "warehouse" / "cliffhanger.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM analytics.episodes").fetchone()[0] > 0


def test_the_duckdb_shell_opens_the_published_warehouse(home: Path) -> None:
    """Analysts' `duckdb -readonly warehouse/cliffhanger.duckdb` works and shows the docs."""
    assert materialize_all(home).success
    shell = Path(sys.executable).parent / "duckdb"
    assert shell.exists(), "duckdb-cli is a dependency: the shell must be installed"
    result = subprocess.run(
        [str(shell), "-readonly", "-csv", str(home / "warehouse" / "cliffhanger.duckdb"), "-c",
         "SELECT table_name, comment FROM duckdb_tables() ORDER BY 1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 'episodes,"One row per episode, from the catalog."' in result.stdout


def test_a_run_ingests_the_landing_folder_and_its_checks_pass(home: Path) -> None:
    generate(GenerateSpec(users=60, days=2, seed=4, out=home / "landing", dirty=0.05))
    result = materialize_all(home)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "event_ids_unique": True, "accounting_balances": True, "timestamps_in_range": True,
        "sessions_cover_every_event": True, "engagement_rates_in_unit_interval": True,
        "funnel_is_consistent": True, "scorecard_and_cohort_rates_in_unit_interval": True,
        "exit_moments_are_consistent": True, "revenue_allocation_balances": True,
        "launch_curves_are_consistent": True, "launch_forecasts_are_well_formed": True,
        "served_model_beats_baselines": True,
        "attribution_is_consistent": True,
    }  # fmt: skip
    manifest = json.loads((home / "landing" / "manifest.json").read_text())
    loaded = sum(f["expected_loaded"] for f in manifest["files"])
    meta = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert meta["ingested_events"]["loaded"].value == loaded
    assert meta["ingested_events"]["files_ingested"].value == 2
    con = connect_published(store_for(home).paths())
    assert con.execute("SELECT count(*) FROM analytics.events").fetchone()[0] == loaded
    assert con.execute("SELECT sum(quarantined) FROM analytics.ingestion_files").fetchone()[
        0
    ] == sum(f["expected_quarantined"] for f in manifest["files"])
    # the API's viewer activity, published beside the bundles: one row per user x series
    # watched in the last 30 days (all of this 2-day history)
    from models.activity import read_activity

    activity, _ = read_activity(home / "models_published" / "activity.parquet")
    pairs = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT user_id, series_id FROM analytics.episode_views)"
    ).fetchone()[0]
    assert activity.height == pairs == meta["viewer_activity"]["rows"].value > 0
    # nothing new lands: a second run ingests nothing and changes nothing
    again = materialize_all(home)
    meta2 = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in again.get_asset_materialization_events()
    }
    assert meta2["ingested_events"]["files_ingested"].value == 0
    assert meta2["ingested_events"]["stored_events"].value == loaded


def test_a_failed_blocking_check_keeps_bad_data_from_readers(home: Path) -> None:
    assert materialize_all(home).success
    paths = store_for(home).paths()
    before = published_version(paths)
    with working_database(paths) as con:
        con.execute("INSERT INTO raw.event_rows SELECT * FROM raw.events LIMIT 1")
    result = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS],
        resources=resources(store_for(home)),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["event_ids_unique"] is False
    assert published_version(paths) == before  # the snapshot was not republished


def test_the_landing_sensor_requests_a_run_for_new_files(home: Path) -> None:
    from pipelines.sensors import landing_files

    store = store_for(home)
    first = landing_files(dg.build_sensor_context(resources={"store": store}))
    assert len(first.run_requests) == 1
    quiet = landing_files(dg.build_sensor_context(cursor=first.cursor, resources={"store": store}))
    assert isinstance(quiet, dg.SkipReason)
    extra = home / "landing" / "events" / "events_2026-12-01.jsonl"
    extra.write_text('{"event_id": "x"}\n')
    again = landing_files(dg.build_sensor_context(cursor=first.cursor, resources={"store": store}))
    assert len(again.run_requests) == 1
    assert again.run_requests[0].run_key != first.run_requests[0].run_key


def test_the_data_dictionary_is_in_step_with_the_warehouse_comments() -> None:
    from core.schema_docs import render_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
    assert doc.read_text() == render_markdown(), (
        "regenerate: python -m core.schema_docs > docs/data-dictionary.md"
    )
