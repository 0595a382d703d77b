"""Real processes: a SIGKILL mid-ingest loses nothing; readers are never blocked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.config import Paths
from core.warehouse import working_database
from ingest.events import ensure_schema
from synthetic import GenerateSpec, generate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One large JSONL file (all days concatenated, with faults) and its catalog."""
    root = tmp_path_factory.mktemp("big")
    data = root / "data"
    generate(GenerateSpec(users=2500, days=10, seed=41, out=data, dirty=0.02))
    big = root / "big.jsonl"
    with open(big, "wb") as out:
        for f in sorted((data / "events").iterdir()):
            out.write(f.read_bytes())
    return data / "catalog", big


def env_for(home: Path) -> dict:
    env = {**os.environ, "CLIFFHANGER_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    return env


def cli(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cliffhanger.cli", "ingest", *args],
        env=env_for(home), cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def tables(home: Path) -> dict[str, list]:
    p = Paths(home=home, warehouse=home / "warehouse" / "cliffhanger.duckdb",
              landing=home / "landing", dagster_home=home / "d")  # fmt: skip
    with working_database(p) as con:
        # a kill before the ingest step started (while Dagster loads) leaves no tables yet:
        # the same as a kill before the commit, nothing loaded
        ensure_schema(con)
        return {
            "events": con.execute(
                "SELECT * EXCLUDE (ingested_at) FROM raw.events ORDER BY event_id"
            ).fetchall(),
            "quarantine": con.execute(
                "SELECT * EXCLUDE (quarantined_at, file_path) FROM raw.quarantine ORDER BY ALL"
            ).fetchall(),
            "files": con.execute(
                "SELECT content_sha256, format, bytes, records_in, loaded, quarantined, duplicates"
                " FROM raw.ingestion_files ORDER BY ALL"
            ).fetchall(),
        }


def test_sigkill_mid_ingest_then_rerun_gives_the_same_warehouse(
    big_input: tuple[Path, Path], tmp_path: Path
) -> None:
    catalog, big = big_input
    ref_home = tmp_path / "ref"
    ref_home.mkdir()
    started = time.monotonic()
    ref = cli(ref_home, str(catalog), str(big), "--no-publish")
    assert ref.wait(timeout=600) == 0, ref.stderr.read()
    duration = time.monotonic() - started
    reference = tables(ref_home)
    assert len(reference["events"]) > 300_000

    outcomes = []
    # one kill early (mostly inside the ingest transaction), one late (mostly after its
    # commit, while the metrics build): both sides of the commit, in two reruns
    for fraction in (0.35, 0.9):
        home = tmp_path / f"kill{fraction}"
        home.mkdir()
        proc = cli(home, str(catalog), str(big), "--no-publish")
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        after_kill = tables(home)
        # the file is all in or all out: never half-loaded
        assert len(after_kill["events"]) in (0, len(reference["events"]))
        assert len(after_kill["files"]) == (1 if after_kill["events"] else 0)
        outcomes.append(len(after_kill["events"]) > 0)
        rerun = cli(home, str(catalog), str(big), "--no-publish")
        assert rerun.wait(timeout=600) == 0, rerun.stderr.read()
        assert tables(home) == reference
    assert not all(outcomes), "every kill came after the commit: the test proved nothing"


READER = textwrap.dedent(
    """
    import json, sys, time, duckdb
    public, stop_file, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
    reads, errors, versions = 0, [], []
    while time.monotonic() < deadline:
        try:
            con = duckdb.connect(public, read_only=True)
            version = con.execute("SELECT snapshot_version FROM analytics.snapshot_info").fetchone()[0]
            n = con.execute("SELECT count(*) FROM analytics.events").fetchone()[0]
            con.close()
            reads += 1
            if not versions or versions[-1][0] != version:
                versions.append((version, n))
        except Exception as exc:
            errors.append(repr(exc))
        if __import__("os").path.exists(stop_file):
            break
    print(json.dumps({"reads": reads, "errors": errors[:5], "n_errors": len(errors), "versions": versions}))
    """
)


def test_a_reader_polling_during_ingestion_sees_no_errors(
    big_input: tuple[Path, Path], tmp_path: Path
) -> None:
    import json

    catalog, big = big_input
    home = tmp_path / "home"
    home.mkdir()
    small = tmp_path / "small"
    generate(GenerateSpec(users=50, days=2, seed=42, out=small))
    assert cli(home, str(small / "catalog"), str(small / "events")).wait(timeout=300) == 0
    public = home / "warehouse" / "cliffhanger.duckdb"
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(public), str(stop), "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    ingest = cli(home, str(catalog), str(big))
    assert ingest.wait(timeout=600) == 0, ingest.stderr.read()
    time.sleep(1.0)
    stop.touch()
    out, err = reader.communicate(timeout=120)
    summary = json.loads(out)
    assert summary["n_errors"] == 0, summary["errors"]
    assert summary["reads"] > 20
    versions = summary["versions"]
    assert len(versions) >= 2  # it saw the old snapshot and then the new one
    assert versions[-1][1] > versions[0][1]
