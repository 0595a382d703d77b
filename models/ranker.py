"""The two-stage recommender: a fresh candidate pool, re-ranked by personal taste.

Short, fast-moving logs (a new app, a new market: a few days of history) reward recency more
than any factor model can learn in that time, and personal taste still matters among what is
fresh. So:

1. **Candidates** per user: the most trending stories at several half-lives (hours to days),
   the most popular, the newest releases (by release date, else first start in the data), and
   the user's EASE neighbours (stories co-started with theirs); never a story they started.
2. **Features** per user × candidate (:data:`FEATURES`): trending scores at each half-life,
   popularity, the story's age since release and since its first start, its hook and
   completion rates and mean watch depth, the user's EASE score of it, its similarity to the
   user's last series (and the last three, and their whole history), the user's genre and
   language affinity to it, how fresh the stories the user starts usually are, and the user's
   activity (stories started, days since the last, starts in the last day).
3. **A learning-to-rank model**: LightGBM ``lambdarank`` on the validation period (features at
   its cut, label = the user started the candidate in the period), its training rows
   subsampled by user (``max_train_rows``) to bound memory.

The fitted ranker exports a ``precomputed`` scorer (``models/scoring.py``): per user, the
``length`` best candidates in the ranker's order, then every other story by the tuned
trending list (the cheap path, also for users without a list). The offline evaluation, the
pipeline's batch lists and the API all score that export, so what was evaluated is exactly
what is served. See docs/recommender.md.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from models import scoring
from models.interactions import Matrix
from models.recommenders import EASE, Recommender, item_similarity
from models.scoring import History, Scorer

HOUR = 1 / 24
DEFAULT_PARAMS: dict[str, Any] = {
    "half_lives": [2 * HOUR, 12 * HOUR, 1.0, 3.0],  # days: the trending features and pools
    "trending_top": 60,  # stories per half-life in the candidate pool
    "popular_top": 30,
    "new_top": 30,  # newest releases
    "neighbours": 100,  # the user's best EASE stories
    "ease_lambda": 200.0,  # the tuned EASE's, when there is one
    "length": 40,  # the precomputed list per user
    "base_half_life": 1.0,  # the cheap path's trending half-life (the tuned one)
    "trees": 100,
    "learning_rate": 0.05,
    "leaves": 15,
    "min_leaf": 100,
    "max_train_rows": 1_000_000,
    # rows the booster settings are compared on (a random subset of the sampled users); the
    # chosen settings then train on every sampled row. Below it nothing changes; above, the
    # grid costs the same however large the audience (the 100 M-event benchmark)
    "tune_rows": 300_000,
    "objective": "binary",  # or "lambdarank"; pointwise is steadier with ~1 positive per user
    "earlier_windows": 2,  # extra label periods before the training period's own (see below)
    "seed": 0,
    "booster_grid": None,  # the LightGBM settings tried on validation (None: BOOSTER_GRID)
}
#: LightGBM's threads: one. On a small machine shared with other work, OpenMP's spinning
#: barriers make two threads several times slower than one (measured: 100 trees on 100 k
#: rows, 51 s with two threads vs 10 s with one, with the two cores busy with other jobs)
THREADS = 1
#: LightGBM settings the cross-fit tries (over :data:`DEFAULT_PARAMS`), keeping the one with
#: the best out-of-fold NDCG@10 on the validation period: the test period picks nothing
BOOSTER_GRID: tuple[dict[str, Any], ...] = (
    {},
    {"trees": 300, "learning_rate": 0.03, "leaves": 31, "min_leaf": 50},
    {"objective": "lambdarank", "trees": 200},
    {"trees": 200, "leaves": 7, "min_leaf": 300},
)
#: the settings :data:`BOOSTER_GRID` varies (recorded with the chosen values)
BOOSTER_KEYS = ("trees", "learning_rate", "leaves", "min_leaf", "objective")
FEATURES = (
    *(f"trending_{i}" for i in range(len(DEFAULT_PARAMS["half_lives"]))),
    "popularity", "popularity_1d", "release_age_days", "first_start_age_days", "hook_rate",
    "completion_rate", "mean_depth", "log_starters", "best_trending_rank",
    "ease", "ease_share_of_best", "ease_rank", "similarity_to_last", "similarity_to_last_3",
    "similarity_to_history", "genre_affinity", "language_affinity",
    "log_started", "days_since_last", "starts_last_day", "user_freshness_days",
)  # fmt: skip


def lightgbm_available() -> bool:
    try:
        import lightgbm  # noqa: F401
    except ImportError:  # pragma: no cover - it is a dependency; a broken install skips the ranker
        return False
    return True


@dataclass
class Chunk:
    """Candidates of a batch of users: ``rows`` (matrix rows), for each candidate its user
    (index into ``rows``) and story, and their features (``FEATURES``, float32)."""

    rows: np.ndarray
    user: np.ndarray
    story: np.ndarray
    features: np.ndarray


@dataclass
class Ranker(Recommender):
    """Two-stage: candidates from trending, popularity, new releases and EASE neighbours,
    ranked per user by a LightGBM lambdarank model (see the module docstring)."""

    name: ClassVar[str] = "ranker"
    params: dict = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    booster: Any = None  # a lightgbm.Booster, or its model string
    rank_rows: np.ndarray | None = None  # users to precompute lists for (None: all)
    progress: Callable[[str], None] = field(default=lambda _m: None, repr=False)

    # -- stage 1 ----------------------------------------------------------------------------

    def fit(self, train: Matrix) -> Ranker:
        """Fit the candidate generators and item features on ``train``; with a booster, also
        rank the candidates of ``rank_rows`` into the exported lists."""
        self.fit_stage1(train)
        if self.booster is not None:
            rows = np.arange(train.X.shape[0]) if self.rank_rows is None else self.rank_rows
            self.top_items = self.rank(rows)
        return self

    def fit_stage1(self, train: Matrix) -> Ranker:
        p = {**DEFAULT_PARAMS, **self.params}
        self.params = p
        self.train = train
        X = train.X.tocsr()
        n_users, n = X.shape
        self.n_items = n
        if train.age_days is None:
            raise ValueError("the ranker needs the interactions' ages (Matrix.age_days)")
        ages = train.age_days.tocsr()
        if not (np.array_equal(ages.indptr, X.indptr) and np.array_equal(ages.indices, X.indices)):
            raise ValueError("Matrix.age_days must have the pattern of Matrix.X")
        cols = X.indices
        age = ages.data.astype(np.float64)
        self.trend = np.stack([np.bincount(cols, weights=np.exp2(-age / h), minlength=n)
                               for h in p["half_lives"]]).astype(np.float32)  # fmt: skip
        starters = np.bincount(cols, minlength=n).astype(np.float64)
        self.popularity = starters.astype(np.float32)
        self.popularity_1d = np.bincount(cols[age <= 1.0], minlength=n).astype(np.float32)
        side = train.side
        with np.errstate(invalid="ignore", divide="ignore"):
            if "episodes" in side:
                hooked = np.bincount(cols, weights=(side["episodes"] >= 2), minlength=n)
                self.hook = (hooked / starters).astype(np.float32)
            else:
                self.hook = np.full(n, np.nan, np.float32)
            if "completed" in side:
                done = np.bincount(cols, weights=side["completed"], minlength=n)
                self.completion = (done / starters).astype(np.float32)
            else:
                self.completion = np.full(n, np.nan, np.float32)
            self.depth = (np.bincount(cols, weights=X.data, minlength=n) / starters).astype(
                np.float32
            )
        first = side.get("first_age", ages.data).astype(np.float64)
        first_start = np.full(n, -np.inf)
        np.maximum.at(first_start, cols, first)
        self.first_start_age = np.where(np.isfinite(first_start), first_start, np.nan).astype(
            np.float32
        )
        stories = train.stories
        if stories is not None and train.as_of is not None:
            as_of_day = train.as_of.timestamp() / 86400
            self.release_age = (as_of_day - stories.release_day).astype(np.float32)
        else:
            self.release_age = np.full(n, np.nan, np.float32)
        # the user's freshness: days between a story's release (else first start) and the
        # user's first start of it, averaged over their stories
        birth = np.where(np.isnan(self.release_age), self.first_start_age, self.release_age)
        at_start = np.maximum(birth[cols] - first, 0.0)
        counts = np.diff(X.indptr)
        valid = ~np.isnan(at_start)
        fresh_sum = np.bincount(np.repeat(np.arange(n_users), counts)[valid],
                                weights=at_start[valid], minlength=n_users)  # fmt: skip
        fresh_n = np.bincount(np.repeat(np.arange(n_users), counts)[valid], minlength=n_users)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.user_freshness = (fresh_sum / fresh_n).astype(np.float32)
        # EASE neighbours and the audiences' cosine similarity
        self.ease = EASE(params={"lambda": float(p["ease_lambda"]), "binary": True}).fit(train)
        self.similarity = item_similarity(X)
        # genres and languages: dense story x genre / story x language
        if stories is not None:
            self.genres = np.asarray(stories.genres.todense(), dtype=np.float32)
            self.languages = stories.languages.astype(np.float32)
        else:
            self.genres = np.zeros((n, 1), np.float32)
            self.languages = np.zeros((n, 1), np.float32)
        self.pair_language = side.get("language")
        # the global candidate pool and the best trending rank of each story
        ranks = np.full(n, float(n), dtype=np.float32)
        pool = np.zeros(n, dtype=bool)
        for row in self.trend:
            order = scoring.top_k(row[None, :], n)[0]
            rank_of = np.empty(n, np.float32)
            rank_of[order] = np.arange(n, dtype=np.float32)
            ranks = np.minimum(ranks, rank_of)
            pool[order[: p["trending_top"]]] = True
        self.best_trending_rank = ranks
        pool[scoring.top_k(self.popularity[None, :], p["popular_top"])[0]] = True
        fresh = np.where(self.release_age >= 0, self.release_age, np.nan)
        fresh = np.where(np.isnan(fresh), self.first_start_age, fresh)
        newest = np.where(np.isnan(fresh), -np.inf, -fresh).astype(np.float32)
        newest_top = scoring.top_k(newest[None, :], p["new_top"])[0]
        pool[newest_top[np.isfinite(newest[newest_top])]] = True
        self.pool = pool
        # the cheap path: trending at the tuned half-life
        self.base_scores = np.bincount(
            cols, weights=np.exp2(-age / float(p["base_half_life"])), minlength=n
        ).astype(np.float32)
        self.history = History(X.indptr, X.indices, X.data)
        self.ages = History(ages.indptr, ages.indices, ages.data)
        self.top_items = np.full((n_users, int(p["length"])), -1, dtype=np.int32)
        return self

    # -- candidates and features -------------------------------------------------------------

    def candidates(self, rows: np.ndarray) -> Chunk:
        """Candidates and features of the users ``rows`` (a batch of a few thousand)."""
        p = self.params
        n = self.n_items
        m = len(rows)
        hist = self.history.take(rows)
        binary = hist._replace(weights=np.ones_like(hist.weights))
        owner = np.repeat(np.arange(m), np.diff(hist.indptr))
        n_started = np.diff(hist.indptr).astype(np.float32)
        ease = scoring.history_times(binary, self.ease.item_item)
        ease[owner, hist.indices] = -np.inf
        k = min(int(p["neighbours"]), n)
        top = scoring.top_k(ease, k)
        mask = np.broadcast_to(self.pool, (m, n)).copy()
        ease_rank = np.full((m, n), float(k), dtype=np.float32)
        np.put_along_axis(ease_rank, top, np.arange(k, dtype=np.float32)[None, :], axis=1)
        top_ok = np.isfinite(np.take_along_axis(ease, top, axis=1))
        np.put_along_axis(mask, top, top_ok | np.take_along_axis(mask, top, axis=1), axis=1)
        mask[owner, hist.indices] = False
        user, story = np.nonzero(mask)
        # per user: activity, the last stories, freshness
        ages = self.ages.take(rows)
        age_owner = np.repeat(np.arange(m), np.diff(ages.indptr))
        order = np.lexsort((ages.weights, age_owner))  # by user, most recent first
        rank_in_user = np.arange(len(order)) - ages.indptr[:-1][age_owner[order]]
        last = np.full((m, 3), -1, dtype=np.int64)
        first3 = rank_in_user < 3
        last[age_owner[order][first3], rank_in_user[first3]] = ages.indices[order][first3]
        days_since = np.full(m, np.nan, np.float32)
        recent = np.zeros(m, np.float32)
        if len(order):
            head = order[rank_in_user == 0]
            days_since[age_owner[head]] = ages.weights[head]
            recent = np.bincount(age_owner[ages.weights <= 1.0], minlength=m).astype(np.float32)
        sim = self.similarity
        sim_last = np.where(last[:, :1] >= 0, sim[np.maximum(last[:, 0], 0)], 0.0)
        sim_last3 = np.zeros((m, n), np.float32)
        for j in range(3):
            part = np.where(last[:, j : j + 1] >= 0, sim[np.maximum(last[:, j], 0)], 0.0)
            np.maximum(sim_last3, part, out=sim_last3)
        with np.errstate(invalid="ignore", divide="ignore"):
            sim_history = scoring.history_times(binary, sim) / np.maximum(n_started, 1)[:, None]
            genre_user = scoring.history_times(binary, self.genres)
            genre_user /= np.maximum(genre_user.sum(axis=1, keepdims=True), 1e-9)
            genre_aff = genre_user @ self.genres.T
            if self.pair_language is not None:
                lang = self.pair_language[self._positions(rows)]
                lang_user = np.zeros((m, self.languages.shape[1]), np.float32)
                ok = lang >= 0
                np.add.at(lang_user, (owner[ok], lang[ok]), 1.0)
                lang_user /= np.maximum(lang_user.sum(axis=1, keepdims=True), 1e-9)
                lang_aff = lang_user @ self.languages.T
            else:
                lang_aff = np.full((m, n), np.nan, np.float32)
            best_ease = np.take_along_axis(ease, top[:, :1], axis=1)[:, 0]
            best_ease = np.where(np.isfinite(best_ease) & (best_ease > 0), best_ease, np.nan)
        e = ease[user, story]
        columns = [
            *(t[story] / max(float(t.max()), 1e-9) for t in self.trend),
            self.popularity[story] / max(float(self.popularity.max()), 1e-9),
            self.popularity_1d[story] / max(float(self.popularity_1d.max()), 1e-9),
            self.release_age[story], self.first_start_age[story], self.hook[story],
            self.completion[story], self.depth[story], np.log1p(self.popularity[story]),
            self.best_trending_rank[story],
            e, e / best_ease[user], ease_rank[user, story], sim_last[user, story],
            sim_last3[user, story], sim_history[user, story], genre_aff[user, story],
            lang_aff[user, story],
            np.log1p(n_started[user]), days_since[user], recent[user],
            self.user_freshness[rows][user],
        ]  # fmt: skip
        features = np.column_stack([np.asarray(c, dtype=np.float32) for c in columns])
        return Chunk(np.asarray(rows), user, story, features)

    def _positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions in ``X.data`` of the interactions of ``rows``, in row order."""
        indptr = self.history.indptr
        starts = indptr[rows].astype(np.int64)
        lengths = indptr[rows + 1].astype(np.int64) - starts
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])

    def chunks(self, rows: np.ndarray, batch: int = 2048):  # noqa: ANN201 - a generator
        for start in range(0, len(rows), batch):
            yield self.candidates(rows[start : start + batch])

    # -- ranking -----------------------------------------------------------------------------

    def _booster(self, booster: Any = None) -> Any:
        import lightgbm as lgb

        b = self.booster if booster is None else booster
        if isinstance(b, str):
            b = lgb.Booster(model_str=b)
            if booster is None:
                self.booster = b
        return b

    def rank(self, rows: np.ndarray, boosters: dict[int, Any] | None = None,
             fold: np.ndarray | None = None, chunks: list[Chunk] | None = None
             ) -> np.ndarray:  # fmt: skip
        """The exported lists: for each user of ``rows`` the ``length`` best candidates by the
        booster (``boosters[fold[row]]`` for out-of-fold ranking), -1-padded; other users -1.
        ``chunks``: the candidates of ``rows`` when already built."""
        length = int(self.params["length"])
        out = np.full((self.train.X.shape[0], length), -1, dtype=np.int32)
        started = time.perf_counter()
        rows = np.asarray(rows, dtype=np.int64)
        for chunk in self.chunks(rows) if chunks is None else chunks:
            if not len(chunk.user):
                continue
            if boosters is None:
                scores = self._booster().predict(chunk.features, num_threads=THREADS)
            else:
                scores = np.empty(len(chunk.user))
                user_fold = fold[chunk.rows][chunk.user]
                for f, b in boosters.items():
                    pick = user_fold == f
                    if pick.any():
                        scores[pick] = self._booster(b).predict(chunk.features[pick],
                                                                num_threads=THREADS)  # fmt: skip
            order = np.lexsort((chunk.story, -scores, chunk.user))
            user = chunk.user[order]
            first = np.searchsorted(user, np.arange(len(chunk.rows)))
            rank = np.arange(len(order)) - first[user]
            keep = rank < length
            out[chunk.rows[user[keep]], rank[keep]] = chunk.story[order][keep]
        self.progress(f"ranker: lists for {len(rows):,} users in "
                      f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        return out

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        base = Scorer("list", "trending")
        spec = Scorer(
            "precomputed", self.name, {"length": int(self.params["length"]), "base": base}
        )
        return spec, {"top_items": self.top_items, "item_scores": self.base_scores}

    def model_string(self) -> str:
        """The booster as text (what the pipeline records between its steps)."""
        b = self._booster()
        return b.model_to_string()


# ---- training -----------------------------------------------------------------------------------


def training_rows(
    ranker: Ranker, rows: np.ndarray, truth: sp.csr_matrix, budget: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels, group sizes and the users of the training sample: users of ``rows``
    in a random order, those with a started candidate only (a group without a positive
    teaches lambdarank nothing), until about ``budget`` rows."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(np.asarray(rows, dtype=np.int64))
    feats, labels, groups, users = [], [], [], []
    total = 0
    batch = 1024
    for start in range(0, len(shuffled), batch):
        part = np.sort(shuffled[start : start + batch])
        chunk = ranker.candidates(part)
        label = np.asarray(truth[part[chunk.user], chunk.story]).ravel() > 0
        sizes = np.bincount(chunk.user, minlength=len(part))
        hits = np.bincount(chunk.user, weights=label, minlength=len(part)) > 0
        keep = hits[chunk.user]
        feats.append(chunk.features[keep])
        labels.append(label[keep].astype(np.float32))
        groups.append(sizes[hits])
        users.append(part[hits])
        total += int(keep.sum())
        if total >= budget:
            break
    if not feats:
        empty = np.empty((0, len(FEATURES)), np.float32)
        return empty, np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int64)
    return (np.concatenate(feats), np.concatenate(labels), np.concatenate(groups),
            np.concatenate(users))  # fmt: skip


def train_booster(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, params: dict
) -> Any:
    """LightGBM lambdarank on the sample (``None`` when it has no positive at all)."""
    import lightgbm as lgb

    if not len(groups) or labels.sum() == 0:
        return None
    p = {**DEFAULT_PARAMS, **params}
    data = lgb.Dataset(features, label=labels, group=groups, feature_name=list(FEATURES),
                       params={"max_bin": 63, "verbose": -1}, free_raw_data=True)  # fmt: skip
    settings = {
        "objective": str(p["objective"]), "metric": "ndcg", "ndcg_eval_at": [10],
        "learning_rate": float(p["learning_rate"]), "num_leaves": int(p["leaves"]),
        "min_data_in_leaf": int(p["min_leaf"]), "feature_fraction": 0.9,
        "bagging_fraction": 0.8, "bagging_freq": 1, "lambdarank_truncation_level": 20,
        "num_threads": THREADS, "verbose": -1, "seed": int(p["seed"]), "deterministic": True,
        "force_row_wise": True,
    }  # fmt: skip
    return lgb.train(settings, data, num_boost_round=int(p["trees"]))


def earlier_window(
    train: Matrix, back: float, length: float
) -> tuple[Matrix, sp.csr_matrix, np.ndarray] | None:
    """An earlier label period carved out of ``train`` itself: the interactions first started
    more than ``back`` days before its cut are the history, those first started in the
    ``length`` days after that are the truth (``None`` without first-start ages, or with no
    history left). More labelled periods for the ranker from a short log, all before the
    period it is evaluated on; the history keeps the interactions' confidences as of the
    cut (an approximation: views after the earlier cut still count in their depth)."""
    first = train.side.get("first_age")
    if first is None or train.age_days is None:
        return None
    X = train.X.tocsr()
    ages = train.age_days.tocsr()
    owner = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    before = first > back
    if not before.any():
        return None
    label = (first <= back) & (first > back - length)
    age = np.where(ages.data > back, ages.data - back, first - back).astype(np.float32)
    keep = np.flatnonzero(before)
    side = {k: v[keep] for k, v in train.side.items()}
    side["first_age"] = (first[keep] - back).astype(np.float32)
    shape = X.shape
    history = sp.csr_matrix((X.data[keep], (owner[keep], X.indices[keep])), shape=shape)
    history_ages = sp.csr_matrix((age[keep], (owner[keep], X.indices[keep])), shape=shape)
    truth = sp.csr_matrix((np.ones(int(label.sum()), np.float32),
                           (owner[label], X.indices[label])), shape=shape)  # fmt: skip
    as_of = None if train.as_of is None else train.as_of - dt.timedelta(days=back)
    earlier = Matrix(history, train.users, train.items, history_ages, as_of, side, train.stories)
    has_history = np.diff(history.indptr) > 0
    rows = np.flatnonzero(has_history & (np.diff(truth.indptr) > 0))
    return earlier, truth, rows


def earlier_samples(params: dict, train: Matrix, length: float, budget: int
                    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """Training samples of up to ``params['earlier_windows']`` earlier periods of ``length``
    days carved out of ``train`` (:func:`earlier_window`), ``budget`` rows in all."""
    out = []
    n = int(params["earlier_windows"])
    for j in range(1, n + 1):
        window = earlier_window(train, j * length, length)
        if window is None or not len(window[2]):
            break
        matrix, truth, rows = window
        ranker = Ranker(params=dict(params)).fit_stage1(matrix)
        out.append(training_rows(ranker, rows, truth, budget // n, int(params["seed"]) + 10 + j))
    return out


@dataclass
class CrossFit:
    """The ranker tuned on validation: out-of-fold lists (its honest validation score), and
    the booster trained on the whole sample (what the test period is ranked with)."""

    ranker: Ranker  # stage 1 fitted on the validation training data, out-of-fold lists set
    booster: Any
    sample_rows: int
    sample_users: int
    candidate_recall: float  # share of the sampled users' new stories in their candidates


def list_ndcg(lists: np.ndarray, rows: np.ndarray, truth: sp.csr_matrix, k: int = 10) -> float:
    """Mean NDCG@k (binary gains) of the ranked ``lists`` (-1: no item) of the users ``rows``,
    each with at least one item in ``truth``."""
    top = lists[rows, :k]
    t = truth[rows].tocsr()
    hits = np.asarray(t[np.arange(len(rows))[:, None], np.maximum(top, 0)].todense()) > 0
    hits &= top >= 0
    discounts = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    ideal = np.cumsum(discounts)[np.clip(np.diff(t.indptr), 1, top.shape[1]) - 1]
    return float(np.mean((hits * discounts).sum(axis=1) / ideal)) if len(rows) else 0.0


def _joined(samples: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.concatenate([s[0] for s in samples]), np.concatenate([s[1] for s in samples]),
            np.concatenate([s[2] for s in samples]))  # fmt: skip


def _head(
    sample: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The leading users of a sample (its users come in random order) holding about
    ``share`` of its rows: whole groups only."""
    features, labels, groups, users = sample
    if share >= 1.0:
        return sample
    ends = np.cumsum(groups)
    n = int(np.searchsorted(ends, share * len(labels), side="right"))
    rows = int(ends[n - 1]) if n else 0
    return features[:rows], labels[:rows], groups[:n], users[:n]


def cross_fit(
    ranker: Ranker, rows: np.ndarray, truth: sp.csr_matrix, length: float = 1.0
) -> CrossFit:
    """Train on the validation period with two folds of users: each fold's lists come from the
    booster trained on the other fold (and the earlier periods, :func:`earlier_samples`), so
    the validation NDCG is out of sample; then train once more on everything for the test
    period. ``length``: the period's length in days."""
    p = ranker.params
    budget = int(p["max_train_rows"])
    rows = np.asarray(rows, dtype=np.int64)
    rng = np.random.default_rng(int(p["seed"]))
    fold = np.zeros(ranker.train.X.shape[0], dtype=np.int64)
    fold[rows] = rng.permutation(len(rows)) % 2
    extra = earlier_samples(p, ranker.train, length, budget // 2)
    own = budget // 2 if extra else budget
    samples = [training_rows(ranker, rows[fold[rows] == f], truth, own // 2, int(p["seed"]) + f)
               for f in (0, 1)]  # fmt: skip
    # the candidates of the validation users, built once for every setting when they fit
    # in memory (about 100 bytes per candidate)
    per_user = int(ranker.pool.sum()) + int(p["neighbours"])
    cached = list(ranker.chunks(rows)) if len(rows) * per_user <= 20_000_000 else None
    grid = BOOSTER_GRID if p.get("booster_grid") is None else (p["booster_grid"] or [{}])
    best: tuple[float, dict, np.ndarray] | None = None
    total = sum(len(s[1]) for s in [*samples, *extra])
    share = min(1.0, int(p.get("tune_rows") or total) / max(total, 1))
    tuning = [_head(s, share) for s in samples]
    tuning_extra = [_head(s, share) for s in extra]
    for settings in grid:
        q = {**p, **settings}
        boosters = {f: train_booster(*_joined([tuning[1 - f], *tuning_extra]), q)
                    for f in (0, 1)}  # fmt: skip
        if any(b is None for b in boosters.values()):
            raise ValueError("no user started any of their candidates: nothing to learn from")
        lists = ranker.rank(rows, boosters, fold, cached)
        score = list_ndcg(lists, rows, truth)
        ranker.progress(f"ranker {settings or 'defaults'}: out-of-fold ndcg@10 {score:.4f}")
        if best is None or score > best[0]:
            best = (score, settings, lists)
    _, settings, ranker.top_items = best
    ranker.params.update({k: q[k] for k in BOOSTER_KEYS for q in [{**p, **settings}]})
    features, labels, groups = _joined([*samples, *extra])
    booster = train_booster(features, labels, groups, ranker.params)
    users = np.concatenate([s[3] for s in samples])
    own_labels = sum(float(s[1].sum()) for s in samples)
    n_true = np.diff(truth.indptr)[users].sum()
    return CrossFit(ranker, booster, len(labels), len(users) + sum(len(s[3]) for s in extra),
                    own_labels / max(float(n_true), 1.0))  # fmt: skip
