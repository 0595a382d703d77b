"""The scoring kernel: served = evaluated, for every model and blend the pipeline can serve.

One shared test trains each model on a planted set, publishes it with the real bundle writer,
loads it the way the API does (``load_bundle`` + ``ServingModel.from_bundle``, as
serving/state.py) and checks that the API's list for every user is the offline list (the
evaluation's ``recommend_rows`` and the pipeline's ``batch_recommendations``): same series,
same order, same scores. Then each scorer against a hand computation on 3 users × 4 items,
the batch/single-user identity, the validation and the deterministic top-k.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from models import scoring
from models.bundle import POPULAR_SCHEMA, SERIES_SCHEMA, load_bundle, write_bundle
from models.evaluate import recommend_rows
from models.interactions import Matrix
from models.publish import bundle_content
from models.ranker import Ranker, train_booster, training_rows
from models.recommenders import Blend, HeadRerank, Recommender, item_similarity, make
from models.scoring import History, Scorer
from models.train import Served, batch_recommendations
from serving.model import ServingModel

# ---- a planted set with obvious answers ------------------------------------------------------
# 12 stories in two tastes: romance 0-5, revenge 6-11. 30 users of each taste started four
# consecutive stories of their own taste (rotating; confidences 1-3), so each user's two missing
# stories of their taste are the right answer. Stories 5 and 11 were started recently (trending).
N_USERS, N_ITEMS = 60, 12


def planted() -> Matrix:
    rows, cols, conf, ages = [], [], [], []
    for user in range(N_USERS):
        base = 0 if user < N_USERS // 2 else 6
        for j in range(4):
            item = base + (user + j) % 6
            rows.append(user)
            cols.append(item)
            conf.append(1.0 + (user + j) % 3)
            ages.append(0.5 if item in (5, 11) else 6.0 + j)
    shape = (N_USERS, N_ITEMS)
    X = sp.csr_matrix((np.array(conf, dtype=np.float32), (rows, cols)), shape=shape)
    age = sp.csr_matrix((np.array(ages, dtype=np.float32), (rows, cols)), shape=shape)
    return Matrix(
        X=X,
        users=np.array([f"u{i:02d}" for i in range(N_USERS)], dtype=object),
        items=np.array([f"st{i:02d}" for i in range(N_ITEMS)], dtype=object),
        age_days=age,
    )


SMALL = {"als": {"factors": 2, "iterations": 30}, "bpr": {"factors": 8, "iterations": 300},
         "item_knn": {"K": 10}, "ease": {"lambda": 1.0}, "popularity": {},
         "trending": {"half_life_days": 1.0}}  # fmt: skip
LEARNED = ("als", "bpr", "item_knn", "ease")
SERVED = [
    *LEARNED,
    "popularity",
    "trending",
    *(f"{m}+trending" for m in LEARNED),
    *(f"{m}>trending_head" for m in LEARNED),
    "ranker",
]
SOURCE = {"popularity": "popular"}  # what the API has always called these items
SERIES = [f"S{i:02d}-en" for i in range(N_ITEMS)]


@pytest.fixture(scope="module")
def train() -> Matrix:
    return planted()


@pytest.fixture(scope="module")
def fitted(train: Matrix) -> dict[str, Recommender]:
    return {**{name: make(name, SMALL[name]).fit(train) for name in SMALL},
            "ranker": trained_ranker(train)}  # fmt: skip


RANKER = {"trees": 20, "min_leaf": 5, "leaves": 7, "length": 5, "trending_top": 4,
          "popular_top": 4, "new_top": 2, "neighbours": 6, "ease_lambda": 1.0,
          "earlier_windows": 0}  # fmt: skip


def trained_ranker(train: Matrix) -> Ranker:
    """The two-stage ranker trained on the planted set (label: the user's missing stories of
    their taste), its lists precomputed for every user but the last five (the cheap path)."""
    stage = Ranker(params=dict(RANKER)).fit_stage1(train)
    rows, cols = [], []
    for user in range(N_USERS):
        taste = set(range(6)) if user < N_USERS // 2 else set(range(6, 12))
        for item in sorted(taste - set(train.X[user].indices)):
            rows.append(user)
            cols.append(item)
    truth = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=train.X.shape)
    sample = training_rows(stage, np.arange(N_USERS), truth, 10_000, 0)
    booster = train_booster(*sample[:3], stage.params)
    model = Ranker(params=dict(RANKER), booster=booster.model_to_string())
    model.rank_rows = np.arange(N_USERS - 5)
    return model.fit(train)


def build(case: str, fitted: dict[str, Recommender]) -> Recommender:
    """The served model of ``case``, built like models/evaluate.py builds blends."""
    if case == "ranker":
        return fitted["ranker"]
    if case.endswith(">trending_head"):
        base = fitted[case.removesuffix(">trending_head")]
        return HeadRerank(base=base, trending=fitted["trending"], params={"weight": 0.5, "head": 7})  # type: ignore[arg-type]
    if case.endswith("+trending"):
        base = fitted[case.removesuffix("+trending")]
        return Blend(base=base, trending=fitted["trending"], params={"weight": 0.3})  # type: ignore[arg-type]
    return fitted[case]


def tables(train: Matrix) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(users' main languages, the catalogue: one English version per story, popular lists)."""
    languages = pl.DataFrame({"user_id": list(train.users), "main_language": "en"})
    series = pl.DataFrame(
        [
            {"series_id": SERIES[i], "story_id": train.items[i], "story_index": i,
             "language": "en", "title": f"Story {i}", "genres": ["romance" if i < 6 else "revenge"],
             "production_type": "ai", "is_dubbed": False, "original_series_id": None}
            for i in range(N_ITEMS)
        ],
        schema=SERIES_SCHEMA,
    )  # fmt: skip
    starts = np.asarray((train.X > 0).sum(axis=0)).ravel()
    order = np.lexsort((np.arange(N_ITEMS), -starts))
    popular = pl.DataFrame(
        [("en", name, r + 1, SERIES[i], float(starts[i]))
         for name in ("popular", "trending") for r, i in enumerate(order)],
        schema=POPULAR_SCHEMA, orient="row",
    )  # fmt: skip
    return languages, series, popular


@pytest.mark.parametrize("case", SERVED)
def test_the_api_serves_exactly_the_offline_lists(
    case: str, train: Matrix, fitted: dict[str, Recommender], tmp_path: Path
) -> None:
    model = build(case, fitted)
    assert model.name == case
    t = dt.datetime(2026, 11, 25, 3, tzinfo=dt.UTC)
    served = Served(f"k-{case.replace('>', '-').replace('+', '-')}", case, model, train, False,
                    None, t, t - dt.timedelta(days=14), t)  # fmt: skip
    languages, series, popular = tables(train)
    content = bundle_content(served, languages, series, popular, item_similarity(train.X), {}, {})
    root = tmp_path / "models_published"
    write_bundle(root, content)
    api = ServingModel.from_bundle(load_bundle(root / "current"))  # as serving/state.py does

    rows = np.arange(N_USERS)
    offline_scores = model.score(rows, train.X)
    assert offline_scores.dtype == np.float32
    for k in (4, 8):  # 8 = every story a user has not started: the whole order
        offline = recommend_rows(model, rows, train.X, k=k)
        batch = batch_recommendations(served, languages, series, train.users, k=k)
        by_user = {u: part.sort("rank") for (u,), part in batch.group_by("user_id")}
        for row in rows:
            user = str(train.users[row])
            rec = api.recommend(user, k)
            assert rec.personalized and rec.language == "en"
            want = [SERIES[i] for i in offline[row]]
            assert [it.series_id for it in rec.items] == want, (case, user, k)
            assert [it.score for it in rec.items] == pytest.approx(
                offline_scores[row, offline[row]].tolist(), abs=1e-6
            ), (case, user)
            leaf = case.removesuffix(">trending_head").removesuffix("+trending")
            assert {it.source for it in rec.items} == {SOURCE.get(leaf, leaf)}
            assert by_user[user]["series_id"].to_list() == want, (case, user, k)
            assert by_user[user]["score"].to_list() == pytest.approx(
                offline_scores[row, offline[row]].tolist(), abs=1e-6
            )
    # and the planted answer: a learned model ranks the user's missing stories of their taste first
    if case in (*LEARNED, "ranker"):
        best = recommend_rows(model, rows, train.X, k=2)
        for row in rows[: N_USERS - 5] if case == "ranker" else rows:  # the ranker's listed users
            taste = set(range(6)) if row < N_USERS // 2 else set(range(6, 12))
            assert set(best[row]) == taste - set(train.X[row].indices), (case, row)


def test_the_bundle_stores_the_export(train: Matrix, fitted: dict[str, Recommender], tmp_path: Path) -> None:  # fmt: skip
    model = build("ease>trending_head", fitted)
    t = dt.datetime(2026, 11, 25, 3, tzinfo=dt.UTC)
    served = Served("v1", model.name, model, train, False, None, t, t, t)
    content = bundle_content(served, *tables(train), item_similarity(train.X), {}, {"ease": {"lambda": 1.0}})  # fmt: skip
    bundle = load_bundle(write_bundle(tmp_path, content))
    spec, arrays = model.export()
    assert bundle.scorer == spec
    assert bundle.manifest["scorer"] == {
        "scorer": "head_rerank", "model": "ease>trending_head",
        "params": {"weight": 0.5, "head": 7,
                   "base": {"scorer": "item_item", "model": "ease", "params": {"history": "binary"}}},
    }  # fmt: skip
    assert (bundle.manifest["model"], bundle.manifest["kind"]) == ("ease", "item_item")
    assert bundle.manifest["params"] == {"tuned": {"lambda": 1.0}}
    assert set(bundle.scorer_arrays) == {"item_item", "trending_scores"}
    for name, arr in arrays.items():
        np.testing.assert_array_equal(bundle.arrays[name], arr)
    np.testing.assert_array_equal(bundle.arrays["history_weights"], train.X.data)  # confidences


# ---- each scorer by hand: 3 users × 4 items ----------------------------------------------------

U = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
V = np.array([[1, 0], [0, 1], [2, 1], [0, 3]], dtype=np.float32)
B = np.array([[0, 1, 0, 2], [1, 0, 3, 0], [0, 0, 0, 1], [2, 0, 1, 0]], dtype=np.float32)
# user 0 started items 0 (confidence 2) and 2 (0.5), user 1 item 1 (3), user 2 nothing
HISTORY = sp.csr_matrix(
    (np.array([2.0, 0.5, 3.0], np.float32), ([0, 0, 1], [0, 2, 1])), shape=(3, 4)
)
TREND = np.array([0, 2, 4, 8], dtype=np.float32)  # scaled: 0, .25, .5, 1
FACTORS = Scorer("factors", "als")
BY_HAND = {
    "factors": (FACTORS, {"user_factors": U, "item_factors": V},
                [[1, 0, 2, 0], [0, 1, 1, 3], [1, 1, 3, 3]]),
    "item_item confidence": (Scorer("item_item", "item_knn", {"history": "confidence"}),
                             {"item_item": B},
                             # 2 × B[0] + 0.5 × B[2]; 3 × B[1]; no history
                             [[0, 2, 0, 4.5], [3, 0, 9, 0], [0, 0, 0, 0]]),
    "item_item binary": (Scorer("item_item", "ease", {"history": "binary"}), {"item_item": B},
                         [[0, 1, 0, 3], [1, 0, 3, 0], [0, 0, 0, 0]]),
    "list": (Scorer("list", "popularity"), {"item_scores": np.array([4, 1, 3, 2], np.float32)},
             [[4, 1, 3, 2]] * 3),
    # 0.75 × minmax(factors) + 0.25 × minmax(trend); minmax rows: [.5 0 1 0], [0 ⅓ ⅓ 1], [0 0 1 1]
    "blend": (Scorer("blend", "als+trending", {"weight": 0.25, "base": FACTORS}),
              {"user_factors": U, "item_factors": V, "trending_scores": TREND},
              [[0.375, 0.0625, 0.875, 0.25], [0, 0.3125, 0.375, 1], [0, 0.0625, 0.875, 1]]),
    # the 2 most trending items (3, 2) keep the blend; the others trend - 2, below them
    "head_rerank": (Scorer("head_rerank", "als>trending_head",
                           {"weight": 0.25, "head": 2, "base": FACTORS}),
                    {"user_factors": U, "item_factors": V, "trending_scores": TREND},
                    [[-2, -1.75, 0.875, 0.25], [-2, -1.75, 0.375, 1], [-2, -1.75, 0.875, 1]]),
    # listed items first in list order, scoring 1 + (length - rank) / length; the others by
    # the base (a list: 4 1 3 2, min-max scaled to 1 0 ⅔ ⅓); user 2 has no list
    "precomputed": (Scorer("precomputed", "ranker",
                           {"length": 2, "base": Scorer("list", "trending")}),
                    {"top_items": np.array([[2, -1], [3, 0], [-1, -1]], np.int32),
                     "item_scores": np.array([4, 1, 3, 2], np.float32)},
                    [[1, 0, 2, 1 / 3], [1.5, 0, 2 / 3, 2], [1, 0, 2 / 3, 1 / 3]]),
}  # fmt: skip


@pytest.mark.parametrize("name", BY_HAND)
def test_each_scorer_by_hand(name: str) -> None:
    spec, arrays, expected = BY_HAND[name]
    scoring.validate(spec, arrays, n_users=3, n_items=4)
    got = scoring.score(spec, arrays, [0, 1, 2], HISTORY)
    assert got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_allclose(got, np.array(expected, dtype=np.float32), rtol=0, atol=1e-6)
    # a batch in another order, with a repeat, and one user at a time: the same rows
    np.testing.assert_array_equal(scoring.score(spec, arrays, [2, 0, 2], HISTORY), got[[2, 0, 2]])
    kernel = scoring.bind(spec, arrays)
    for row in range(3):
        np.testing.assert_array_equal(kernel([row], History.of(HISTORY))[0], got[row])


def test_random_scorer_is_a_fixed_function_of_user_and_item() -> None:
    spec = Scorer("random", "random", {"seed": 7, "n_items": 50})
    got = scoring.score(spec, {}, np.arange(20))
    assert got.shape == (20, 50) and got.dtype == np.float32
    assert 0 <= got.min() and got.max() < 1 and len(np.unique(got)) > 900
    np.testing.assert_array_equal(scoring.score(spec, {}, [5]), got[[5]])
    other = Scorer("random", "random", {"seed": 8, "n_items": 50})
    assert not np.array_equal(scoring.score(other, {}, [5]), got[[5]])


def test_one_user_is_bit_for_bit_a_row_of_the_batch() -> None:
    """The API scores a batch of one; the pipeline a batch of thousands: identical floats."""
    rng = np.random.default_rng(0)
    n_users, n_items, f = 700, 300, 24
    users = rng.normal(size=(n_users, f)).astype(np.float32)
    items = rng.normal(size=(n_items, f)).astype(np.float32)
    history = sp.random(n_users, n_items, density=0.05, format="csr", random_state=1,
                        dtype=np.float32)  # fmt: skip
    history.data[:] = rng.uniform(0.25, 3, history.nnz).astype(np.float32)
    item_item = rng.normal(size=(n_items, n_items)).astype(np.float32)
    trend = rng.random(n_items).astype(np.float32)
    ease = Scorer("item_item", "ease", {"history": "binary"})
    cases = [
        (FACTORS, {"user_factors": users, "item_factors": items}),
        (ease, {"item_item": item_item}),
        (Scorer("item_item", "item_knn", {"history": "confidence"}), {"item_item": item_item}),
        (Scorer("blend", "als+trending", {"weight": 0.3, "base": FACTORS}),
         {"user_factors": users, "item_factors": items, "trending_scores": trend}),
        (Scorer("head_rerank", "ease>trending_head", {"weight": 0.3, "head": 40, "base": ease}),
         {"item_item": item_item, "trending_scores": trend}),
        (Scorer("list", "trending"), {"item_scores": trend}),
        (Scorer("random", "random", {"seed": 1, "n_items": n_items}), {}),
    ]  # fmt: skip
    rows = rng.permutation(n_users)[:500]
    hist = History.of(history)  # the API's form: the bundle's CSR arrays
    for spec, arrays in cases:
        kernel = scoring.bind(spec, arrays)
        batch = kernel(rows, history)
        single = np.stack([kernel([r], hist)[0] for r in rows])
        np.testing.assert_array_equal(batch, single, err_msg=spec.scorer)


# ---- the description and its validation --------------------------------------------------------


def test_specs_round_trip_through_json_and_name_their_source() -> None:
    for spec, _arrays, _expected in BY_HAND.values():
        assert Scorer.from_json(spec.to_json()) == spec
    head = BY_HAND["head_rerank"][0]
    assert (head.leaf, head.kind, head.source) == (FACTORS, "factors", "als")
    ranker = BY_HAND["precomputed"][0]  # its base is only the cheap path: the model is its own
    assert (ranker.leaf, ranker.kind, ranker.source) == (ranker, "precomputed", "ranker")
    assert Scorer("list", "popularity").source == "popular"
    assert (Scorer("list", "trending").source, Scorer("list", "trending").kind) == ("trending", "none")  # fmt: skip
    assert set(head.array_specs()) == {"user_factors", "item_factors", "trending_scores"}


@pytest.mark.parametrize(
    ("make_spec", "message"),
    [
        (lambda: Scorer("svd", "svd"), "unknown scorer 'svd'"),
        (
            lambda: Scorer("item_item", "ease"),
            "scorer 'item_item' takes params ['history'], got []",
        ),
        (lambda: Scorer("item_item", "ease", {"history": "log"}), "history must be one of"),
        (
            lambda: Scorer("blend", "b", {"weight": 1.5, "base": FACTORS}),
            "weight must be a number in [0, 1]",
        ),  # fmt: skip
        (
            lambda: Scorer("head_rerank", "h", {"weight": 0.5, "head": 0, "base": FACTORS}),
            "head must be an integer >= 1",
        ),  # fmt: skip
        (lambda: Scorer("factors", ""), "needs a model name"),
        (
            lambda: Scorer("blend", "bb", {"weight": 0.1, "base": BY_HAND["blend"][0]}),
            "uses an array name twice",
        ),
        (
            lambda: Scorer.from_json({"scorer": "factors", "params": {}}),
            "keys scorer, model, params",
        ),  # fmt: skip
        (
            lambda: Scorer.from_json(
                {
                    "scorer": "blend",
                    "model": "b",
                    "params": {"weight": 0.1, "base": {"scorer": "x", "model": "x", "params": {}}},
                }
            ),
            "unknown scorer 'x'",
        ),  # fmt: skip
    ],
)
def test_bad_specs_are_refused(make_spec, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=_re(message)):
        make_spec()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"user_factors": U}, "scorer kind 'factors' needs a 2-D item_factors array"),
        (
            {"user_factors": U, "item_factors": V, "item_item": B},
            "arrays ['item_item'] do not belong to scorer 'blend'",
        ),  # fmt: skip
        (
            {"user_factors": U, "item_factors": V[:, :1], "trending_scores": TREND},
            "item_factors has shape (4, 1), expected 4×2",
        ),  # fmt: skip
        (
            {"user_factors": U[:2], "item_factors": V, "trending_scores": TREND},
            "user_factors has shape (2, 2), expected 3×2",
        ),  # fmt: skip
        (
            {"user_factors": U, "item_factors": V, "trending_scores": TREND.astype(np.float64)},
            "trending_scores must be float32",
        ),  # fmt: skip
        (
            {
                "user_factors": U,
                "item_factors": V,
                "trending_scores": np.full(4, np.inf, np.float32),
            },
            "trending_scores holds NaN or infinite",
        ),  # fmt: skip
    ],
)
def test_validate_names_the_problem(arrays: dict, message: str) -> None:
    spec = BY_HAND["blend"][0]
    with pytest.raises(ValueError, match=_re(message)):
        scoring.validate(spec, arrays, n_users=3, n_items=4)
    with pytest.raises(ValueError, match=_re("n_items is 5, expected 4")):
        scoring.validate(Scorer("random", "random", {"seed": 0, "n_items": 5}), {}, 3, 4)


def _re(text: str) -> str:
    import re

    return re.escape(text)


# ---- top-k: one total order ---------------------------------------------------------------------


def test_top_k_breaks_ties_by_index_also_at_the_cut() -> None:
    scores = np.array([[1, 2, 2, 2, 0], [5, 5, 5, 5, 5]], dtype=np.float32)
    assert scoring.top_k(scores, 2).tolist() == [[1, 2], [0, 1]]
    assert scoring.top_k(scores[:1], 2).tolist() == [[1, 2]]
    rng = np.random.default_rng(3)
    for _ in range(200):  # ties everywhere: small integers; -inf for excluded items
        m, n = int(rng.integers(1, 6)), int(rng.integers(1, 30))
        s = rng.integers(0, 4, (m, n)).astype(np.float32)
        s[rng.random((m, n)) < 0.2] = -np.inf
        k = int(rng.integers(1, n + 2))
        want = np.array([np.lexsort((np.arange(n), -row))[: min(k, n)] for row in s])
        assert scoring.top_k(s, k).tolist() == want.tolist()
        for r in range(m):  # the API's 1-row path
            assert scoring.top_k(s[r : r + 1], k).tolist() == want[r : r + 1].tolist()


def test_precomputed_lists_must_hold_item_indices() -> None:
    spec, arrays, _expected = BY_HAND["precomputed"]
    bad = {**arrays, "top_items": np.array([[4, -1], [0, 1], [-1, -1]], np.int32)}
    with pytest.raises(ValueError, match=_re("top_items must be item indices in 0..3 or -1")):
        scoring.validate(spec, bad, n_users=3, n_items=4)
    with pytest.raises(ValueError, match=_re("length is 2, expected 3")):
        wide = {**arrays, "top_items": np.full((3, 3), -1, np.int32)}
        scoring.validate(spec, wide, n_users=3, n_items=4)


def test_the_ranker_fast_path_is_the_full_path(
    train: Matrix, fitted: dict[str, Recommender], tmp_path: Path
) -> None:
    """The API answers a ``precomputed`` model's known users from their stored lists when at
    least ``k`` listed stories survive the request's filters (started, excluded, no version in
    the language), without scoring the catalogue — and gives exactly what the full kernel
    gives; with fewer it falls back to the kernel (and fills the list)."""
    model = fitted["ranker"]
    t = dt.datetime(2026, 11, 25, 3, tzinfo=dt.UTC)
    served = Served("k-fast", "ranker", model, train, False, None, t, t - dt.timedelta(days=14), t)
    languages, series, popular = tables(train)
    # a Spanish version of the even stories: asking for "es" blanks out the odd ones
    dubs = series.filter(pl.col("story_index") % 2 == 0).with_columns(
        ("es-" + pl.col("series_id")).alias("series_id"), pl.lit("es").alias("language"),
        pl.lit(True).alias("is_dubbed"), pl.col("series_id").alias("original_series_id"),
    )  # fmt: skip
    popular = pl.concat([popular, popular.filter(pl.col("series_id").is_in(dubs["original_series_id"].implode()))
                         .with_columns(pl.lit("es").alias("language"), ("es-" + pl.col("series_id")).alias("series_id"))])  # fmt: skip
    content = bundle_content(served, languages, pl.concat([series, dubs]), popular,
                             item_similarity(train.X), {}, {})  # fmt: skip
    fast = ServingModel.from_bundle(load_bundle(write_bundle(tmp_path, content)))
    assert fast.top_items is not None and fast.top_items.shape == (N_USERS, 5)
    full = ServingModel.from_bundle(load_bundle(tmp_path / "current"))
    full.top_items = None  # the kernel on every request

    calls = []
    kernel = fast.kernel

    def counted(rows, history):  # noqa: ANN001, ANN202
        calls.append(rows)
        return kernel(rows, history)

    fast.kernel = counted
    rng = np.random.default_rng(7)
    answered_fast = fell_back = 0
    for row in range(N_USERS):
        user = str(train.users[row])
        started = set(train.X[row].indices.tolist())
        for language in ("en", "es"):
            for k in (1, 2, 3, 5):
                exclude = rng.choice(N_ITEMS, size=int(rng.integers(0, 3)), replace=False)
                calls.clear()
                got = fast.recommend(user, k, language, exclude=exclude.astype(np.int64))
                want = full.recommend(user, k, language, exclude=exclude.astype(np.int64))
                assert got == want, (user, language, k, exclude)
                # the fast path applies exactly when k listed stories survive the filters
                listed = [s for s in fast.top_items[row].tolist() if s >= 0]
                odd_ok = language == "en"
                left = [s for s in listed if s not in started and s not in set(exclude.tolist())
                        and (odd_ok or s % 2 == 0)]  # fmt: skip
                if len(left) >= k:
                    assert calls == [], (user, language, k)
                    answered_fast += 1
                    assert [it.series_id for it in got.items] == [
                        (SERIES[s] if odd_ok else f"es-{SERIES[s]}") for s in left[:k]
                    ]
                else:
                    assert len(calls) == 1
                    fell_back += 1
    # both paths ran many times: the listed users mostly fast, the last five always the kernel
    assert answered_fast > 200 and fell_back > 40, (answered_fast, fell_back)
