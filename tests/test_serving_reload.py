"""Hot reload and failure policy, against a real uvicorn server.

- a new bundle published under load is picked up with zero failed requests;
- a corrupt bundle published while serving is refused (logged) and the old model stays;
- a service started with nothing published answers 503, then picks up the first bundle;
- a service whose only bundle has damaged model arrays serves its popular lists as fallback.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import pytest

from models.bundle import switch_current, write_bundle
from tests.serving_support import ApiServer, metric_value, planted_content

pytestmark = pytest.mark.timeout(120)

ALICE_V1 = ["B-en", "C-en", "D-en", "E-en"]  # alice likes A > B > ... (started A)
ALICE_SWAPPED = ["E-en", "D-en", "C-en", "B-en"]  # with bob's taste


def _ids(resp: httpx.Response) -> list[str]:
    return [i["series_id"] for i in resp.json()["items"]]


def _publish_corrupt(root: Path, version: str) -> None:
    """Publish a bundle whose arrays.npz was damaged after its checksum was taken."""
    staging = root.parent / "staging"
    write_bundle(staging, planted_content(version))
    shutil.copytree(staging / "bundles" / version, root / "bundles" / version)
    npz = root / "bundles" / version / "arrays.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    switch_current(root, version)


def test_reload_under_load_then_refuse_corrupt(tmp_path: Path) -> None:
    root = tmp_path / "models_published"
    write_bundle(root, planted_content("v1"))
    srv = ApiServer(tmp_path)
    try:
        assert _ids(srv.get("/v1/users/alice/next-series")) == ALICE_V1
        # --- load from 4 threads across the switch to v2
        stop = threading.Event()
        results: list[list[tuple[int, str, list[str]]]] = [[] for _ in range(4)]
        failures: list[str] = []

        def hammer(slot: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=10) as client:
                while not stop.is_set():
                    try:
                        resp = client.get("/v1/users/alice/next-series")
                        body = resp.json()
                        results[slot].append((resp.status_code, body.get("model_version"), _ids(resp)))  # fmt: skip
                    except Exception as exc:  # a refused or broken connection is a failure
                        failures.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            srv.wait_for(lambda: sum(map(len, results)) > 50)
            write_bundle(root, planted_content("v2", swap_users=True))
            srv.wait_for(lambda: all(r and r[-1][1] == "v2" for r in results), timeout=15)
            n_before = sum(map(len, results))
            srv.wait_for(lambda: sum(map(len, results)) > n_before + 50)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=15)
        assert failures == []
        flat = [r for rs in results for r in rs]
        assert {status for status, _, _ in flat} == {200}
        assert {(v, tuple(ids)) for _, v, ids in flat} == {
            ("v1", tuple(ALICE_V1)),
            ("v2", tuple(ALICE_SWAPPED)),
        }
        for rs in results:  # per client: once v2 is seen, never v1 again
            versions = [v for _, v, _ in rs]
            first_v2 = versions.index("v2")
            assert set(versions[first_v2:]) == {"v2"}
        assert "v2" in srv.log() and "replaced v1" in srv.log()

        # --- a corrupt bundle: refused, logged, v2 stays in service
        _publish_corrupt(root, "v3")
        srv.wait_for(lambda: "arrays.npz is corrupt" in srv.log(), timeout=10)
        assert "model not updated, still serving v2: v3: arrays.npz is corrupt" in srv.log()
        assert srv.get("/healthz").json() == {"status": "ok", "model_version": "v2"}
        assert srv.get("/v1/model").json()["model_version"] == "v2"
        assert _ids(srv.get("/v1/users/alice/next-series")) == ALICE_SWAPPED
        metrics = srv.get("/metrics").text
        assert metric_value(metrics, "cliffhanger_model_reloads_total", outcome="failed") == 1
        assert metric_value(metrics, "cliffhanger_model_reloads_total", outcome="loaded") == 2
        assert metric_value(metrics, "cliffhanger_model_info", model_version="v2") == 1

        # --- the next good bundle (a pipeline fallback: popularity) is picked up again
        write_bundle(root, planted_content("v4", model="popularity", kind="none", fallback=True))
        srv.wait_for(lambda: srv.get("/v1/model").json()["model_version"] == "v4")
        body = srv.get("/v1/users/alice/next-series").json()
        assert body["fallback"] is True
        # the popular list minus A (started); scores are 1 / position
        assert [(i["series_id"], i["score"], i["source"]) for i in body["items"]] == [
            ("B-en", 1.0, "popular"),
            ("C-en", 0.5, "popular"),
            ("D-en", 0.333333, "popular"),
            ("E-en", 0.25, "popular"),
        ]
        assert srv.get("/v1/model").json()["fallback_reason"] == "als did not beat popularity"
        metrics = srv.get("/metrics").text
        assert metric_value(metrics, "cliffhanger_api_fallback_responses_total", reason="model") == 1  # fmt: skip
        assert "Traceback" not in srv.log()
    finally:
        srv.stop()


def test_nothing_published_then_first_bundle(tmp_path: Path) -> None:
    srv = ApiServer(tmp_path)
    try:
        resp = srv.get("/healthz")
        assert resp.status_code == 503
        assert resp.json()["status"] == "unavailable"
        assert "no published model" in resp.json()["reason"]
        resp = srv.get("/v1/users/alice/next-series")
        assert resp.status_code == 503
        assert resp.json()["detail"].startswith("no model is loaded and no popular list was found")
        assert srv.get("/v1/series/A-en/similar").status_code == 503
        assert srv.get("/v1/model").status_code == 503
        assert metric_value(srv.get("/metrics").text, "cliffhanger_model_loaded") == 0
        write_bundle(tmp_path / "models_published", planted_content("first"))
        srv.wait_for(lambda: srv.get("/healthz").status_code == 200)
        assert _ids(srv.get("/v1/users/alice/next-series")) == ALICE_V1
        assert "Traceback" not in srv.log()
    finally:
        srv.stop()


def test_only_a_damaged_bundle_serves_popular_lists(tmp_path: Path) -> None:
    root = tmp_path / "models_published"
    root.mkdir()
    _publish_corrupt(root, "broken")
    srv = ApiServer(tmp_path)
    try:
        resp = srv.get("/healthz")
        assert resp.status_code == 503
        assert resp.json() == {
            "status": "unavailable",
            "reason": "broken: arrays.npz is corrupt (sha256 "
            + resp.json()["reason"].split("(sha256 ", 1)[1],
            "serving": "popular lists of broken (fallback)",
        }
        body = srv.get("/v1/users/alice/next-series").json()
        assert body["fallback"] is True and body["model_version"] == "broken"
        # popular first when degraded (no personalisation, so no exclusion either)
        assert [(i["series_id"], i["source"]) for i in body["items"]] == [
            ("A-en", "popular"),
            ("B-en", "popular"),
            ("C-en", "popular"),
            ("D-en", "popular"),
            ("E-en", "popular"),
        ]
        resp = srv.get("/v1/users/bob/next-series", params={"language": "es", "k": 1})
        assert [i["series_id"] for i in resp.json()["items"]] == ["B-es"]
        assert srv.get("/v1/series/A-en/similar").json() == {
            "detail": "no model loaded: similar series are unavailable"
        }
        assert srv.get("/v1/series/Z-en/similar").status_code == 404
        assert srv.get("/v1/model").json()["fallback"] is True
        metrics = srv.get("/metrics").text
        assert metric_value(metrics, "cliffhanger_api_fallback_responses_total", reason="no_model") == 2  # fmt: skip
        assert "serving the popular lists of broken as a fallback" in srv.log()
        # a good bundle ends the fallback
        write_bundle(root, planted_content("good"))
        srv.wait_for(lambda: srv.get("/healthz").status_code == 200)
        assert srv.get("/v1/users/alice/next-series").json()["fallback"] is False
    finally:
        srv.stop()
