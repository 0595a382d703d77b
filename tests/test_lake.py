"""Lake mode (docs/architecture.md, "DuckLake mode"): the same pipeline on a DuckLake whose
catalog is a real PostgreSQL and whose files are in a folder or on a real S3-compatible
server (moto), both started on loopback by ``tests/lake_servers.py``."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from core import lake
from core.config import LakeSettings, paths
from core.warehouse import WarehouseError, connect_published, published_version
from tests.lake_servers import postgres, s3_server

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "clean"
# columns that say when or how long, not what: they differ between any two runs
VOLATILE = ("seconds", "snapshot_version", "published_at", "ingested_at", "loaded_at", "info")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg():
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        yield server


def sample_slice(tmp_path: Path, days: int) -> Path:
    """The committed sample's catalog and its first ``days`` event files."""
    out = tmp_path / "sample"
    shutil.copytree(SAMPLE / "catalog", out / "catalog")
    (out / "events").mkdir()
    for f in sorted((SAMPLE / "events").glob("*.parquet"))[:days]:
        shutil.copy(f, out / "events" / f.name)
    return out


def run_cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "CLIFFHANGER_HOME": str(home), **env}
    for name in ("CLIFFHANGER_WAREHOUSE", "CLIFFHANGER_LAKE_CATALOG", "CLIFFHANGER_LAKE_DATA_PATH"):
        if name not in env:
            full.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "cliffhanger.cli", *args],
        capture_output=True, text=True, cwd=home, env=full, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def lake_env(catalog: str, data_path: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"CLIFFHANGER_LAKE_CATALOG": catalog, "CLIFFHANGER_LAKE_DATA_PATH": data_path,
            **(extra or {})}  # fmt: skip


def public_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'analytics' UNION SELECT view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND schema_name = 'analytics' "
            "AND NOT internal"
        ).fetchall()
    )


def table_rows(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    cur = con.execute(f"SELECT * FROM analytics.{name}")  # noqa: S608 (listed names)
    keep = [i for i, d in enumerate(cur.description) if d[0] not in VOLATILE]
    return sorted((tuple(row[i] for i in keep) for row in cur.fetchall()), key=repr)


def assert_same_rows(name: str, left: list[tuple], right: list[tuple]) -> None:
    assert len(left) == len(right), name
    for a, b in zip(left, right, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                # sums of floats in another order: equal to the last few bits
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) or (
                    math.isnan(x) and math.isnan(y)
                ), (name, a, b)
            else:
                assert x == y, (name, a, b)


def test_lake_on_s3_and_the_embedded_file_give_identical_analytics_tables(tmp_path, pg, s3):
    data = sample_slice(tmp_path, days=3)
    bucket = s3.create_bucket()
    catalog = pg.create_database()
    env = lake_env(catalog, f"s3://{bucket}/cliffhanger/", s3.env())
    (tmp_path / "file").mkdir()
    (tmp_path / "lake").mkdir()
    run_cli(tmp_path / "file", {}, "ingest", str(data / "catalog"), str(data / "events"))
    out = run_cli(tmp_path / "lake", env, "ingest", str(data / "catalog"), str(data / "events"))
    assert f"ducklake:{catalog}@" in out.stdout

    embedded = duckdb.connect(str(tmp_path / "file" / "warehouse" / "cliffhanger.duckdb"),
                              read_only=True)  # fmt: skip
    os.environ.update(s3.env())
    try:
        on_lake, _version = lake.connect_published(LakeSettings(catalog, ""))
        names = public_objects(embedded)
        assert public_objects(on_lake) == names
        for name in names:
            assert_same_rows(name, table_rows(embedded, name), table_rows(on_lake, name))
        assert on_lake.execute("SELECT count(*) FROM analytics.events").fetchone()[0] > 100_000
        # the lake's data files are on the S3 server, none in the lake run's home
        files = on_lake.execute(
            "SELECT count(*), bool_and(data_file LIKE ?) FROM ducklake_list_files('lake', "
            "'event_rows', schema => 'raw')",
            [f"s3://{bucket}/cliffhanger/%"],
        ).fetchone()
        assert files[0] >= 1 and files[1]
        assert not list((tmp_path / "lake").rglob("*.parquet"))
        assert not (tmp_path / "lake" / "warehouse" / "cliffhanger.duckdb").exists()
    finally:
        for name in s3.env():
            os.environ.pop(name, None)


def test_a_reader_pinned_to_a_published_snapshot_sees_no_change_while_a_run_commits(
    tmp_path, pg, monkeypatch
):
    data = sample_slice(tmp_path, days=3)
    later = tmp_path / "later"
    later.mkdir()
    for f in sorted((SAMPLE / "events").glob("*.parquet"))[3:5]:
        shutil.copy(f, later / f.name)
    catalog = pg.create_database()
    env = lake_env(catalog, str(tmp_path / "lake_files") + "/")
    home = tmp_path / "home"
    home.mkdir()
    run_cli(home, env, "ingest", str(data / "catalog"), str(data / "events"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLIFFHANGER_HOME", str(home))

    reader = connect_published(paths())
    first_version = published_version(paths())
    before = reader.execute("SELECT count(*) FROM analytics.events").fetchone()[0]
    days_before = reader.execute("SELECT count(*) FROM analytics.daily_engagement").fetchone()[0]
    assert days_before == 3

    run_cli(home, env, "ingest", str(later))  # two more days, committed and published

    # the pinned reader: not a row changed, not a lock error
    assert reader.execute("SELECT count(*) FROM analytics.events").fetchone()[0] == before
    assert reader.execute("SELECT count(*) FROM analytics.daily_engagement").fetchone()[0] == 3
    fresh = connect_published(paths())
    assert published_version(paths()) != first_version
    assert fresh.execute("SELECT count(*) FROM analytics.daily_engagement").fetchone()[0] == 5
    after = fresh.execute("SELECT count(*) FROM analytics.events").fetchone()[0]
    expected_new = sum(
        duckdb.execute("SELECT count(*) FROM read_parquet(?)", [str(f)]).fetchone()[0]
        for f in later.glob("*.parquet")
    )
    assert after == before + expected_new
    # time travel: the first published snapshot is still there to read
    first_id = lake.published_snapshots(fresh)[-1][0]
    assert (
        fresh.execute(
            "SELECT count(*) FROM raw.event_rows AT (VERSION => ?)", [first_id]
        ).fetchone()[0]
        == before
    )


def test_nothing_published_in_the_lake_is_one_clear_error(tmp_path, pg, monkeypatch):
    monkeypatch.setenv("CLIFFHANGER_LAKE_CATALOG", pg.create_database())
    monkeypatch.setenv("CLIFFHANGER_LAKE_DATA_PATH", str(tmp_path / "files") + "/")
    with pytest.raises(WarehouseError, match="nothing published in the DuckLake"):
        connect_published(paths())


def test_an_unreachable_catalog_names_the_catalog(tmp_path):
    settings = LakeSettings("postgres:dbname=nope host=127.0.0.1 port=1 user=lake",
                            str(tmp_path / "files") + "/")  # fmt: skip
    with pytest.raises(lake.LakeError, match="cannot attach the DuckLake catalog 'postgres:"):
        lake.connect(settings, retries=0)


def test_two_writers_replacing_different_days_both_land_after_a_retry(tmp_path, pg):
    """DuckLake's conflict checks are per table: the second commit of two racing day
    replacements fails, and write_with_retry redoes it."""
    settings = LakeSettings(pg.create_database(), str(tmp_path / "files") + "/")
    setup = lake.connect(settings)
    setup.execute("CREATE SCHEMA analytics")
    setup.execute("CREATE TABLE analytics.per_day AS SELECT range % 2 AS day, range AS x "
                  "FROM range(10)")  # fmt: skip
    both_deleted = threading.Barrier(2, timeout=30)
    attempts: dict[int, int] = {0: 0, 1: 0}

    def replace_day(day: int) -> None:
        con = lake.connect(settings)

        def write(c: duckdb.DuckDBPyConnection) -> None:
            attempts[day] += 1
            c.execute("DELETE FROM analytics.per_day WHERE day = ?", [day])
            c.execute("INSERT INTO analytics.per_day SELECT ?, 100 + range FROM range(3)", [day])
            if attempts[day] == 1:
                both_deleted.wait()  # both transactions are open before either commits

        lake.write_with_retry(con, write, base_s=0.05)
        con.close()

    threads = [threading.Thread(target=replace_day, args=(d,)) for d in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(attempts.values()) == [1, 2]  # exactly one lost the race and redid it
    rows = setup.execute("SELECT day, list(x ORDER BY x) FROM analytics.per_day GROUP BY 1 "
                         "ORDER BY 1").fetchall()  # fmt: skip
    assert rows == [(0, [100, 101, 102]), (1, [100, 101, 102])]


def test_maintenance_expires_old_snapshots_but_never_a_published_one(tmp_path, pg, monkeypatch):
    data = sample_slice(tmp_path, days=2)
    later = tmp_path / "later"
    later.mkdir()
    shutil.copy(sorted((SAMPLE / "events").glob("*.parquet"))[2], later)
    catalog = pg.create_database()
    env = lake_env(catalog, str(tmp_path / "lake_files") + "/")
    home = tmp_path / "home"
    home.mkdir()
    run_cli(home, env, "ingest", str(data / "catalog"), str(data / "events"))
    run_cli(home, env, "ingest", str(later))
    settings = LakeSettings(catalog, "")
    probe = lake.connect(settings, read_only=True)
    published = lake.published_snapshots(probe)
    all_before = probe.execute("SELECT count(*) FROM lake.snapshots()").fetchone()[0]
    probe.close()
    assert len(published) == 2
    first_id = published[-1][0]
    pinned, _ = lake.connect_published(settings, version=first_id)
    first_events = pinned.execute("SELECT count(*) FROM analytics.events").fetchone()[0]
    pinned.close()

    out = run_cli(home, env, "maintain", "--retention-hours", "0")
    assert "expired" in out.stdout

    probe = lake.connect(settings, read_only=True)
    remaining = {r[0] for r in probe.execute("SELECT snapshot_id FROM lake.snapshots()").fetchall()}
    current = lake.current_snapshot(probe)
    probe.close()
    # both published snapshots and the newest one survive; the rest (hundreds of commits of
    # the two runs) are gone
    assert {sid for sid, _ in published} <= remaining
    assert remaining <= {sid for sid, _ in published} | {current, current - 1}
    assert len(remaining) < all_before
    # and the first published snapshot still reads in full after its files were merged
    pinned, _ = lake.connect_published(settings, version=first_id)
    assert pinned.execute("SELECT count(*) FROM analytics.events").fetchone()[0] == first_events
    assert pinned.execute("SELECT count(*) FROM analytics.daily_engagement").fetchone()[0] == 2


def lake_with_stale_days(tmp_path: Path, pg, days: int):
    """A lake holding the sample's first ``days`` days, built, unpublished, every row of
    ``analytics.daily_engagement`` then made wrong (dau = sessions = -1): what partition
    runs must repair. Returns (settings, env, home, the full build's rows)."""
    data = sample_slice(tmp_path, days=days)
    catalog = pg.create_database()
    env = lake_env(catalog, str(tmp_path / "lake_files") + "/")
    home = tmp_path / "home"
    home.mkdir()
    run_cli(home, env, "ingest", "--no-publish", str(data / "catalog"), str(data / "events"))
    settings = LakeSettings(catalog, env["CLIFFHANGER_LAKE_DATA_PATH"])
    con = lake.connect(settings)
    full = con.execute("SELECT * FROM analytics.daily_engagement ORDER BY date").fetchall()
    con.execute("UPDATE analytics.daily_engagement SET dau = -1, sessions = -1")
    con.close()
    return settings, env, home, full


def test_two_daily_partitions_run_side_by_side_on_the_lake_and_match_the_full_build(tmp_path, pg):
    """Two `engagement_day` runs, each its own `dagster asset materialize` process, write two
    dates of one lake table at the same time; both land with the full build's rows."""
    settings, env, home, full = lake_with_stale_days(tmp_path, pg, days=3)
    days = [str(r[0]) for r in full[:2]]

    runs = []
    for day in days:
        run_env = {**os.environ, "CLIFFHANGER_HOME": str(home), **env,
                   "DAGSTER_HOME": str(tmp_path / f"dagster_{day}")}  # fmt: skip
        Path(run_env["DAGSTER_HOME"]).mkdir()
        runs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "asset",
                    "materialize",
                    "-m",
                    "pipelines.definitions",
                    "--select",
                    "engagement_day",
                    "--partition",
                    day,
                ],
                cwd=home,
                env=run_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        )
    for proc in runs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]

    con = lake.connect(settings, read_only=True)
    after = con.execute("SELECT * FROM analytics.daily_engagement ORDER BY date").fetchall()
    assert_same_rows("daily_engagement", after[:2], full[:2])
    assert after[2][1:3] == (-1, -1)  # the third date was no partition of these runs


def test_a_partition_run_killed_in_its_commit_leaves_the_old_row_and_reruns_to_the_same_result(
    tmp_path, pg
):
    """Kill -9 a partition run while its commit waits on the catalog (a PostgreSQL lock on
    DuckLake's snapshot table holds it there): nothing of it lands; its re-run writes the
    full build's row."""
    settings, env, home, full = lake_with_stale_days(tmp_path, pg, days=2)
    day = str(full[0][0])
    dbname = settings.catalog.split("dbname=")[1].split()[0]
    psql = [str(pg.bindir / "psql"), "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "lake",
            "-d", dbname, "-v", "ON_ERROR_STOP=1"]  # fmt: skip
    run_env = {**os.environ, "CLIFFHANGER_HOME": str(home), **env,
               "DAGSTER_HOME": str(tmp_path / "dagster")}  # fmt: skip
    Path(run_env["DAGSTER_HOME"]).mkdir()
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
               "pipelines.definitions", "--select", "engagement_day", "--partition", day]  # fmt: skip

    # readers pass, writers of new snapshots wait
    holder = subprocess.Popen([*psql], stdin=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN; LOCK TABLE ducklake_snapshot IN EXCLUSIVE MODE;\n")
    holder.stdin.flush()
    run = subprocess.Popen(command, cwd=home, env=run_env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(1200):  # the run's commit is queued behind the lock
            waiting = subprocess.run(
                [*psql, "-tAc", "SELECT count(*) FROM pg_locks l JOIN pg_class c "
                 "ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'ducklake_snapshot'"],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            if waiting != "0" or run.poll() is not None:
                break
            time.sleep(0.1)
        assert waiting != "0", "the partition run never reached its commit"
        run.kill()
        run.wait(timeout=30)
    finally:
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(timeout=30)

    con = lake.connect(settings, read_only=True)
    assert con.execute(
        "SELECT dau, sessions FROM analytics.daily_engagement WHERE date = ?", [day]
    ).fetchone() == (-1, -1)
    con.close()
    rerun = subprocess.run(command, cwd=home, env=run_env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    con = lake.connect(settings, read_only=True)
    after = con.execute("SELECT * FROM analytics.daily_engagement ORDER BY date").fetchall()
    assert_same_rows("daily_engagement", after[:1], full[:1])
    assert after[1][1:3] == (-1, -1)


def test_daily_partitions_run_on_a_celery_worker_over_a_redis_broker(tmp_path, pg):
    """The `days_celery` job: two partition runs hand their steps to a real Celery worker
    (its own process, a Redis broker on loopback); both dates equal the full build."""
    from tests.lake_servers import redis_server

    settings, env, home, full = lake_with_stale_days(tmp_path, pg, days=2)
    days = [str(r[0]) for r in full[:2]]

    with redis_server() as url:
        config = tmp_path / "celery.yaml"
        config.write_text(f'execution:\n  config:\n    broker: "{url}/0"\n    backend: "{url}/1"\n')
        run_env = {**os.environ, "CLIFFHANGER_HOME": str(home), **env,
                   "DAGSTER_HOME": str(tmp_path / "dagster"), "PYTHONPATH": str(ROOT),
                   # the worker starts the `celery` program of this environment
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
        Path(run_env["DAGSTER_HOME"]).mkdir()
        worker_log = tmp_path / "worker.log"
        with open(worker_log, "w") as log:
            worker = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster-celery"), "worker", "start", "-A",
                 "dagster_celery.app", "-y", str(config), "-n", "cliffhanger-test-worker"],
                cwd=home, env=run_env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            for _ in range(600):
                if "ready." in worker_log.read_text():
                    break
                assert worker.poll() is None, worker_log.read_text()[-3000:]
                time.sleep(0.1)
            runs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "dagster",
                        "job",
                        "execute",
                        "-m",
                        "pipelines.definitions",
                        "-j",
                        "days_celery",
                        "-c",
                        str(config),
                        "--tags",
                        f'{{"dagster/partition": "{day}"}}',
                    ],
                    cwd=home,
                    env=run_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )  # fmt: skip
                for day in days
            ]
            outputs = [proc.communicate(timeout=300)[0] for proc in runs]
            for proc, out in zip(runs, outputs, strict=True):
                assert proc.returncode == 0, out[-3000:]
                assert 'Submitting celery task for step "engagement_day"' in out
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
    # the steps ran in the worker, not in the launching processes
    assert worker_log.read_text().count('Finished execution of step "engagement_day"') == 2

    con = lake.connect(settings, read_only=True)
    after = con.execute("SELECT * FROM analytics.daily_engagement ORDER BY date").fetchall()
    assert_same_rows("daily_engagement", after, full)
