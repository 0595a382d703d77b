"""The recommendation API against a real uvicorn server and a planted bundle (exact answers).

See tests/serving_support.py for the planted catalogue, users, lists and similarities; the
expected lists below follow from them by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.bundle import write_bundle
from tests.serving_support import ApiServer, metric_value, planted_content

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    home = tmp_path_factory.mktemp("serve")
    write_bundle(home / "models_published", planted_content("v1"))
    srv = ApiServer(home)
    yield srv
    srv.stop()


def items(resp) -> list[tuple[str, str]]:  # noqa: ANN001
    """(series_id, source) of each item; every score is the documented 1 / position."""
    assert resp.status_code == 200, resp.text
    got = resp.json()["items"]
    assert [i["score"] for i in got] == [round(1 / p, 6) for p in range(1, len(got) + 1)]
    return [(i["series_id"], i["source"]) for i in got]


def raw(user: str, **kwargs: object) -> list[tuple[str, float, str]]:
    """The planted model's own (raw) scores, in-process: the arithmetic behind the order."""
    from models.bundle import load_bundle
    from serving.model import ServingModel

    global _MODEL
    if _MODEL is None:
        import tempfile

        root = Path(tempfile.mkdtemp())
        write_bundle(root, planted_content("v1"))
        _MODEL = ServingModel.from_bundle(load_bundle(root / "current"))
    rec = _MODEL.recommend(user, int(kwargs.pop("k", 10)), **kwargs)  # type: ignore[arg-type]
    return [(i.series_id, round(i.score, 6), i.source) for i in rec.items]


_MODEL = None


# --------------------------------------------------------------------------------------------
# next-series


def test_known_user_in_main_language(server: ApiServer) -> None:
    resp = server.get("/v1/users/alice/next-series")
    body = resp.json()
    assert {k: body[k] for k in ("user_id", "model_version", "fallback", "language")} == {
        "user_id": "alice",
        "model_version": "v1",
        "fallback": False,
        "language": "en",
    }
    # A started (its Spanish version counts); F has no English version
    assert items(resp) == [
        ("B-en", "als"),
        ("C-en", "als"),
        ("D-en", "als"),
        ("E-en", "als"),
    ]


def test_language_versions_and_k(server: ApiServer) -> None:
    # four Spanish stories left for alice: the list is filled from the catalogue's most
    # watched language (here the most common main language, en) — D has no Spanish version
    assert items(server.get("/v1/users/alice/next-series", params={"language": "es"})) == [
        ("B-es", "als"),
        ("C-es", "als"),
        ("E-es", "als"),
        ("F-es", "als"),
        ("D-en", "als"),
    ]
    assert items(server.get("/v1/users/alice/next-series", params={"k": 2})) == [
        ("B-en", "als"),
        ("C-en", "als"),
    ]
    # bob: main language es, started B (in English): B-es is never offered, nor B-en
    assert items(server.get("/v1/users/bob/next-series")) == [
        ("F-es", "als"),
        ("E-es", "als"),
        ("C-es", "als"),
        ("A-es", "als"),
        ("D-en", "als"),
    ]
    # asked in English, bob's list is filled from his own language: F has no English version
    assert items(server.get("/v1/users/bob/next-series", params={"language": "en"})) == [
        ("E-en", "als"),
        ("D-en", "als"),
        ("C-en", "als"),
        ("A-en", "als"),
        ("F-es", "als"),
    ]
    # carol started A, B, C: two English series remain, and no padding with started ones
    assert items(server.get("/v1/users/carol/next-series", params={"k": 10})) == [
        ("D-en", "als"),
        ("E-en", "als"),
    ]


def test_after_series_id_blends_with_similarity(server: ApiServer) -> None:
    # alice, after C: user scores B .9, D .7, E .6 scaled to 1, 1/3, 0; similarity to C of
    # B .5, D .2, E 1; blend 0.5/0.5 -> B .75 (als), E .5 (similarity), D .266667 (als)
    expected = [("B-en", 0.75, "als"), ("E-en", 0.5, "item_similarity"), ("D-en", 0.266667, "als")]
    for after in ("C-en", "C-es"):  # any language version of the story steers the same way
        resp = server.get("/v1/users/alice/next-series", params={"after_series_id": after})
        assert items(resp) == [(s, src) for s, _, src in expected]
        assert raw("alice", after_series_id=after) == expected
    # bob after A: C .2, E .4, F .5 -> 0, 2/3, 1; similarity to A: C .2, E .1, F .1; the
    # short list filled with D-en (.3 -> 1/3 on the same scale; similarity .1)
    resp = server.get("/v1/users/bob/next-series", params={"after_series_id": "A-es"})
    expected = [
        ("F-es", 0.55, "als"),
        ("E-es", 0.383333, "als"),
        ("C-es", 0.1, "item_similarity"),
        ("D-en", 0.216667, "als"),
    ]
    assert items(resp) == [(s, src) for s, _, src in expected]
    assert raw("bob", after_series_id="A-es") == expected


def test_unknown_user_gets_trending_or_popular(server: ApiServer) -> None:
    resp = server.get("/v1/users/zoe/next-series")
    assert resp.json()["language"] == "en"  # the most common main language
    assert resp.json()["fallback"] is False
    assert items(resp) == [("D-en", "trending"), ("A-en", "trending"), ("E-en", "trending")]  # fmt: skip
    # no Spanish trending list: the popular one
    assert items(server.get("/v1/users/zoe/next-series", params={"language": "es", "k": 2})) == [
        ("B-es", "popular"),
        ("A-es", "popular"),
    ]
    # an unknown user after a series: that series' similarity row alone
    resp = server.get("/v1/users/zoe/next-series", params={"after_series_id": "C-es", "k": 3})
    assert items(resp) == [
        ("E-en", "item_similarity"),
        ("B-en", "item_similarity"),
        ("D-en", "item_similarity"),
    ]
    # odd but valid ids are just unknown users
    for odd in ("%C3%A9l%C3%A8ve", "a%20b", "...", "%00"):
        resp = server.get(f"/v1/users/{odd}/next-series", params={"k": 1})
        assert resp.status_code == 200, resp.text
        assert items(resp) == [("D-en", "trending")]


# --------------------------------------------------------------------------------------------
# similar, model, health, docs


def test_similar(server: ApiServer) -> None:
    resp = server.get("/v1/series/C-en/similar", params={"k": 3})
    assert resp.json()["series_id"] == "C-en" and resp.json()["model_version"] == "v1"
    assert items(resp) == [
        ("E-en", "item_similarity"),
        ("B-en", "item_similarity"),
        ("D-en", "item_similarity"),
    ]
    # in the series' own language; ties (A, B at .1) by story order
    assert items(server.get("/v1/series/F-es/similar")) == [
        ("C-es", "item_similarity"),
        ("E-es", "item_similarity"),
        ("A-es", "item_similarity"),
        ("B-es", "item_similarity"),
    ]
    resp = server.get("/v1/series/Z-en/similar")
    assert resp.status_code == 404
    assert resp.json() == {"detail": "unknown series 'Z-en'"}


def test_model_health_and_docs(server: ApiServer) -> None:
    body = server.get("/v1/model").json()
    assert {k: v for k, v in body.items() if k != "loaded_at"} == {
        "model_version": "v1",
        "model": "als",
        "kind": "factors",
        "trained_at": "2026-11-25T02:00:00+00:00",
        "data_start": "2026-10-28T00:00:00+00:00",
        "data_end": "2026-11-25T00:00:00+00:00",
        "metrics": {"ndcg@10": 0.21, "recall@10": 0.34},
        "params": {"factors": 2},
        "evaluation": {},
        "fallback": False,
        "fallback_reason": None,
        "languages": ["en", "es"],
        "n_users": 3,
        "n_series": 10,
        "n_stories": 6,
        "experiment": None,
        "activity": {"as_of": None, "users": 0, "rows": 0, "problem": None},
    }
    resp = server.get("/healthz")
    assert (resp.status_code, resp.json()) == (200, {"status": "ok", "model_version": "v1"})
    spec = server.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/v1/users/{user_id}/next-series",
        "/v1/series/{series_id}/similar",
        "/v1/users/{user_id}/continue-watching",
        "/v1/users/{user_id}/home",
        "/v1/model",
        "/healthz",
    }
    params = {p["name"]: p for p in spec["paths"]["/v1/users/{user_id}/next-series"]["get"]["parameters"]}  # fmt: skip
    assert params["k"]["schema"]["maximum"] == 100 and params["k"]["schema"]["minimum"] == 1
    docs = server.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# --------------------------------------------------------------------------------------------
# errors: always 4xx with a clear message, never 500


NS = "/v1/users/alice/next-series"
K_MSG = "query parameter 'k' must be an integer from 1 to 100 (got {!r})"
BAD_REQUESTS = [
    (NS, {"k": 0}, 422, K_MSG.format("0")),
    (NS, {"k": 101}, 422, K_MSG.format("101")),
    (NS, {"k": "ten"}, 422, K_MSG.format("ten")),
    (NS, {"k": "2.5"}, 422, K_MSG.format("2.5")),
    (NS, {"k": ""}, 422, K_MSG.format("")),
    (NS, {"language": "fr"}, 422, "unknown language code 'fr': the catalogue has en, es"),
    (NS, {"language": "EN!"}, 422, "language 'EN!' is not a language code (known: en, es)"),
    (NS, {"language": ""}, 422, "query parameter 'language' must be 1 to 35 characters"),
    (NS, {"after_series_id": "Z-en"}, 422, "after_series_id 'Z-en' is not in the catalogue"),
    (
        NS,
        {"after_series_id": ""},
        422,
        "query parameter 'after_series_id' must be 1 to 200 characters",
    ),  # fmt: skip
    (
        "/v1/users/" + "u" * 201 + "/next-series",
        {},
        422,
        "path parameter 'user_id' must be 1 to 200 characters",
    ),  # fmt: skip
    (
        "/v1/series/C-en/similar",
        {"k": -1},
        422,
        "query parameter 'k' must be an integer from 1 to 100 (got '-1')",
    ),  # fmt: skip
    (
        "/v1/series/C-en/similar",
        {"k": 101},
        422,
        "query parameter 'k' must be an integer from 1 to 100 (got '101')",
    ),  # fmt: skip
    (
        "/v1/series/" + "s" * 201 + "/similar",
        {},
        422,
        "path parameter 'series_id' must be 1 to 200 characters",
    ),  # fmt: skip
    (
        "/v1/users/" + "u" * 1100 + "/next-series",
        {},
        414,
        "request path longer than 1024 bytes",
    ),  # fmt: skip
    (NS, {"language": "e" * 1100}, 414, "query string longer than 1024 bytes"),
    ("/v2/anything", {}, 404, "Not Found"),
    # unknown query parameters: a clear 422 naming what the endpoint takes
    (
        NS,
        {"kk": 3},
        422,
        "unknown query parameter 'kk' (this endpoint takes: k, language, after_series_id, exclude)",
    ),
    (
        "/v1/series/C-en/similar",
        {"language": "en"},
        422,
        "unknown query parameter 'language' (this endpoint takes: k, exclude)",
    ),
    (
        "/v1/users/alice/continue-watching",
        {"language": "en"},
        422,
        "unknown query parameter 'language' (this endpoint takes: k)",
    ),
    (
        "/v1/users/alice/home",
        {"after_series_id": "A-en"},
        422,
        "unknown query parameter 'after_series_id' (this endpoint takes: k, language)",
    ),
    (
        "/v1/users/alice/home",
        {"k": 51},
        422,
        "query parameter 'k' must be an integer from 1 to 50 (got '51')",
    ),
    (
        "/v1/model",
        {"verbose": 1},
        422,
        "unknown query parameter 'verbose' (this endpoint takes: none)",
    ),
    (NS, {"exclude": ""}, 422, "query parameter 'exclude' must be 1 to 200 characters"),
]


@pytest.mark.parametrize(("path", "params", "status", "detail"), BAD_REQUESTS)
def test_bad_requests(server: ApiServer, path: str, params: dict, status: int, detail: str) -> None:
    resp = server.get(path, params=params)
    assert resp.status_code == status, resp.text
    assert resp.json() == {"detail": detail}


def test_bodies_and_methods(server: ApiServer) -> None:
    resp = server.client.post("/v1/users/alice/next-series", content=b"x" * 10)
    assert (resp.status_code, resp.json()) == (413, {"detail": "this API takes no request body"})
    resp = server.client.post("/v1/users/alice/next-series")
    assert (resp.status_code, resp.json()) == (405, {"detail": "Method Not Allowed"})
    assert "Traceback" not in server.log()


def test_access_log_carries_no_client_address(server: ApiServer) -> None:
    import re

    server.get("/v1/users/alice/next-series", params={"k": 1})
    server.wait_for(lambda: 'GET /v1/users/alice/next-series?k=1 HTTP/1.1" 200' in server.log())
    assert re.search(r"127\.0\.0\.1:\d+ - ", server.log()) is None


# --------------------------------------------------------------------------------------------
# metrics


def test_metrics(server: ApiServer) -> None:
    route = "/v1/users/{user_id}/next-series"
    before = server.get("/metrics").text
    for _ in range(3):
        assert server.get("/v1/users/alice/next-series").status_code == 200
    server.get("/v1/users/zoe/next-series")
    server.get("/v1/users/alice/next-series", params={"k": 0})
    resp = server.get("/metrics")
    assert resp.headers["content-type"].startswith("text/plain")
    after = resp.text

    def delta(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("cliffhanger_api_requests_total", route=route, method="GET", status="200") == 4
    assert delta("cliffhanger_api_requests_total", route=route, method="GET", status="422") == 1
    assert delta("cliffhanger_api_request_duration_seconds_count", route=route) == 5
    assert delta("cliffhanger_api_unknown_user_responses_total") == 1
    assert metric_value(after, "cliffhanger_model_info", model_version="v1", model="als") == 1
    assert metric_value(after, "cliffhanger_model_loaded") == 1
    assert metric_value(after, "cliffhanger_model_reloads_total", outcome="loaded") == 1
    assert "cliffhanger_api_fallback_responses_total" in after or "fallback_responses" in after
    assert "alice" not in after  # ids never become label values


# --------------------------------------------------------------------------------------------
# auth


def test_api_key(tmp_path: Path) -> None:
    write_bundle(tmp_path / "models_published", planted_content("v1"))
    srv = ApiServer(tmp_path, api_key="s3cret-key")
    try:
        resp = srv.get("/v1/users/alice/next-series")
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.json() == {
            "detail": "missing or wrong API key: send 'Authorization: Bearer <key>'"
        }
        for header in ("Bearer wrong", "s3cret-key", "Basic s3cret-key", "Bearer s3cret-key2"):
            assert srv.get("/v1/model", headers={"Authorization": header}).status_code == 401
        ok = {"Authorization": "Bearer s3cret-key"}
        assert items(srv.get("/v1/users/alice/next-series", headers=ok, params={"k": 1})) == [
            ("B-en", "als")
        ]
        assert srv.get("/metrics").status_code == 401
        assert srv.get("/metrics", headers=ok).status_code == 200
        assert srv.get("/healthz").status_code == 200  # open for load balancers
        assert "s3cret" not in srv.log()  # the key is never logged
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------------
# the other model kinds (in-process: the same ServingModel the server uses)


def test_item_item_kind_scores_history_rows(tmp_path: Path) -> None:
    from models.bundle import load_bundle
    from serving.model import ServingModel

    write_bundle(tmp_path, planted_content("ii", model="item_knn", kind="item_item"))
    model = ServingModel.from_bundle(load_bundle(tmp_path / "current"))
    # alice's history is A (weight 1): her scores are row A of item_item (= SIMILARITY)
    rec = model.recommend("alice", 10)
    assert [(i.series_id, round(i.score, 6), i.source) for i in rec.items] == [
        ("B-en", 1.0, "item_knn"),
        ("C-en", 0.2, "item_knn"),
        ("D-en", 0.1, "item_knn"),
        ("E-en", 0.1, "item_knn"),
    ]
    # carol (A, B, C): D = .1 + .2 + .2, E = .1 + .1 + 1.0
    rec = model.recommend("carol", 10)
    assert [(i.series_id, round(i.score, 6)) for i in rec.items] == [("E-en", 1.2), ("D-en", 0.5)]


def test_serve_command_rejects_bad_arguments() -> None:
    import socket
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "cliffhanger.cli", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "cliffhanger: error: Invalid value for '--port': 70000 is not in the range 1<=x<=65535."
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "cliffhanger.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"cliffhanger: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_id_index_exact_lookup() -> None:
    import polars as pl

    from serving.model import IdIndex

    ids = ["u1", "u10", "u2", "élève", "a b", "zz" * 40, "x"]
    index = IdIndex(pl.Series(ids), np.arange(len(ids)) * 10)
    assert len(index) == len(ids)
    for row, user in enumerate(ids):
        assert index.get(user) == row * 10
    for unknown in ("u", "u100", "u1 ", "", "zz" * 41, "x\0", "\0", "U1", "eleve", "\udcff"):
        assert index.get(unknown) is None
    # sliced Arrow data (offset != 0) and an empty index
    sliced = pl.Series(["skip", "b", "a"]).slice(1, 2)
    assert IdIndex(sliced, np.array([5, 6])).get("a") == 6
    assert IdIndex(pl.Series([], dtype=pl.String), np.array([], dtype=np.int64)).get("a") is None


def test_serving_never_imports_the_pipeline() -> None:
    import subprocess
    import sys

    code = (
        "import sys, serving.app, serving.server\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pipelines', 'dagster', 'streamlit'))\n"
        "print(bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
