"""Honest offline evaluation: a time split, the full catalog ranked, CIs over users.

The windows fit the history (:func:`windows`): the test period is the last ``test_days``
before the data end — by default (``auto``) about the last 20 % of the span, at least one
day and at most a week. Hyperparameters, blend weights and the baselines' half-life and
window are chosen on a validation period that ends where the test period begins (as long as
the test period, or half the history before it if that is shorter), trained on the data
before it. Nothing at or after a cut is used to train for it. The candidate is chosen on
validation; the test period only decides, by a paired bootstrap over its users, whether the
candidate beats the best baseline (:func:`gate`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl
import scipy.sparse as sp

from core.config import AUTO_TEST_DAYS_MAX, parse_test_days
from models import scoring
from models.interactions import (
    DEFAULT_WEIGHTS,
    InteractionWeights,
    Matrix,
    StoryInfo,
    build_matrix,
    load_interactions,
    story_info,
)
from models.metrics import (
    PER_USER,
    Estimate,
    bootstrap_mean,
    coverage,
    paired_difference,
    per_user_metrics,
    top_k,
)
from models.ranker import (
    BOOSTER_KEYS,
    Ranker,
    cross_fit,
    lightgbm_available,
    train_booster,
    training_rows,
)
from models.ranker import DEFAULT_PARAMS as RANKER_DEFAULTS
from models.recommenders import BASELINES, Blend, HeadRerank, Recommender, make

K = 10
HOUR = 1 / 24
GRID: dict[str, list[dict]] = {
    "als": [{"factors": f, "alpha": a} for f, a in itertools.product((32, 64), (1.0, 5.0))],
    "bpr": [{"learning_rate": lr} for lr in (0.05, 0.1)],
    "item_knn": [{"K": k} for k in (50, 200)],
    "ease": [{"lambda": lam} for lam in (50.0, 200.0, 800.0)],
    # the baselines are tuned like every other model: a window for popularity (days, None =
    # all history), a half-life from hours to days for trending
    "popularity": [{"window_days": w} for w in (1.0, 3.0, 7.0, None)],
    "trending": [{"half_life_days": h} for h in (2 * HOUR, 6 * HOUR, 0.5, 1.0, 3.0, 7.0)],
}
LEARNED = ("als", "bpr", "item_knn", "ease")
#: every model evaluated by default: the learned ones, the two-stage ranker, the baselines
MODELS = (*LEARNED, "ranker")
BLEND_WEIGHTS = (0.1, 0.3, 0.5, 0.7)
HEAD_SIZES = (20, 50, 100)
#: the auto test period: this share of the history's span, in whole days
AUTO_TEST_SHARE = 0.2
#: a period is evaluated when at least this many users started a new story in it
MIN_SCORED_USERS = 20
# users scored per period at most: beyond it a fixed random sample (seeded per period) is
# scored. Every model sees the same users, so paired differences stay paired; with 10,000
# users the 95 % CI of a mean NDCG@10 is about ±0.006 wide, and the cost of tuning stops
# growing with the audience (the 100 M-event benchmark has ~46,000 per period).
MAX_SCORED_USERS = 10_000


class NotEnoughHistory(ValueError):
    """Too little history for a time split: the pipeline then serves trending, and says so."""


@dataclass(frozen=True)
class Windows:
    """The periods of one evaluation: train < validation_start <= validation < test_start
    <= test < test_end (``test_end`` just after the data end)."""

    data_start: dt.datetime
    validation_start: dt.datetime
    test_start: dt.datetime
    test_end: dt.datetime
    test_days: float  # the test period's length in days
    auto: bool  # whether the length was chosen from the span (test_days = auto)


def windows(start: dt.datetime, end: dt.datetime, test_days: int | str | None = "auto") -> Windows:
    """The validation and test periods for a history from ``start`` to ``end``.

    ``test_days`` ``auto`` (or None): about the last ``AUTO_TEST_SHARE`` of the span in whole
    days, at least one day, at most ``AUTO_TEST_DAYS_MAX``; a number of days wins. The
    validation period ends where the test begins and is as long, or half the history before
    the test if that is shorter. Raises :class:`NotEnoughHistory` when no training data
    would be left before the validation period.
    """
    limit = parse_test_days(test_days)
    span_days = (end - start).total_seconds() / 86400
    if limit is None:
        days = float(min(max(round(span_days * AUTO_TEST_SHARE), 1), AUTO_TEST_DAYS_MAX))
    else:
        days = float(limit)
    length = dt.timedelta(days=days)
    test_start = end - length
    if test_start <= start:
        raise NotEnoughHistory(
            f"not enough history to evaluate: the data spans {span_days:.1f} days, no more "
            f"than the test period of {days:g} days (test_days = {test_days})"
        )
    validation_start = test_start - min(length, (test_start - start) / 2)
    return Windows(start, validation_start, test_start, end + dt.timedelta(microseconds=1),
                   days, limit is None)  # fmt: skip


@dataclass
class Split:
    """Training matrix before ``cut``; truth = stories first started in [cut, end)."""

    name: str
    cut: dt.datetime
    end: dt.datetime
    train: Matrix
    truth: sp.csr_matrix  # rows aligned with train.users
    scored: np.ndarray  # rows of users with history before the cut and at least one truth item

    @property
    def n_scored(self) -> int:
        return len(self.scored)


def catalog_stories(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Every story of the catalog, sorted: the item universe ranked in full."""
    rows = con.execute("SELECT DISTINCT story_id FROM analytics.series ORDER BY 1").fetchall()
    return np.array([r[0] for r in rows], dtype=object)


def data_end(con: duckdb.DuckDBPyConnection) -> dt.datetime:
    end = con.execute("SELECT max(ts) FROM raw.events").fetchall()[0][0]
    if end is None:
        raise ValueError("no events stored: ingest some before training a recommender")
    return end


def make_split(
    con: duckdb.DuckDBPyConnection,
    name: str,
    cut: dt.datetime,
    end: dt.datetime,
    items: np.ndarray,
    weights: InteractionWeights,
    stories: StoryInfo | None = None,
    max_scored: int | None = MAX_SCORED_USERS,
) -> Split:
    """Train on views before ``cut``; the truth is what users first started in [cut, end).

    Every user's history trains; at most ``max_scored`` users (a random sample, seeded by
    the period's name and cut, the same for every model) are scored.
    """
    before = load_interactions(con, cut)
    until_end = load_interactions(con, end)
    started_before = before.select("user_id", "story_id").with_columns(seen=pl.lit(True))
    new = (
        until_end.filter(pl.col("first_at") >= cut)
        .join(started_before, on=["user_id", "story_id"], how="left")
        .filter(pl.col("seen").is_null())
    )
    train = build_matrix(before, items, weights, as_of=cut, stories=stories)
    index = pl.DataFrame({"user_id": pl.Series(list(train.users), dtype=pl.String),
                          "row": np.arange(len(train.users))})  # fmt: skip
    item_index = pl.DataFrame({"story_id": pl.Series(list(items), dtype=pl.String),
                               "col": np.arange(len(items))})  # fmt: skip
    truth_rows = new.join(index, on="user_id").join(item_index, on="story_id")
    truth = sp.csr_matrix(
        (np.ones(truth_rows.height, dtype=np.float32),
         (truth_rows["row"].to_numpy(), truth_rows["col"].to_numpy())),
        shape=train.X.shape,
    )  # fmt: skip
    scored = np.flatnonzero(np.diff(truth.indptr) > 0)
    if max_scored is not None and len(scored) > max_scored:
        seed = int.from_bytes(hashlib.sha256(f"{name}|{cut.isoformat()}".encode()).digest()[:8])
        rng = np.random.default_rng(seed)
        scored = np.sort(rng.choice(scored, size=max_scored, replace=False))
    return Split(name, cut, end, train, truth, scored)


def recommend_rows(
    model: Recommender, rows: np.ndarray, history: sp.csr_matrix, k: int = K, batch: int = 4096
) -> np.ndarray:
    """Top-k item indices for ``rows``, never an item in the user's history.

    Scored by the kernel on the model's export (``models.scoring``), as the API scores the
    published bundle.
    """
    kernel = scoring.bind(*model.export())
    out = np.empty((len(rows), min(k, history.shape[1])), dtype=np.int64)
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        scores = kernel(chunk, history)
        out[start : start + len(chunk)] = top_k(scores, k, exclude=history[chunk])
    return out


@dataclass
class Evaluation:
    model: str
    params: dict
    metrics: dict[str, Estimate]
    n_users: int
    fit_seconds: float
    recommended: np.ndarray = field(repr=False)
    #: NDCG@k of each scored user (the split's ``scored`` order): what the paired gate compares
    per_user_ndcg: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


def evaluate(model: Recommender, split: Split, fit: bool = True, k: int = K) -> Evaluation:
    """Fit (unless already fitted) on the split's training data and score its users."""
    start = time.perf_counter()
    if fit:
        model.fit(split.train)
    fit_seconds = time.perf_counter() - start
    recommended = recommend_rows(model, split.scored, split.train.X, k)
    per_user = per_user_metrics(recommended, split.truth[split.scored], k)
    metrics = {name: bootstrap_mean(per_user[name]) for name in PER_USER}
    metrics["coverage"] = coverage(recommended, split.train.X.shape[1])
    return Evaluation(model.name, dict(model.params), metrics, split.n_scored, fit_seconds,
                      recommended, per_user["ndcg"])  # fmt: skip


@dataclass
class Selection:
    """What the validation period chose and how every model did on the test period."""

    tuned: dict[str, dict]  # model -> chosen params
    validation: dict[str, float]  # candidate -> validation NDCG@k
    candidate: str  # the best model (or blend) on validation, or the forced one
    served: str  # what gets published: the candidate, or the best baseline as the fallback
    blend_weight: float | None
    test: list[Evaluation]
    gate_passed: bool  # whether the candidate beat the best baseline on the test period
    fallback_reason: str | None  # set when a baseline is served instead of the candidate
    best_baseline: str  # the better baseline on validation: the gate's reference, the fallback
    forced: bool = False
    head_size: int | None = None
    splits: dict[str, Split] = field(repr=False, default_factory=dict)
    windows: Windows | None = None
    #: model -> its test NDCG@k minus the best baseline's, paired over the same users
    paired: dict[str, Estimate] = field(default_factory=dict)
    #: the ranker's LightGBM model (text), what the served ranker ranks with
    ranker_model: str | None = field(default=None, repr=False)


def _ndcg(ev: Evaluation) -> float:
    return ev.metrics["ndcg"].value


def tune_and_evaluate(
    con: duckdb.DuckDBPyConnection,
    test_days: int | str | None = "auto",
    weights: InteractionWeights = DEFAULT_WEIGHTS,
    models: Iterable[str] = MODELS + BASELINES,
    grid: dict[str, list[dict]] | None = None,
    force_served: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    max_scored: int | None = MAX_SCORED_USERS,
) -> Selection:
    """Tune on validation, evaluate every model on test, pick what to serve, apply the gate.

    The periods fit the history (:func:`windows`; ``test_days`` ``auto`` or a number of
    days). The gate (:func:`gate`): the candidate chosen on validation is served only if its
    test NDCG@10 minus the best baseline's, paired over users, has a bootstrap CI above 0;
    otherwise the best baseline (by validation) is served and the reason recorded.
    ``force_served`` overrides the choice (used to prove that the gate blocks a bad model).
    """
    grid = grid or GRID
    items = catalog_stories(con)
    end = data_end(con)
    start = con.execute("SELECT min(ts) FROM raw.events").fetchall()[0][0]
    win = windows(start, end, test_days)
    info = story_info(con, items)
    val = make_split(con, "validation", win.validation_start, win.test_start, items, weights,
                     info, max_scored)  # fmt: skip
    test = make_split(con, "test", win.test_start, win.test_end, items, weights, info, max_scored)
    return select_and_evaluate(val, test, models, grid, force_served, progress, win)


def select_and_evaluate(
    val: Split,
    test: Split,
    models: Iterable[str] = MODELS + BASELINES,
    grid: dict[str, list[dict]] | None = None,
    force_served: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    win: Windows | None = None,
) -> Selection:
    """Tune every model on ``val``, evaluate all on ``test``, choose and gate (see above)."""
    grid = grid or GRID
    if win is None:
        days = (test.end - test.cut).total_seconds() / 86400
        win = Windows(val.cut, val.cut, test.cut, test.end, days, False)
    if min(val.n_scored, test.n_scored) < MIN_SCORED_USERS:
        raise NotEnoughHistory(
            f"not enough history to evaluate: {val.n_scored} validation and {test.n_scored} "
            f"test users started a new series (at least {MIN_SCORED_USERS} each are needed; "
            f"the test period is the last {win.test_days:g} days)"
        )
    models = list(models)
    tuned: dict[str, dict] = {}
    validation: dict[str, float] = {}
    fitted_val: dict[str, Recommender] = {}
    ranker_on = "ranker" in models
    if ranker_on and not lightgbm_available():  # pragma: no cover - lightgbm is a dependency
        progress("ranker skipped: lightgbm is not installed")
        ranker_on = False
    models = [m for m in models if m != "ranker"]
    for name in models:
        best = None
        for params in grid.get(name, [{}]):
            model = make(name, params)
            ev = evaluate(model, val)
            progress(f"validation {name} {params}: ndcg@{K} {_ndcg(ev):.4f}")
            if best is None or _ndcg(ev) > best[0]:
                best = (_ndcg(ev), model)
        tuned[name] = dict(best[1].params)
        validation[name] = best[0]
        fitted_val[name] = best[1]
    # blends of each learned model with the tuned trending, weight tuned here too
    blend_weights: dict[str, float] = {}
    head_sizes: dict[str, int] = {}
    if "trending" in fitted_val:
        for name in [m for m in models if m in LEARNED]:
            for w in BLEND_WEIGHTS:
                blend = Blend(base=fitted_val[name], trending=fitted_val["trending"],
                              params={"weight": w})  # fmt: skip
                ev = evaluate(blend, val, fit=False)
                key = f"{name}+trending"
                if _ndcg(ev) > validation.get(key, -1.0):
                    validation[key] = _ndcg(ev)
                    blend_weights[key] = w
            progress(f"validation {name}+trending: ndcg@{K} {validation[f'{name}+trending']:.4f}")
            for head, w in itertools.product(HEAD_SIZES, BLEND_WEIGHTS):
                rerank = HeadRerank(base=fitted_val[name], trending=fitted_val["trending"],
                                    params={"weight": w, "head": head})  # fmt: skip
                ev = evaluate(rerank, val, fit=False)
                key = f"{name}>trending_head"
                if _ndcg(ev) > validation.get(key, -1.0):
                    validation[key] = _ndcg(ev)
                    blend_weights[key] = w
                    head_sizes[key] = head
            progress(f"validation {name}>trending_head: ndcg@{K} "
                     f"{validation[f'{name}>trending_head']:.4f}")  # fmt: skip
    # the two-stage ranker over the tuned stage-1 models, trained on the validation period
    ranker_model: str | None = None
    if ranker_on:
        tuned["ranker"] = ranker_params(tuned)
        ranker = Ranker(params=dict(tuned["ranker"]), progress=progress).fit_stage1(val.train)
        fitted = cross_fit(ranker, val.scored, val.truth)
        tuned["ranker"].update({k: ranker.params[k] for k in BOOSTER_KEYS})  # the chosen ones
        ev = evaluate(ranker, val, fit=False)  # the out-of-fold lists: an honest score
        validation["ranker"] = _ndcg(ev)
        ranker_model = fitted.booster.model_to_string()
        progress(f"validation ranker ({fitted.sample_rows:,} training rows of "
                 f"{fitted.sample_users:,} users, candidate recall "
                 f"{fitted.candidate_recall:.2f}): ndcg@{K} {_ndcg(ev):.4f}")  # fmt: skip
        models.append("ranker")
    candidates = [c for c in validation if c not in BASELINES and c != "random"]
    candidate = force_served or max(candidates, key=lambda c: validation[c])
    baselines = [b for b in BASELINES if b in validation]
    best_baseline = max(baselines, key=lambda b: validation[b])

    results: list[Evaluation] = []
    for name in models + sorted(blend_weights):  # blends and re-ranked heads too
        model = build_model(name, tuned, blend_weights, head_sizes, ranker_model)
        if isinstance(model, Ranker):
            model.rank_rows, model.progress = test.scored, progress
        ev = evaluate(model, test)
        progress(f"test {name}: ndcg@{K} {_ndcg(ev):.4f} [{ev.metrics['ndcg'].ci_low:.4f}, "
                 f"{ev.metrics['ndcg'].ci_high:.4f}]")  # fmt: skip
        results.append(ev)
    if candidate not in {r.model for r in results}:
        forced = build_model(candidate, tuned, blend_weights, head_sizes, ranker_model)
        results.append(evaluate(forced, test))
    by_name = {r.model: r for r in results}
    baseline = by_name[best_baseline]
    paired = {r.model: paired_difference(r.per_user_ndcg, baseline.per_user_ndcg)
              for r in results}  # fmt: skip
    passed = gate(by_name, candidate, best_baseline)
    served, reason = candidate, None
    if not passed:
        diff = paired[candidate]
        reason = (
            f"{candidate}'s NDCG@{K} minus {best_baseline}'s over the {test.n_scored} test users "
            f"is {diff.value:+.4f} (95 % CI {diff.ci_low:+.4f} to {diff.ci_high:+.4f}): the "
            "interval does not lie above 0"
        )
        if not force_served:
            served = best_baseline  # the fallback; a forced model is left for the gate to block
    if served == "ranker":  # refit through the data end: the booster on the latest period too
        ranker_model = refit_ranker(tuned["ranker"], test, progress) or ranker_model
    return Selection(
        tuned=tuned, validation=validation, candidate=candidate, served=served,
        blend_weight=blend_weights.get(served), head_size=head_sizes.get(served),
        test=results, gate_passed=passed,
        fallback_reason=reason if served != candidate else None, best_baseline=best_baseline,
        forced=bool(force_served), splits={"validation": val, "test": test}, windows=win,
        paired=paired, ranker_model=ranker_model,
    )  # fmt: skip


def ranker_params(tuned: dict[str, dict]) -> dict:
    """The ranker's parameters: its defaults, with the tuned EASE's lambda and trending's
    half-life (its cheap path) where those were tuned."""
    params = dict(RANKER_DEFAULTS)
    if "ease" in tuned:
        params["ease_lambda"] = float(tuned["ease"]["lambda"])
    if "trending" in tuned:
        params["base_half_life"] = float(tuned["trending"]["half_life_days"])
    return params


def refit_ranker(params: dict, split: Split, progress: Callable[[str], None]) -> str | None:
    """The served ranker's booster retrained on ``split`` (the test period: the latest labels),
    with the same parameters; ``None`` if that period has nothing to learn from."""
    ranker = Ranker(params=dict(params), progress=progress).fit_stage1(split.train)
    sample = training_rows(ranker, split.scored, split.truth, int(ranker.params["max_train_rows"]),
                           int(ranker.params["seed"]))  # fmt: skip
    booster = train_booster(*sample[:3], ranker.params)
    progress(f"ranker refit on the test period: {len(sample[1]):,} rows")
    return None if booster is None else booster.model_to_string()


def gate(by_name: dict[str, Evaluation], served: str, baseline: str) -> bool:
    """The quality gate: a baseline always passes; a model must beat ``baseline`` (the better
    baseline on validation) on the test period, paired over users.

    Passing means the 95 % paired bootstrap interval of the per-user NDCG@10 difference
    (``served`` − ``baseline``, the same users) lies above 0 (:func:`passes`).
    """
    if served in BASELINES:
        return True
    diff = paired_difference(by_name[served].per_user_ndcg, by_name[baseline].per_user_ndcg)
    return passes(diff)


def passes(diff: Estimate) -> bool:
    """Whether a paired difference is significantly positive: its CI lies above 0."""
    return diff.ci_low > 0


def build_model(
    name: str,
    tuned: dict[str, dict],
    blend_weights: dict[str, float],
    head_sizes: dict[str, int] | None = None,
    ranker_model: str | None = None,
) -> Recommender:
    """A fresh, unfitted model: ``name`` may be a blend ``<model>+trending``, a re-ranked
    trending head ``<model>>trending_head`` or the two-stage ``ranker`` (with its booster,
    ``ranker_model``)."""
    if name == "ranker":
        if ranker_model is None:
            raise ValueError("the ranker needs its trained LightGBM model (ranker_model)")
        return Ranker(params=dict(tuned.get("ranker") or RANKER_DEFAULTS), booster=ranker_model)
    if name.endswith(">trending_head"):
        base = name.removesuffix(">trending_head")
        return HeadRerank(base=make(base, tuned.get(base)),
                          trending=make("trending", tuned.get("trending")),  # type: ignore[arg-type]
                          params={"weight": blend_weights[name],
                                  "head": (head_sizes or {})[name]})  # fmt: skip
    if name.endswith("+trending"):
        base = name.removesuffix("+trending")
        return Blend(base=make(base, tuned.get(base)),
                     trending=make("trending", tuned.get("trending")),  # type: ignore[arg-type]
                     params={"weight": blend_weights[name]})  # fmt: skip
    return make(name, tuned.get(name))


EVALUATION_SCHEMA = {
    "model_version": pl.String, "model": pl.String, "metric": pl.String, "k": pl.Int32,
    "value": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n_users": pl.Int64,
    "validation_ndcg": pl.Float64, "is_served": pl.Boolean, "is_baseline": pl.Boolean,
    "params": pl.String, "test_start": pl.Datetime("us", "UTC"),
    "test_end": pl.Datetime("us", "UTC"), "validation_start": pl.Datetime("us", "UTC"),
    "test_days": pl.Float64, "paired_baseline": pl.String, "ndcg_diff": pl.Float64,
    "ndcg_diff_ci_low": pl.Float64, "ndcg_diff_ci_high": pl.Float64,
}  # fmt: skip


def fallback_selection(reason: str) -> Selection:
    """What is served when there is no evaluation to go by: trending, with the reason."""
    return Selection(tuned={}, validation={}, candidate="trending", served="trending",
                     blend_weight=None, test=[], gate_passed=True, fallback_reason=reason,
                     best_baseline="trending")  # fmt: skip


def evaluation_rows(selection: Selection, model_version: str, k: int = K) -> pl.DataFrame:
    """``analytics.model_evaluation`` rows: model x metric with CIs (CONTRACT §3)."""
    records = []
    if not selection.test:
        return pl.DataFrame(schema=EVALUATION_SCHEMA)
    test = selection.splits["test"]
    win = selection.windows
    for ev in selection.test:
        diff = selection.paired.get(ev.model)
        for metric, est in ev.metrics.items():
            records.append({
                "model_version": model_version, "model": ev.model, "metric": metric, "k": k,
                "value": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high,
                "n_users": ev.n_users, "validation_ndcg": selection.validation.get(ev.model),
                "is_served": ev.model == selection.served,
                "is_baseline": ev.model in BASELINES,
                "params": json.dumps(ev.params, sort_keys=True),
                "test_start": test.cut, "test_end": test.end,
                "validation_start": win.validation_start if win else None,
                "test_days": win.test_days if win else None,
                "paired_baseline": selection.best_baseline if diff else None,
                "ndcg_diff": diff.value if diff else None,
                "ndcg_diff_ci_low": diff.ci_low if diff else None,
                "ndcg_diff_ci_high": diff.ci_high if diff else None,
            })  # fmt: skip
    return pl.DataFrame(records, schema=EVALUATION_SCHEMA)
