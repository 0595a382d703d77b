"""The layers are import contracts: the real tree keeps them, an upward import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cliffhanger", "benchmarks", "pipelines", "serving", "dashboards", "models",
            "features", "ingest", "core", "synthetic")  # fmt: skip
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/config.py", "import pipelines.definitions", "Roof to ground"),
        ("models/metrics.py", "import cliffhanger.cli", "Roof to ground"),
        ("serving/metrics.py", "import pipelines.resources", "Roof to ground"),
        ("features/funnel.py", "import dagster", "knows nothing of Dagster"),
        ("pipelines/sensors.py", "import synthetic", "imported only by the CLI"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tree: Path, module: str, line: str, contract: str):
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint(tree)
    assert result.returncode == 1
    broken = [x for x in result.stdout.splitlines() if x.endswith("BROKEN")]
    # an upward import can break more than one contract (through what it imports in turn)
    assert any(contract in x for x in broken), result.stdout
