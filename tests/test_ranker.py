"""The two-stage ranker: it learns a planted taste no single model sees, out of sample."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from models.evaluate import Split, evaluate
from models.interactions import build_matrix, story_info_of
from models.ranker import FEATURES, Ranker, cross_fit, earlier_window, list_ndcg
from models.recommenders import make

DAY0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
N_DAYS, N_CLASSICS, N_USERS = 10, 25, 400
# stories: 0..24 classics (released long ago), 25 + d released on day d (d = 0..9)
NEW = N_CLASSICS
N_STORIES = N_CLASSICS + N_DAYS
PARAMS = {"trees": 60, "min_leaf": 20, "leaves": 7, "earlier_windows": 2, "length": 10,
          "trending_top": 10, "popular_top": 10, "new_top": 5, "neighbours": 10,
          "ease_lambda": 10.0}  # fmt: skip


def starts() -> pl.DataFrame:
    """Half the users (even ids) start the newest release every day, a few hours after it
    comes out; the others start a classic a day, drawn by their own taste (two taste groups
    of classics, popular ones more often)."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(N_USERS):
        taste = np.arange(N_CLASSICS) % 2 == (u // 2) % 2
        weights = np.where(taste, 1.0, 0.1) / (1 + np.arange(N_CLASSICS)) ** 0.5
        weights /= weights.sum()
        order = rng.choice(N_CLASSICS, N_DAYS, replace=False, p=weights)
        for d in range(N_DAYS):
            when = DAY0 + dt.timedelta(days=d, hours=float(rng.uniform(2, 20)))
            story = NEW + d if u % 2 == 0 else int(order[d])
            rows.append((f"u{u:03d}", f"st{story:02d}", when))
    return pl.DataFrame(rows, schema={"user_id": pl.String, "story_id": pl.String,
                                      "ts": pl.Datetime("us", "UTC")}, orient="row")  # fmt: skip


ITEMS = np.array([f"st{s:02d}" for s in range(N_STORIES)], dtype=object)
RELEASES = pl.DataFrame({
    "story_id": list(ITEMS),
    "release_date": [dt.date(2025, 1, 1)] * N_CLASSICS
    + [(DAY0 + dt.timedelta(days=d)).date() for d in range(N_DAYS)],
    "langs": [["en"]] * N_STORIES,
    "genres": [["drama"]] * N_STORIES,  # nothing but the release date tells new from old
})  # fmt: skip


def split_at(frame: pl.DataFrame, day: int) -> Split:
    cut = DAY0 + dt.timedelta(days=day)
    end = cut + dt.timedelta(days=1)
    before = frame.filter(pl.col("ts") < cut)
    pairs = before.group_by("user_id", "story_id").agg(
        first=pl.col("ts").min(), last=pl.col("ts").max()
    )
    interactions = pairs.select(
        "user_id", "story_id", episodes_viewed=pl.lit(3), episodes_completed=pl.lit(2),
        unlocks=pl.lit(0), liked=pl.lit(False), language=pl.lit("en"),
        age_days=(pl.lit(cut) - pl.col("last")).dt.total_seconds() / 86400,
        first_age_days=(pl.lit(cut) - pl.col("first")).dt.total_seconds() / 86400,
    )  # fmt: skip
    info = story_info_of(RELEASES, ITEMS)
    train = build_matrix(interactions, ITEMS, as_of=cut, stories=info)
    row = {u: i for i, u in enumerate(train.users.tolist())}
    col = {s: i for i, s in enumerate(ITEMS.tolist())}
    new = frame.filter((pl.col("ts") >= cut) & (pl.col("ts") < end)).join(
        before.select("user_id", "story_id"), on=["user_id", "story_id"], how="anti"
    )
    pick = [(row[u], col[s]) for u, s in new.select("user_id", "story_id").iter_rows() if u in row]
    truth = sp.csr_matrix((np.ones(len(pick), np.float32),
                           ([p[0] for p in pick], [p[1] for p in pick])), shape=train.X.shape)  # fmt: skip
    scored = np.flatnonzero(np.diff(truth.indptr) > 0)
    return Split("test" if day == N_DAYS - 1 else "validation", cut, end, train, truth, scored)


@pytest.fixture(scope="module")
def splits() -> tuple[Split, Split]:
    frame = starts()
    return split_at(frame, N_DAYS - 2), split_at(frame, N_DAYS - 1)


def test_the_ranker_learns_that_some_users_always_start_the_newest_release(splits) -> None:  # noqa: ANN001
    val, test = splits
    ranker = Ranker(params=dict(PARAMS)).fit_stage1(val.train)
    fitted = cross_fit(ranker, val.scored, val.truth, length=1.0)
    assert fitted.candidate_recall > 0.9
    served = Ranker(params=dict(PARAMS), booster=fitted.booster)
    served.rank_rows = test.scored
    result = evaluate(served, test)
    fresh = np.array([int(test.train.users[r][1:]) % 2 == 0 for r in test.scored])
    newest = NEW + N_DAYS - 1  # released at the test cut: no start before it, no trend
    top1 = result.recommended[:, 0]
    assert (top1[fresh] == newest).mean() > 0.9
    assert (top1[~fresh] == newest).mean() < 0.1  # the others are not sent to it
    # no single model sees it: trending and EASE rank what was started before the cut
    for name, params in (("trending", {"half_life_days": 0.5}), ("ease", {"lambda": 10.0})):
        other = evaluate(make(name, params), test)
        assert (other.recommended[fresh, 0] == newest).mean() < 0.2, name
        assert result.metrics["ndcg"].value > other.metrics["ndcg"].value + 0.2, name
    importance = dict(zip(FEATURES, fitted.booster.feature_importance("gain"), strict=True))
    assert importance["user_freshness_days"] > 0  # what tells the two kinds of users apart


def test_the_validation_score_is_out_of_fold(splits) -> None:  # noqa: ANN001
    """Each validation user is ranked by the booster that never saw their label."""
    val, _test = splits
    ranker = Ranker(params={**PARAMS, "earlier_windows": 0}).fit_stage1(val.train)
    fitted = cross_fit(ranker, val.scored, val.truth, length=1.0)
    lists = ranker.top_items[val.scored]
    assert (lists[:, 0] >= 0).all()
    # lists exist only for the users asked for; nobody's list holds a started story
    others = np.setdiff1d(np.arange(val.train.X.shape[0]), val.scored)
    assert (ranker.top_items[others] == -1).all()
    for i, row in enumerate(val.scored):
        assert not set(lists[i][lists[i] >= 0]) & set(val.train.X[row].indices)
    assert fitted.sample_rows > 0


def test_an_earlier_window_is_carved_from_the_history_before_it(splits) -> None:  # noqa: ANN001
    val, _test = splits
    window = earlier_window(val.train, 1.0, 1.0)
    assert window is not None
    matrix, truth, rows = window
    assert matrix.as_of == val.cut - dt.timedelta(days=1)
    # the history holds exactly the interactions first started more than a day before the cut
    first = val.train.side["first_age"]
    assert matrix.X.nnz == int((first > 1.0).sum())
    assert truth.nnz == int(((first <= 1.0) & (first > 0.0)).sum())
    assert not (matrix.X.multiply(truth)).nnz
    assert (matrix.age_days.data > 0).all() and len(rows) > 0
    assert earlier_window(val.train, N_DAYS * 2.0, 1.0) is None  # nothing left before it


def test_list_ndcg_by_hand() -> None:
    """Binary-gain NDCG@k of ranked lists; -1 (no item) never counts as a hit."""
    lists = np.array([[2, 0, -1], [1, -1, -1]], dtype=np.int32)
    truth = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0]], dtype=np.float32))
    # user 0: a hit at rank 2 of one relevant item; user 1: a hit at rank 1 of two (item 0,
    # also relevant, is where a -1 would land if it were read as an index)
    user0 = 1 / np.log2(3)
    user1 = 1 / (1 + 1 / np.log2(3))
    assert list_ndcg(lists, np.array([0, 1]), truth, k=3) == pytest.approx((user0 + user1) / 2)


def test_the_cross_fit_keeps_the_booster_settings_best_out_of_fold(splits) -> None:  # noqa: ANN001
    """Of a one-split stump and the tuned settings, the cross-fit keeps (and records) the
    settings whose out-of-fold validation lists score higher — here the real model's."""
    val, _test = splits
    stump = {"trees": 1, "leaves": 2, "min_leaf": 1000, "objective": "lambdarank"}
    ranker = Ranker(params={**PARAMS, "booster_grid": [stump, {}]}).fit_stage1(val.train)
    cross_fit(ranker, val.scored, val.truth, length=1.0)
    assert {k: ranker.params[k] for k in ("trees", "leaves", "min_leaf", "objective")} == {
        "trees": 60, "leaves": 7, "min_leaf": 20, "objective": "binary"}  # fmt: skip
    alone = Ranker(params={**PARAMS, "booster_grid": [stump]}).fit_stage1(val.train)
    cross_fit(alone, val.scored, val.truth, length=1.0)
    assert alone.params["trees"] == 1
    assert list_ndcg(ranker.top_items, val.scored, val.truth) > list_ndcg(
        alone.top_items, val.scored, val.truth
    )


def test_the_grid_is_compared_on_a_subset_and_the_booster_trains_on_every_row(
    splits,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """Above ``tune_rows`` the settings are compared on whole groups of a subset of the
    sampled users; the final booster still trains on every sampled row."""
    import models.ranker as ranker_module

    val, _test = splits
    seen: list[int] = []
    real = ranker_module.train_booster

    def recording(features, labels, groups, params):  # noqa: ANN001, ANN202
        assert groups.sum() == len(labels) == len(features)  # whole groups only
        seen.append(len(labels))
        return real(features, labels, groups, params)

    monkeypatch.setattr(ranker_module, "train_booster", recording)
    everything = Ranker(params={**PARAMS, "booster_grid": [{}]}).fit_stage1(val.train)
    full = cross_fit(everything, val.scored, val.truth, length=1.0)
    untuned = list(seen)
    assert untuned[-1] == full.sample_rows  # the final booster: every row
    seen.clear()
    cap = full.sample_rows // 4
    small = Ranker(params={**PARAMS, "booster_grid": [{}], "tune_rows": cap}).fit_stage1(val.train)
    part = cross_fit(small, val.scored, val.truth, length=1.0)
    assert part.sample_rows == full.sample_rows and seen[-1] == full.sample_rows
    # the two fold boosters of the grid saw about a quarter of the rows each time
    assert sum(seen[:2]) < sum(untuned[:2]) / 3 and all(n > 0 for n in seen[:2])
    assert list_ndcg(small.top_items, val.scored, val.truth) > 0.5 * list_ndcg(
        everything.top_items, val.scored, val.truth
    )
