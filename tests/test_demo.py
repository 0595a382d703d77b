"""`cliffhanger demo`, the README's first command: sample data -> pipeline -> API + dashboards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        return response.status, response.read()


def test_demo_runs_the_pipeline_and_brings_up_the_api_and_the_dashboards(tmp_path: Path) -> None:
    api, dash = free_port(), free_port()
    env = {**os.environ, "CLIFFHANGER_HOME": str(tmp_path)}
    env.pop("DAGSTER_HOME", None)
    env.pop("CLIFFHANGER_WAREHOUSE", None)
    env.pop("CLIFFHANGER_LANDING", None)
    log = tmp_path / "demo.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cliffhanger.cli", "demo", "--api-port", str(api),
             "--dashboard-port", str(dash)],
            cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 400
        while "Cliffhanger is up" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        text = log.read_text()
        assert f"http://127.0.0.1:{api}/docs" in text and f"http://127.0.0.1:{dash}" in text
        status, body = get(f"http://127.0.0.1:{api}/v1/model")
        model = json.loads(body)
        assert status == 200 and model["model_version"]
        # a user of the sample data gets a personal list from the published model
        import duckdb

        con = duckdb.connect(str(tmp_path / "warehouse" / "cliffhanger.duckdb"), read_only=True)
        user, first = con.execute(
            "SELECT user_id, series_id FROM analytics.recommendations WHERE rank = 1 "
            "ORDER BY user_id LIMIT 1"
        ).fetchone()
        con.close()
        status, body = get(f"http://127.0.0.1:{api}/v1/users/{user}/next-series?k=3")
        assert json.loads(body)["items"][0]["series_id"] == first
        # the README's API examples (ids from the demo's input) answer what the README shows
        from tests.readme_examples import check

        assert check(f"http://127.0.0.1:{api}") >= 5
        status, body = get(f"http://127.0.0.1:{dash}/_stcore/health")
        assert status == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    # both servers stopped with the demo
    for port in (api, dash):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
