"""The command line: same arguments give the same bytes; mistakes give one clear line."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "cliffhanger.cli"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "segment"])
def test_same_arguments_give_identical_files(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "data"
    args = ["generate", "--users", "150", "--days", "3", "--seed", "3", "--format", fmt,
            "--dirty", "0.02", "--out", str(out)]  # fmt: skip
    assert run_cli(*args).returncode == 0
    first = digest(out)
    assert run_cli(*args).returncode == 0
    assert digest(out) == first
    assert len([k for k in first if k.startswith("events/")]) == 3
    assert run_cli(*args[:-1], str(tmp_path / "other"), "--seed", "4").returncode == 0
    assert (
        digest(tmp_path / "other")[
            "events/events_2026-09-07." + ("parquet" if fmt == "parquet" else "jsonl")
        ]
        != first["events/events_2026-09-07." + ("parquet" if fmt == "parquet" else "jsonl")]
    )


def test_gzip_holds_the_same_lines(tmp_path: Path) -> None:
    common = ["generate", "--users", "100", "--days", "2", "--seed", "9"]
    assert run_cli(*common, "--out", str(tmp_path / "plain")).returncode == 0
    assert run_cli(*common, "--gzip", "--out", str(tmp_path / "gz")).returncode == 0
    for plain in sorted((tmp_path / "plain" / "events").iterdir()):
        packed = tmp_path / "gz" / "events" / (plain.name + ".gz")
        assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--users", "0"], "--users must be at least 1"),
        (["--days", "0"], "--days must be between 1 and 3660"),
        (["--dirty", "0.9"], "--dirty must be a rate between 0 and 0.5"),
        (["--users", "many"], "'many' is not a valid integer"),
        (["--format", "xml"], "'xml' is not one of"),
        (["--start", "yesterday"], "--start must be a date"),
        (["--bogus"], "No such option"),
        (["--weak-scene", "S00001:5"], "--weak-scene must look like SERIES:EPISODE:SECOND:SHARE"),
        (["--weak-scene", "S00001:5:40:1.5"], "a share in (0, 1]"),
        (["--exits", "random"], "'random' is not one of"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, args: list, needle: str) -> None:
    result = run_cli("generate", *args, "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_unwritable_out_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("generate", "--users", "5", "--days", "1", "--out", str(blocker / "sub"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not writable" in result.stderr
    result = run_cli("generate", "--users", "5", "--days", "1", "--out", str(blocker))
    assert result.returncode == 2 and "is not a folder" in result.stderr
    assert blocker.read_text() == "not a folder"


def test_a_foreign_folder_is_never_overwritten(tmp_path: Path) -> None:
    precious = tmp_path / "mine" / "notes.txt"
    precious.parent.mkdir()
    precious.write_text("keep me")
    result = run_cli("generate", "--users", "5", "--days", "1", "--out", str(precious.parent))
    assert result.returncode == 2 and "not empty" in result.stderr
    assert precious.read_text() == "keep me"


def test_run_without_data_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path, env={"CLIFFHANGER_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "cliffhanger generate" in result.stderr and "Traceback" not in result.stderr


def test_ingest_prints_the_accounting_and_a_total(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[1] / "data_samples" / "dirty"
    manifest = __import__("json").loads((data / "manifest.json").read_text())
    result = run_cli("ingest", str(data / "catalog"), str(data / "events"), cwd=tmp_path,
                     env={"CLIFFHANGER_HOME": str(tmp_path)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    total = [line for line in result.stdout.splitlines() if "total" in line][0]
    numbers = [int(x.replace(",", "")) for x in total.replace("│", " ").split() if x[0].isdigit()]
    files = manifest["files"]
    assert numbers == [
        sum(f["records"] for f in files), sum(f["expected_loaded"] for f in files),
        sum(f["expected_quarantined"] for f in files), sum(f["expected_duplicates"] for f in files),
    ]  # fmt: skip
    assert "published warehouse snapshot" in result.stdout
    again = run_cli("ingest", str(data / "events"), cwd=tmp_path,
                    env={"CLIFFHANGER_HOME": str(tmp_path)})  # fmt: skip
    assert again.returncode == 0 and again.stdout.count("already_ingested") == len(files)


def test_maintain_merges_and_reports_what_it_did(tmp_path: Path) -> None:
    import duckdb

    data = Path(__file__).resolve().parents[1] / "data_samples" / "dirty"
    env = {"CLIFFHANGER_HOME": str(tmp_path)}
    assert run_cli("ingest", str(data / "catalog"), str(data / "events"), cwd=tmp_path,
                   env=env).returncode == 0  # fmt: skip
    work = tmp_path / "warehouse" / "_work" / "cliffhanger-work.duckdb"

    def state() -> tuple[int, int, int, int]:
        con = duckdb.connect(str(work), read_only=True)
        try:
            return con.execute(
                "SELECT (SELECT count(*) FROM raw.events), (SELECT count(*) FROM raw.event_files),"
                " (SELECT count(DISTINCT event_date) FROM raw.event_files),"
                " (SELECT count(*) FROM raw.retired_files)").fetchall()[0]  # fmt: skip
        finally:
            con.close()

    events, files, dates, _ = state()
    assert files > dates  # late events left some dates with several small files
    result = run_cli("maintain", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    after = state()
    # one file per date, the same events; the old files kept for the published snapshot
    assert after == (events, dates, dates, after[3]) and after[3] > 0
    assert " ".join(result.stdout.split()) == (
        f"merged {after[3]:,} event files of {after[3] - files + dates:,} dates into "
        f"{after[3] - files + dates:,}; expired 0 files (0.0 MB); {dates:,} listed, "
        f"{after[3]:,} retired files kept for readers"
    )
    bad = run_cli("maintain", "--retention-hours", "-1", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--retention-hours" in bad.stderr


def test_ingest_of_a_missing_path_is_one_line(tmp_path: Path) -> None:
    result = run_cli("ingest", str(tmp_path / "nope.jsonl"), cwd=tmp_path,
                     env={"CLIFFHANGER_HOME": str(tmp_path)})  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cliffhanger: error: no such file or folder: {tmp_path / 'nope.jsonl'}"
    ]
    assert not (tmp_path / "warehouse").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feedback", "abc"], "'abc' is not one of 'off', 'ab', 'aa'"),
        (["--feedback", "ab", "--feedback-lift", "9"], "--feedback-lift must be between 0.1 and 5"),
    ],
)
def test_generate_refuses_a_bad_feedback_option_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "data"
    result = run_cli("generate", "--users", "20", "--days", "2", *args, "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()  # nothing half-written
