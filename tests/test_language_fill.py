"""Short lists filled from the user's other languages, then the catalogue's; locale tags.

CONTRACT §4: when fewer than k series remain in the asked language, the list is filled from
the user's other watched languages, then the catalogue's most watched language, each such item
saying so in its ``reason``; never a language version of a story already started. The
pipeline's batch lists and the API fill the same way (``models.lists``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from models.bundle import POPULAR_SCHEMA, SERIES_SCHEMA, load_bundle, write_bundle
from models.interactions import Matrix
from models.lists import language_order, normalize_language, rank_by_language
from models.publish import bundle_content
from models.recommenders import item_similarity, make
from models.train import Served, batch_recommendations
from serving.model import ServingModel

LANGS = ("en", "es", "ko")
N_STORIES, N_USERS = 30, 60


def catalogue(rng: np.random.Generator) -> pl.DataFrame:
    """30 stories; every story in 1-3 languages: en for 9 of them, es for 20, ko for 25."""
    rows = []
    have = {"en": set(range(9)), "es": set(range(5, 25)), "ko": set(range(30)) - {0, 1, 2, 3, 4}}
    for s in range(N_STORIES):
        langs = [lang for lang in LANGS if s in have[lang]]
        for i, lang in enumerate(langs):
            rows.append({
                "series_id": f"S{s:02d}-{lang}", "story_id": f"st{s:02d}", "story_index": s,
                "language": lang, "title": f"S{s}", "genres": ["romance"],
                "production_type": "ai", "is_dubbed": i > 0,
                "original_series_id": None if i == 0 else f"S{s:02d}-{langs[0]}",
            })  # fmt: skip
    return pl.DataFrame(rows, schema=SERIES_SCHEMA)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    rng = np.random.default_rng(4)
    series = catalogue(rng)
    rows, cols = [], []
    for u in range(N_USERS):  # 2-9 stories each; some users have started most English ones
        n = int(rng.integers(2, 10))
        rows += [u] * n
        cols += rng.choice(N_STORIES, n, replace=False).tolist()
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(N_USERS, N_STORIES))
    ages = sp.csr_matrix((rng.uniform(0, 5, len(rows)).astype(np.float32), (rows, cols)),
                         shape=X.shape)  # fmt: skip
    users = np.array([f"u{i:02d}" for i in range(N_USERS)], dtype=object)
    train = Matrix(X=X, users=users, items=np.array([f"st{s:02d}" for s in range(N_STORIES)],
                                                    dtype=object), age_days=ages)  # fmt: skip
    model = make("ease", {"lambda": 5.0}).fit(train)
    main = [LANGS[u % 3] for u in range(N_USERS)]
    watched = [[main[u]] + ([LANGS[(u + 1) % 3]] if u % 2 else []) for u in range(N_USERS)]
    languages = pl.DataFrame({"user_id": list(users), "main_language": main,
                              "watched_languages": watched})  # fmt: skip
    popular = pl.DataFrame(
        [(r["language"], "trending", 1 + i, r["series_id"], float(100 - i))
         for i, r in enumerate(series.sort("story_index").iter_rows(named=True))],
        schema=POPULAR_SCHEMA, orient="row",
    ).with_columns(rank=pl.col("rank").rank("ordinal").over("language").cast(pl.Int32))  # fmt: skip
    t = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    served = Served("fill-1", "ease", model, train, False, None, t, t, t)
    content = bundle_content(served, languages, series, popular, item_similarity(X), {}, {},
                             most_watched_language="ko")  # fmt: skip
    root = tmp_path_factory.mktemp("fill") / "models_published"
    write_bundle(root, content)
    api = ServingModel.from_bundle(load_bundle(root / "current"))
    batch = batch_recommendations(served, languages, series, users, k=10,
                                  catalogue_language="ko")  # fmt: skip
    return train, series, languages, api, batch


def test_filled_lists_never_repeat_a_started_story_in_any_language(world) -> None:  # noqa: ANN001
    train, series, languages, api, _batch = world
    story_of = dict(zip(series["series_id"], series["story_index"], strict=True))
    has = {lang: set(series.filter(pl.col("language") == lang)["story_index"]) for lang in LANGS}
    short = 0
    for row, user in enumerate(train.users):
        started = set(train.X[row].indices.tolist())
        watched = languages["watched_languages"][row].to_list()
        for asked in (None, *LANGS):
            rec = api.recommend(str(user), 10, asked)
            lang = rec.language
            stories = [story_of[it.series_id] for it in rec.items]
            assert not set(stories) & started, (user, asked)
            assert len(stories) == len(set(stories))
            order = language_order(lang, [w for w in watched if w != lang], "ko")
            reachable = set().union(*(has[x] for x in order)) - started
            assert len(stories) == min(10, len(reachable))
            # the asked language first, then the user's languages, then the catalogue's
            ranks = [order.index(it.language) for it in rec.items]
            assert ranks == sorted(ranks)
            own = len(has[lang] - started)
            assert all(it.language == lang for it in rec.items[: min(own, 10)])
            for it in rec.items:
                assert it.series_id.endswith("-" + it.language)
                if it.language == lang:
                    assert it.reason == "picked for you"
                else:
                    short += 1
                    why = "another language you watch" if it.language in watched else (
                        "the most watched language")  # fmt: skip
                    assert it.reason == f"in {it.language}, {why}: few series left in {lang}"
    assert short > 40  # the catalogue makes many lists short: the fill is exercised


def test_the_batch_lists_are_the_apis_filled_lists(world) -> None:  # noqa: ANN001
    train, _series, _languages, api, batch = world
    by_user = {u: part.sort("rank") for (u,), part in batch.group_by("user_id")}
    filled = 0
    for user in train.users:
        rec = api.recommend(str(user), 10)
        got = by_user[str(user)]
        assert got["series_id"].to_list() == [it.series_id for it in rec.items]
        assert got["language"].to_list() == [it.language for it in rec.items]
        assert got["reason"].to_list() == [it.reason for it in rec.items]
        assert got["score"].to_list() == pytest.approx([it.score for it in rec.items], abs=1e-6)
        filled += sum(it.language != rec.language for it in rec.items)
    assert filled > 20


def test_unknown_users_short_lists_fill_from_the_catalogues_language(world) -> None:  # noqa: ANN001
    _train, _series, _languages, api, _batch = world
    rec = api.recommend("nobody", 15, "en")  # 9 English stories: 6 Korean ones after them
    assert [it.language for it in rec.items] == ["en"] * 9 + ["ko"] * 6
    assert rec.items[-1].reason == "in ko, the most watched language: few series left in en"
    stories = [int(it.series_id[1:3]) for it in rec.items]
    assert len(set(stories)) == 15


def test_rank_by_language_by_hand() -> None:
    scores = np.array([5, -np.inf, 3, 9, 1, 7], dtype=np.float32)  # story 1 started
    en = np.array([1, 1, 1, 0, 0, 0], bool)
    es = np.array([0, 1, 1, 1, 1, 0], bool)
    ko = np.array([1, 1, 1, 1, 1, 1], bool)
    stories, tier = rank_by_language(scores, 5, [en, es, ko])
    assert stories.tolist() == [0, 2, 3, 4, 5] and tier.tolist() == [0, 0, 1, 1, 2]
    stories, tier = rank_by_language(scores, 1, [en, es, ko])
    assert stories.tolist() == [0] and tier.tolist() == [0]
    assert scores[1] == -np.inf and scores[0] == 5  # the caller's scores are left alone
    assert language_order(1, [1, 2, 0], 2) == [1, 2, 0]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("en", "en"), ("EN", "en"), ("pt-BR", "pt"), ("pt_br", "pt"), ("zh-Hant-TW", "zh"),
     ("es-419", "es"), ("PT-br", "pt"), ("fr", None), ("fr-CA", None), ("pt-BR-x", "pt")],
)  # fmt: skip
def test_locale_tags_are_normalized(tag: str, expected: str | None) -> None:
    assert normalize_language(tag, ["en", "es", "pt", "zh"]) == expected
    # a catalogue that has the regional language keeps it
    assert normalize_language("pt-BR", ["pt-BR", "en"]) == "pt-BR"
    assert normalize_language("pt-br", ["pt-BR", "en"]) == "pt-BR"


def test_the_api_accepts_locale_tags(tmp_path: Path) -> None:
    from models.bundle import write_bundle as write
    from tests.serving_support import ApiServer, planted_content

    write(tmp_path / "models_published", planted_content("v1"))
    server = ApiServer(tmp_path)
    try:
        plain = server.get("/v1/users/alice/next-series", params={"language": "es"}).json()
        for tag in ("ES", "es-MX", "es_419", "Es-es"):
            resp = server.get("/v1/users/alice/next-series", params={"language": tag})
            assert resp.status_code == 200, resp.text
            assert resp.json()["language"] == "es" and resp.json()["items"] == plain["items"]
        resp = server.get("/v1/users/alice/next-series", params={"language": "fr-CA"})
        assert resp.status_code == 422
        assert resp.json()["detail"] == "unknown language code 'fr-CA': the catalogue has en, es"
        item = plain["items"][0]
        assert (item["language"], item["reason"]) == ("es", "picked for you")
        filled = plain["items"][-1]  # D has no Spanish version: filled from English
        assert (filled["series_id"], filled["language"]) == ("D-en", "en")
        assert filled["reason"] == "in en, another language you watch: few series left in es"
    finally:
        server.stop()


def test_watched_languages_follow_the_user_index_in_any_table_order(world) -> None:  # noqa: ANN001
    train, _series, languages, api, _batch = world
    bundle_users = pl.DataFrame({
        "user_id": list(train.users), "user_index": np.arange(N_USERS, dtype=np.int32),
        "main_language": languages["main_language"],
        "watched_languages": languages["watched_languages"],
    }).sample(fraction=1.0, shuffle=True, seed=3)  # fmt: skip
    arrays = {"history_indptr": api.indptr, "history_indices": api.indices,
              "history_weights": api.history.weights, "similarity": api.similarity,
              "item_item": np.zeros((N_STORIES, N_STORIES), np.float32)}  # fmt: skip
    series = pl.DataFrame({"series_id": api.series_ids.tolist(),
                           "story_index": api.series_story,
                           "language": [api.languages[c] for c in api.series_lang]})  # fmt: skip
    popular = pl.DataFrame(schema=POPULAR_SCHEMA)
    again = ServingModel(api.manifest, series, popular, bundle_users, arrays)
    for row in range(N_USERS):
        assert again.watched(row) == api.watched(row)
        want = [LANGS.index(x) for x in languages["watched_languages"][row]]
        assert [again.languages.index(api.languages[c]) for c in api.watched(row)] == want
