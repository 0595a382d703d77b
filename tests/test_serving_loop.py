"""The API's side of the feedback loop (docs/feedback-loop.md, docs/api.md), against a real
server with the planted bundle and a planted viewer activity: request ids and variants in the
responses and in the served log, the experiment split, item fields, exclude, continue-watching,
home rows, fresh viewers, offline docs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.bundle import write_bundle
from tests.serving_support import ApiServer, planted_activity, planted_content

pytestmark = pytest.mark.timeout(120)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
SERVED_NAME = re.compile(r"^served-(\d{2})-(\d+)-([0-9a-f]{8})\.jsonl(\.open)?$")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("loop")
    root = home / "models_published"
    write_bundle(root, planted_content("v1"))
    planted_activity(root / "activity.parquet")
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[ApiServer]:
    srv = ApiServer(home)
    yield srv
    srv.stop()


def ids(resp) -> list[str]:  # noqa: ANN001
    assert resp.status_code == 200, resp.text
    return [i["series_id"] for i in resp.json()["items"]]


def served_lines(home: Path, closed_only: bool = False) -> list[dict]:
    lines = []
    for path in sorted((home / "served").glob("*/served-*")):
        if closed_only and path.name.endswith(".open"):
            continue
        lines += [json.loads(x) for x in path.read_text().splitlines() if x]
    return lines


# --------------------------------------------------------------------------------------------
# items: catalogue fields, rank-based score, documented sources


def test_items_carry_catalogue_fields_and_the_rank_score(server: ApiServer) -> None:
    body = server.get("/v1/users/bob/next-series", params={"k": 2}).json()
    assert HEX32.match(body["request_id"])
    assert (body["model_version"], body["variant"]) == ("v1", "default")
    assert body["items"] == [
        {"series_id": "F-es", "title": "Story F (es)", "language": "es", "n_episodes": 10,
         "free_episodes": 3, "production_type": "ai", "score": 1.0, "source": "als",
         "reason": "picked for you"},
        {"series_id": "E-es", "title": "Story E (es)", "language": "es", "n_episodes": 10,
         "free_episodes": 3, "production_type": "ai", "score": 0.5, "source": "als",
         "reason": "picked for you"},
    ]  # fmt: skip
    # two responses, two ids
    again = server.get("/v1/users/bob/next-series", params={"k": 2}).json()
    assert again["request_id"] != body["request_id"]


def test_exclude_leaves_out_every_version_of_the_story(server: ApiServer) -> None:
    # bob: F-es, E-es, C-es, A-es, D-en; excluding F-en's story (F has no en: F-es) and E-es
    resp = server.get(
        "/v1/users/bob/next-series", params=[("exclude", "E-en"), ("exclude", "F-es")]
    )
    assert ids(resp) == ["C-es", "A-es", "D-en"]
    # unknown ids are ignored; on the trending list and the similar list too
    resp = server.get(
        "/v1/users/zoe/next-series", params=[("exclude", "D-en"), ("exclude", "nope")]
    )
    assert ids(resp) == ["A-en", "E-en"]  # trending minus D
    resp = server.get("/v1/series/C-en/similar", params={"k": 2, "exclude": "E-es"})
    assert ids(resp) == ["B-en", "D-en"]


def test_sources_are_the_documented_ones(tmp_path: Path) -> None:
    """A blend's and a re-ranked head's items say the model's name, never 'als>trending_head'."""
    from models.bundle import load_bundle
    from models.scoring import Scorer
    from serving.model import ServingModel

    content = planted_content("h1")
    factors = content.scorer
    content.scorer = Scorer("head_rerank", "als>trending_head",
                            {"weight": 0.3, "head": 4, "base": factors})  # fmt: skip
    content.arrays = {
        **content.arrays,
        "trending_scores": content.arrays["item_factors"][:, 0].copy(),
    }
    write_bundle(tmp_path, content)
    model = ServingModel.from_bundle(load_bundle(tmp_path / "current"))
    assert {it.source for it in model.recommend("alice", 10).items} == {"als"}


# --------------------------------------------------------------------------------------------
# fresh activity: started series leave the lists; fresh viewers get a folded-in list


def test_fresh_activity_keeps_started_series_out(server: ApiServer) -> None:
    # alice's bundle history is A; the activity adds C and B: only D and E are left in en
    assert ids(server.get("/v1/users/alice/next-series")) == ["D-en", "E-en"]


def test_fresh_viewer_gets_a_folded_in_list(server: ApiServer) -> None:
    # dave is not in the bundle and started C-en: row C of the similarity (E 1, B .5, D .2,
    # A .1; F has no English version), C itself left out; his language is C-en's
    body = server.get("/v1/users/dave/next-series").json()
    assert body["language"] == "en"
    assert [(i["series_id"], i["source"], i["reason"]) for i in body["items"]] == [
        ("E-en", "item_similarity", "like the series you started"),
        ("B-en", "item_similarity", "like the series you started"),
        ("D-en", "item_similarity", "like the series you started"),
        ("A-en", "item_similarity", "like the series you started"),
    ]
    # a viewer with nothing started still gets trending
    assert ids(server.get("/v1/users/zoe/next-series")) == ["D-en", "A-en", "E-en"]


# --------------------------------------------------------------------------------------------
# continue watching


def test_continue_watching(server: ApiServer) -> None:
    body = server.get("/v1/users/alice/continue-watching").json()
    # most recent first; B finished: left out; A's next episode (4) is beyond the 3 free ones
    assert body == {
        "user_id": "alice",
        "items": [
            {"series_id": "C-en", "title": "Story C (en)", "language": "en", "n_episodes": 10,
             "free_episodes": 3, "production_type": "ai", "next_episode_number": 2,
             "next_episode_locked": False, "last_watched_at": "2026-12-01T09:00:00Z"},
            {"series_id": "A-es", "title": "Story A (es)", "language": "es", "n_episodes": 10,
             "free_episodes": 3, "production_type": "ai", "next_episode_number": 4,
             "next_episode_locked": True, "last_watched_at": "2026-11-30T10:00:00Z"},
        ],
    }  # fmt: skip
    # erin unlocked episode 5 with coins: not locked although beyond the free episodes
    erin = server.get("/v1/users/erin/continue-watching").json()["items"]
    assert [(i["series_id"], i["next_episode_number"], i["next_episode_locked"]) for i in erin] == [
        ("A-en", 5, False)
    ]
    assert server.get("/v1/users/zoe/continue-watching").json() == {"user_id": "zoe", "items": []}
    assert ids(server.get("/v1/users/alice/continue-watching", params={"k": 1})) == ["C-en"]


# --------------------------------------------------------------------------------------------
# home


def _rows(body: dict) -> list[tuple[str, list[str]]]:
    return [(r["name"], [i["series_id"] for i in r["items"]]) for r in body["rows"]]


def test_home_rows_without_duplicates(server: ApiServer) -> None:
    # dave (fresh, started C-en), one item per row: C to continue; for you E (folded in from
    # C); trending D; the newest en series left B; because you watched C: A
    body = server.get("/v1/users/dave/home", params={"k": 1}).json()
    assert HEX32.match(body["request_id"])
    assert (body["model_version"], body["variant"], body["language"]) == ("v1", "default", "en")
    assert _rows(body) == [
        ("continue_watching", ["C-en"]),
        ("for_you", ["E-en"]),
        ("trending", ["D-en"]),
        ("new_releases", ["B-en"]),
        ("because_you_watched", ["A-en"]),
    ]
    row = body["rows"][4]
    assert (row["title"], row["seed_series_id"]) == ("Because you watched Story C (en)", "C-en")
    assert [r["title"] for r in body["rows"][:4]] == [
        "Continue watching", "For you", "Trending in en", "New releases"]  # fmt: skip
    cw = body["rows"][0]["items"][0]
    assert (cw["source"], cw["score"], cw["next_episode_number"]) == ("continue_watching", 1.0, 2)
    # bob, two per row: for you F, E; trending: no es trending list, popular es minus B, F
    # gives A-es, filled from en trending (D); new es releases left: C-es; nothing left to
    # be "because you watched B"
    body = server.get("/v1/users/bob/home", params={"k": 2}).json()
    assert _rows(body) == [
        ("for_you", ["F-es", "E-es"]),
        ("trending", ["A-es", "D-en"]),
        ("new_releases", ["C-es"]),
    ]
    # no story twice on any page
    for user in ("alice", "bob", "carol", "dave", "erin", "zoe"):
        for k in (1, 3, 10):
            body = server.get(f"/v1/users/{user}/home", params={"k": k}).json()
            stories = [i["series_id"].split("-")[0] for r in body["rows"] for i in r["items"]]
            assert len(stories) == len(set(stories)), (user, k, _rows(body))
    # an unknown user has no "for you" row (it would be the trending one)
    assert [r["name"] for r in server.get("/v1/users/zoe/home").json()["rows"]] == [
        "trending", "new_releases"]  # fmt: skip


# --------------------------------------------------------------------------------------------
# the served log


def test_served_log_lines(home: Path, server: ApiServer) -> None:
    ns = server.get("/v1/users/bob/next-series", params={"k": 1}).json()
    sim = server.get("/v1/series/C-en/similar", params={"k": 1}).json()
    page = server.get("/v1/users/dave/home", params={"k": 1}).json()
    wanted = {ns["request_id"], sim["request_id"], page["request_id"]}

    def written() -> list[dict]:
        return [x for x in served_lines(home) if x["request_id"] in wanted]

    server.wait_for(lambda: len(written()) == 7)  # 1 + 1 + one line per home row (5)
    files = list((home / "served").glob("*/*"))
    assert files and all(SERVED_NAME.match(p.name) for p in files)
    assert all(p.name.endswith(".jsonl.open") for p in files)  # still being written
    by = {(x["request_id"], x["surface"]): x for x in written()}
    line = by[(ns["request_id"], "next-series")]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line.pop("served_at"))
    assert list(line) == ["request_id", "user_id", "endpoint", "surface", "model_version",
                          "variant", "experiment", "items"]  # fmt: skip
    assert line == {
        "request_id": ns["request_id"], "user_id": "bob", "endpoint": "next-series",
        "surface": "next-series", "model_version": "v1", "variant": "default",
        "experiment": None,
        "items": [{"series_id": "F-es", "position": 1, "source": "als", "score": 1.0}],
    }  # fmt: skip
    line = by[(sim["request_id"], "similar")]
    assert (line["user_id"], line["endpoint"], line["items"]) == (
        None, "similar", [{"series_id": "E-en", "position": 1, "source": "item_similarity",
                           "score": 1.0}])  # fmt: skip
    surfaces = sorted(s for r, s in by if r == page["request_id"])
    assert surfaces == ["home:because_you_watched", "home:continue_watching", "home:for_you",
                        "home:new_releases", "home:trending"]  # fmt: skip
    assert by[(page["request_id"], "home:for_you")]["items"] == [
        {"series_id": "E-en", "position": 1, "source": "item_similarity", "score": 1.0}]  # fmt: skip


def test_served_log_closed_on_stop_and_dead_files_closed_on_start(tmp_path: Path) -> None:
    write_bundle(tmp_path / "models_published", planted_content("v1"))
    # a file left by a process that is gone, with a partial last line
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "served" / "2026-12-01"
    folder.mkdir(parents=True)
    left = folder / f"served-23-{dead.pid}-0123abcd.jsonl.open"
    left.write_text('{"request_id": "a"}\n{"request_id": "b"}\n{"request_i')
    srv = ApiServer(tmp_path)
    try:
        closed = folder / f"served-23-{dead.pid}-0123abcd.jsonl"
        assert closed.read_text() == '{"request_id": "a"}\n{"request_id": "b"}\n'
        assert not left.exists()
        rid = srv.get("/v1/users/alice/next-series").json()["request_id"]
    finally:
        srv.stop()
    lines = served_lines(tmp_path, closed_only=True)
    assert rid in {x["request_id"] for x in lines}
    assert not list((tmp_path / "served").glob("*/*.open"))


def test_served_log_rotates_at_the_hour(tmp_path: Path) -> None:
    from serving.served_log import ServedLog, served_at

    now = [1764680400.0]  # 2025-12-02T13:00:00Z
    writer = ServedLog(tmp_path, clock=lambda: now[0])
    writer.add({"request_id": "a", "served_at": served_at(now[0] + 10)})
    writer.flush()
    [open_file] = tmp_path.glob("*/*.open")
    assert open_file.parent.name == "2025-12-02" and open_file.name.startswith("served-13-")
    now[0] += 3600  # 14:00: the 13 h file is closed at the next flush
    writer.add({"request_id": "b", "served_at": served_at(now[0])})
    writer.flush()
    names = sorted(p.name.split("-")[1] + ("o" if p.name.endswith(".open") else "c")
                   for p in tmp_path.glob("*/*"))  # fmt: skip
    assert names == ["13c", "14o"]
    writer.stop()
    assert not list(tmp_path.glob("*/*.open"))
    assert writer.written == 2


# --------------------------------------------------------------------------------------------
# the experiment


def _bucket(salt: str, user: str) -> float:
    return int(hashlib.sha256(f"{salt}:{user}".encode()).hexdigest()[:8], 16) / 2**32


def test_experiment_split_and_a_broken_challenger(tmp_path: Path) -> None:
    write_bundle(tmp_path / "models_published", planted_content("v1"))
    write_bundle(tmp_path / "challenger", planted_content("c1", swap_users=True))
    # a salt that puts alice in the challenger arm and bob in control (the documented hash)
    salt = next(f"s{i}" for i in range(1000)
                if _bucket(f"s{i}", "alice") < 0.5 <= _bucket(f"s{i}", "bob"))  # fmt: skip
    config = tmp_path / "experiment.toml"
    config.write_text(
        f'name = "swap"\nsalt = "{salt}"\nchallenger_bundle = "challenger/current"\n'
        "challenger_share = 0.5\n"
    )
    srv = ApiServer(tmp_path)
    try:
        alice = srv.get("/v1/users/alice/next-series").json()
        bob = srv.get("/v1/users/bob/next-series").json()
        assert (alice["variant"], alice["model_version"]) == ("challenger", "c1")
        assert ids_of(alice) == ["E-en", "D-en", "C-en", "B-en"]  # bob's taste
        assert (bob["variant"], bob["model_version"]) == ("control", "v1")
        # every user: the variant of the documented hash, deterministic across calls
        for user in [f"u{i}" for i in range(40)]:
            want = "challenger" if _bucket(salt, user) < 0.5 else "control"
            for _ in range(2):
                assert srv.get(f"/v1/users/{user}/next-series").json()["variant"] == want
        page = srv.get("/v1/users/alice/home").json()
        assert (page["variant"], page["model_version"]) == ("challenger", "c1")
        sim = srv.get("/v1/series/C-en/similar").json()
        assert (sim["variant"], sim["model_version"]) == ("control", "v1")
        info = srv.get("/v1/model").json()["experiment"]
        assert info == {"name": "swap", "salt": salt,
                        "challenger_bundle": str(tmp_path / "challenger/current"),
                        "challenger_share": 0.5, "running": True, "challenger_served": True,
                        "challenger_version": "c1", "problem": None}  # fmt: skip
        srv.wait_for(lambda: any(x.get("experiment") == "swap" for x in served_lines(tmp_path)))
        # the challenger goes missing: everyone gets control, and /v1/model and the log say so
        config.write_text(config.read_text().replace("challenger/current", "nowhere"))
        srv.wait_for(lambda: srv.get("/v1/model").json()["experiment"]["challenger_served"] is False)  # fmt: skip
        alice = srv.get("/v1/users/alice/next-series").json()
        assert (alice["variant"], alice["model_version"]) == ("control", "v1")
        problem = srv.get("/v1/model").json()["experiment"]["problem"]
        assert problem.startswith("challenger not served (everyone gets control): no bundle")
        assert "challenger not served" in srv.log()
        # a bad file: no experiment, said so
        config.write_text("name = 3\n")
        srv.wait_for(lambda: srv.get("/v1/model").json()["experiment"]["running"] is False)
        assert srv.get("/v1/users/alice/next-series").json()["variant"] == "default"
        config.unlink()
        srv.wait_for(lambda: srv.get("/v1/model").json()["experiment"] is None)
    finally:
        srv.stop()


def ids_of(body: dict) -> list[str]:
    return [i["series_id"] for i in body["items"]]


# --------------------------------------------------------------------------------------------
# docs that work offline


def test_docs_are_served_by_the_api(server: ApiServer) -> None:
    for page, assets in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
                         ("/redoc", ("redoc.standalone.js",))):  # fmt: skip
        resp = server.get(page)
        assert resp.status_code == 200
        assert "http://" not in resp.text and "https://" not in resp.text, resp.text
        for name in (*assets, "favicon.png"):
            assert f"/docs/assets/{name}" in resp.text
            asset = server.get(f"/docs/assets/{name}")
            assert asset.status_code == 200 and len(asset.content) > 1000, name
    assert server.get("/docs/assets/../../etc/passwd").status_code == 404
    assert server.get("/docs/assets/secret.js").status_code == 404


def test_activity_is_hot_reloaded(tmp_path: Path) -> None:
    root = tmp_path / "models_published"
    write_bundle(root, planted_content("v1"))
    srv = ApiServer(tmp_path)
    try:
        assert ids(srv.get("/v1/users/alice/next-series")) == ["B-en", "C-en", "D-en", "E-en"]
        planted_activity(root / "activity.parquet")
        srv.wait_for(lambda: ids(srv.get("/v1/users/alice/next-series")) == ["D-en", "E-en"])
        assert srv.get("/v1/model").json()["activity"] == {
            "as_of": "2026-12-01T10:00:00+00:00", "users": 3, "rows": 5, "problem": None}  # fmt: skip
        # a damaged file: the last good activity stays, and /v1/model says why
        (root / "activity.parquet").write_bytes(b"not parquet")
        srv.wait_for(lambda: srv.get("/v1/model").json()["activity"]["problem"] is not None)
        assert ids(srv.get("/v1/users/alice/next-series")) == ["D-en", "E-en"]
        os.unlink(root / "activity.parquet")
        srv.wait_for(lambda: ids(srv.get("/v1/users/alice/next-series")) == ["B-en", "C-en", "D-en", "E-en"])  # fmt: skip
    finally:
        srv.stop()
