"""The recommender: one shared suite for every model, metrics by hand, the split, the gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from models.interactions import Matrix
from models.metrics import coverage, per_user_metrics, top_k
from models.recommenders import REGISTRY, make

# ---- a tiny matrix with planted structure ------------------------------------------------------
# 10 stories in two tastes: romance 0-4, revenge 5-9. 40 users of each taste started three
# stories of their own taste (rotating), so every user's two missing stories of their taste
# are the obvious answer (two tastes: two factors suffice for ALS). Story 0 is the most started of all; story 9 is the most recent.
N_ITEMS = 10


def planted() -> Matrix:
    rows, cols, ages = [], [], []
    for user in range(80):
        base = 0 if user < 40 else 5
        chosen = [base + (user + j) % 5 for j in range(3)]
        if user % 4 == 0 and base == 0:
            chosen = [0, 1, 2]  # makes story 0 the most popular overall
        for item in chosen:
            rows.append(user)
            cols.append(item)
            ages.append(0.5 if item == 9 else 10.0)
    shape = (80, N_ITEMS)
    X = sp.csr_matrix((np.full(len(rows), 2.0, dtype=np.float32), (rows, cols)), shape=shape)
    age = sp.csr_matrix((np.array(ages, dtype=np.float32), (rows, cols)), shape=shape)
    users = np.array([f"u{i:02d}" for i in range(80)])
    items = np.array([f"s{i}" for i in range(N_ITEMS)])
    return Matrix(X=X, users=users, items=items, age_days=age)


LEARNED = ["als", "bpr", "item_knn", "ease"]
SMALL = {"als": {"factors": 2, "iterations": 30}, "bpr": {"factors": 8, "iterations": 300},
         "item_knn": {"K": 10}, "ease": {"lambda": 1.0}}  # fmt: skip


@pytest.mark.parametrize("name", LEARNED)
def test_learned_models_recommend_the_missing_stories_of_the_users_taste(name: str) -> None:
    train = planted()
    model = make(name, SMALL[name]).fit(train)
    rows = np.arange(80)
    best = top_k(model.score(rows, train.X), 2, exclude=train.X)
    started = [set(train.X[u].indices) for u in rows]
    for user in rows:
        taste = set(range(5)) if user < 40 else set(range(5, 10))
        assert set(best[user]) == taste - started[user], (name, user)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_model_scores_every_item_and_never_recommends_history(name: str) -> None:
    train = planted()
    model = make(name).fit(train)
    scores = model.score(np.array([0, 41]), train.X)
    assert scores.shape == (2, N_ITEMS)
    assert np.isfinite(scores).all()
    best = top_k(scores, 7, exclude=train.X[[0, 41]])
    assert not set(best[0]) & set(train.X[0].indices)
    assert not set(best[1]) & set(train.X[41].indices)


def test_popularity_and_trending_baselines() -> None:
    train = planted()
    pop = make("popularity").fit(train)
    counts = np.asarray((train.X > 0).sum(axis=0)).ravel()
    assert np.array_equal(pop.item_scores, counts.astype(np.float32))
    assert top_k(pop.score(np.array([50]), train.X), 1)[0, 0] == 0
    trend = make("trending", {"half_life_days": 1.0}).fit(train)
    # story 9's starts are half a day old, every other start ten days: it leads
    assert top_k(trend.score(np.array([50]), train.X), 1)[0, 0] == 9
    n9 = counts[9]
    assert trend.item_scores[9] == pytest.approx(n9 * 2**-0.5, rel=1e-5)


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown model 'svd'"):
        make("svd")


# ---- metrics by hand ---------------------------------------------------------------------------


def test_ranking_metrics_by_hand() -> None:
    # user 0: list [3, 1, 7], truth {1, 7, 9}: hits at ranks 2 and 3
    # user 1: list [2, 4, 5], truth {8}: no hit
    recommended = np.array([[3, 1, 7], [2, 4, 5]])
    truth = sp.csr_matrix(([1, 1, 1, 1], ([0, 0, 0, 1], [1, 7, 9, 8])), shape=(2, 10))
    m = per_user_metrics(recommended, truth, k=3)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["precision"].tolist() == pytest.approx([2 / 3, 0])
    assert m["recall"].tolist() == pytest.approx([2 / 3, 0])
    assert m["hit_rate"].tolist() == [1.0, 0.0]
    assert m["ndcg"].tolist() == pytest.approx([dcg / idcg, 0])
    assert m["map"].tolist() == pytest.approx([(1 / 2 + 2 / 3) / 3, 0])
    # recall counts every relevant item; MAP and NDCG cap the ideal at k
    m = per_user_metrics(np.array([[1, 7]]), truth[:1], k=2)
    assert m["recall"].tolist() == pytest.approx([2 / 3])
    assert m["ndcg"].tolist() == pytest.approx([1.0])
    assert m["map"].tolist() == pytest.approx([1.0])


def test_top_k_is_deterministic_and_excludes() -> None:
    scores = np.array([[0.5, 0.9, 0.9, 0.1, 0.9]])
    exclude = sp.csr_matrix(([1], ([0], [2])), shape=(1, 5))
    assert top_k(scores, 3, exclude=exclude).tolist() == [[1, 4, 0]]


def test_coverage() -> None:
    est = coverage(np.array([[0, 1], [1, 2], [2, 3]]), n_items=8)
    assert est.value == 0.5
    assert est.ci_low <= est.value <= est.ci_high


def test_als_fold_in_of_a_new_user_follows_their_history() -> None:
    """Cold start: a user unknown to the model, known by the series they just watched."""
    train = planted()
    model = make("als", SMALL["als"]).fit(train)
    history = sp.csr_matrix(([2.0, 2.0], ([0, 0], [6, 7])), shape=(1, N_ITEMS), dtype=np.float32)
    factors = model.fold_in(history)
    scores = factors @ model.item_factors.T
    best = top_k(scores, 3, exclude=history)
    assert set(best[0]) == {5, 8, 9}  # the rest of the revenge stories


def test_model_versions_are_directory_safe() -> None:
    import datetime as dt

    from models.train import model_version

    now = dt.datetime(2026, 11, 26, 15, 2, 17, tzinfo=dt.UTC)
    assert model_version("ease>trending_head", now) == "20261126T150217Z-ease-trending_head"
    assert model_version("als+trending", now) == "20261126T150217Z-als-trending"
